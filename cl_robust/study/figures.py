"""The report's figures: CKA heatmap grids and per-layer probe curves (matplotlib, PNG)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

INPUT_KINDS: tuple[str, ...] = ("clean", "adversarial")


def cka_grid(cells: dict[tuple[str, str], dict[str, Any]], schemes: list[str], scenarios: list[str], kind: str,
             title: str, path: Path) -> Path | None:
    """Layer x layer CKA heatmaps, rows schemes and columns scenarios, one colour scale (0 to 1)."""
    if not any(cell.get("cka", {}).get(kind) for cell in cells.values()):
        return None
    figure, axes = plt.subplots(len(schemes), len(scenarios), figsize=(2.2 * len(scenarios) + 1, 2.2 * len(schemes)),
                                squeeze=False, constrained_layout=True)
    image = None
    for row, scheme in enumerate(schemes):
        for column, scenario in enumerate(scenarios):
            axis = axes[row][column]
            axis.set_xticks([])
            axis.set_yticks([])
            matrix = cells.get((scheme, scenario), {}).get("cka", {}).get(kind)
            if matrix:
                image = axis.imshow(np.array(matrix, dtype=float), vmin=0.0, vmax=1.0, cmap="magma", origin="lower")
            else:
                axis.text(0.5, 0.5, "-", ha="center", va="center", transform=axis.transAxes)
            if row == 0:
                axis.set_title(scenario, fontsize=9)
            if column == 0:
                axis.set_ylabel(scheme, fontsize=11, rotation=0, labelpad=14, va="center")
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="CKA")
    figure.suptitle(f"{title}: layer x layer CKA on {kind} inputs", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def probe_curves(cells: dict[tuple[str, str], dict[str, Any]], schemes: list[str], scenarios: list[str], title: str,
                 path: Path) -> Path | None:
    """Per-layer linear-probe accuracy, one panel per scheme, clean solid and adversarial dashed."""
    if not any(cell.get("probes") for cell in cells.values()):
        return None
    figure, axes = plt.subplots(1, len(schemes), figsize=(4 * len(schemes), 3.2), squeeze=False,
                                constrained_layout=True)
    colours = plt.get_cmap("tab10")
    for column, scheme in enumerate(schemes):
        axis = axes[0][column]
        for index, scenario in enumerate(scenarios):
            probes = cells.get((scheme, scenario), {}).get("probes") or {}
            for kind, style in zip(INPUT_KINDS, ("-", "--"), strict=True):
                values = probes.get(kind)
                if values:
                    axis.plot(range(len(values)), [math.nan if v is None else v for v in values], style,
                              color=colours(index % 10), marker=".", label=scenario if kind == "clean" else None)
        axis.set_title(scheme)
        axis.set_xlabel("layer")
        axis.set_ylim(0, 1)
        if column == 0:
            axis.set_ylabel("probe accuracy")
    handles = {label: handle for axis in axes[0] for handle, label in zip(*axis.get_legend_handles_labels(),
                                                                          strict=True)}
    figure.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=8)
    figure.suptitle(f"{title}: per-layer linear probes (solid: clean inputs, dashed: adversarial)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
