"""Heatmaps and layer curves are written as non-empty PNGs with a shared [0, 1] colour scale."""
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from cl_robust.analysis import plots


def test_heatmaps_share_one_colour_scale_and_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = []
    original_imshow = plots.Axes.imshow

    def record(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        limits.append((kwargs["vmin"], kwargs["vmax"]))
        return original_imshow(self, *args, **kwargs)

    monkeypatch.setattr(plots.Axes, "imshow", record)
    labels = [f"layer{i}" for i in range(5)]
    clean, adversarial = np.eye(5) * 0.5 + 0.5, np.full((5, 5), 0.9)
    clean[0, 1] = np.nan
    path = plots.cka_heatmaps({"clean": clean, "adversarial": adversarial}, labels, title="t",
                              path=tmp_path / "cka.png")
    assert limits == [(0.0, 1.0), (0.0, 1.0)]
    assert path.stat().st_size > 1000 and imread(path).ndim == 3


def test_layer_curves_and_tick_thinning(tmp_path: Path) -> None:
    path = plots.layer_curves({"clean": [0.2, 0.5, 0.9]}, ["a", "b", "c"], "accuracy", path=tmp_path / "p.png")
    assert path.stat().st_size > 1000
    ticks = plots._tick_positions(150)
    assert len(ticks) <= 41 and ticks[0] == 0 and ticks[-1] == 149


def test_redundancy_title_names_the_numbers() -> None:
    text = plots.redundancy_title({"mean_offdiagonal": 0.5, "mean_all": 0.6, "largest_block": 3.0,
                                   "largest_block_fraction": 0.25})
    assert "0.500" in text and "largest block 3 (25%)" in text
