"""Figures of the representation analysis: CKA heatmaps (Nguyen, Raghu & Kornblith 2021 style)
and per-layer curves (clean-vs-adversarial CKA, linear-probe accuracy).

Rendered with matplotlib's Agg backend (no display needed). Heatmaps that are compared share
one colour scale, [0, 1], and one colour bar, so equal colours mean equal CKA across panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

CKA_RANGE = (0.0, 1.0)
_MAX_TICKS = 40


def _tick_positions(count: int) -> list[int]:
    """Every layer when few, else about :data:`_MAX_TICKS` evenly spaced ones (always the last)."""
    step = max(1, int(np.ceil(count / _MAX_TICKS)))
    positions = list(range(0, count, step))
    if positions[-1] != count - 1:
        positions.append(count - 1)
    return positions


def _label_axes(axes: Axes, row_labels: Sequence[str], column_labels: Sequence[str]) -> None:
    font = 8 if max(len(row_labels), len(column_labels)) <= 20 else 6
    columns, rows = _tick_positions(len(column_labels)), _tick_positions(len(row_labels))
    axes.set_xticks(columns, [column_labels[i] for i in columns], rotation=90, fontsize=font)
    axes.set_yticks(rows, [row_labels[i] for i in rows], fontsize=font)


def cka_heatmaps(panels: Mapping[str, np.ndarray | Sequence[Sequence[float]]], row_labels: Sequence[str],
                 column_labels: Sequence[str] | None = None, title: str = "", path: str | Path = "cka.png",
                 xlabel: str = "layer", ylabel: str = "layer") -> Path:
    """Side-by-side layer x layer CKA heatmaps, titled by their keys, one shared [0, 1] colour bar.

    Input layers at the bottom-left (origin ``lower``), as in Kornblith et al. (2019). NaN cells
    (constant layers) are shown in grey.
    """
    column_labels = list(row_labels if column_labels is None else column_labels)
    side = min(12.0, 2.5 + 0.28 * max(len(row_labels), len(column_labels)))
    figure, axes_list = plt.subplots(1, len(panels), figsize=(side * len(panels) + 1.2, side + 1.0), squeeze=False,
                                     constrained_layout=True)
    colour_map = plt.get_cmap("magma").with_extremes(bad="lightgrey")
    image = None
    for axes, (panel_title, matrix) in zip(axes_list[0], panels.items(), strict=True):
        values = np.ma.masked_invalid(np.asarray(matrix, dtype=float))
        image = axes.imshow(values, origin="lower", cmap=colour_map, vmin=CKA_RANGE[0], vmax=CKA_RANGE[1],
                            interpolation="nearest", aspect="auto")
        _label_axes(axes, row_labels, column_labels)
        axes.set_title(panel_title, fontsize=10)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
    if image is not None:
        figure.colorbar(image, ax=list(axes_list[0]), label="linear CKA (minibatch, unbiased)", shrink=0.8)
    if title:
        figure.suptitle(title, fontsize=11)
    return _save(figure, path)


def layer_curves(series: Mapping[str, Sequence[float]], layer_labels: Sequence[str], ylabel: str,
                 title: str = "", path: str | Path = "layers.png", ylim: tuple[float, float] = (0.0, 1.0)) -> Path:
    """One line per entry of ``series`` over the layers (e.g. probe accuracy, clean and adversarial)."""
    width = min(14.0, 4.0 + 0.3 * len(layer_labels))
    figure, axes = plt.subplots(figsize=(width, 4.5), constrained_layout=True)
    positions = np.arange(len(layer_labels))
    for name, values in series.items():
        axes.plot(positions, np.asarray(values, dtype=float), marker="o", markersize=3, label=name)
    ticks = _tick_positions(len(layer_labels))
    axes.set_xticks(ticks, [layer_labels[i] for i in ticks], rotation=90, fontsize=7)
    axes.set_ylim(*ylim)
    axes.set_ylabel(ylabel)
    axes.set_xlabel("layer")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    if title:
        axes.set_title(title, fontsize=10)
    return _save(figure, path)


def redundancy_title(scores: Mapping[str, float]) -> str:
    """A short caption of :func:`~cl_robust.analysis.redundancy.redundancy_scores`."""
    return (f"mean off-diag {scores['mean_offdiagonal']:.3f}, mean {scores['mean_all']:.3f}, "
            f"largest block {int(scores['largest_block'])} ({100 * scores['largest_block_fraction']:.0f}%)")


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
