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


def short_layer_name(layer: str) -> str:
    """``encoder.layer2.1`` -> ``layer2.1``, ``encoder.avgpool`` -> ``pool``, ``classifier`` -> ``fc``: tick labels."""
    name = layer.removeprefix("encoder.")
    return {"avgpool": "pool", "classifier": "fc", "relu": "stem"}.get(name, name)


def _seeds_text(cells: dict[tuple[str, str], dict[str, Any]]) -> str:
    """``mean over 3 seeds`` / ``one seed``: what each panel is, for the colour bar."""
    counts = {len(cell.get("seeds_analysed") or []) for cell in cells.values()} - {0}
    if not counts or counts == {1}:
        return "one seed"
    low, high = min(counts), max(counts)
    return f"mean over {high} seeds" if low == high else f"mean over {low}-{high} seeds"


def _untrained_matrix(cells: dict[tuple[str, str], dict[str, Any]], scheme: str, scenarios: list[str]) -> Any:
    for scenario in ("st", *scenarios):  # every cell of a seed shares the untrained network; st first
        matrix = cells.get((scheme, scenario), {}).get("cka_untrained")
        if matrix:
            return matrix
    return None


def cka_grid(cells: dict[tuple[str, str], dict[str, Any]], schemes: list[str], scenarios: list[str], kind: str,
             title: str, path: Path) -> Path | None:
    """Layer x layer CKA heatmaps, rows schemes and columns scenarios, one colour scale (0 to 1).

    Each panel is the mean over seeds. A last column shows the untrained network (BatchNorm
    re-estimated, clean inputs), the baseline redundancy is read against. Input layers sit at
    the bottom left (origin ``lower``); the outer panels name the layers.
    """
    if not any(cell.get("cka", {}).get(kind) for cell in cells.values()):
        return None
    untrained = {scheme: _untrained_matrix(cells, scheme, scenarios) for scheme in schemes}
    columns = [*scenarios, *(["untrained"] if any(m is not None for m in untrained.values()) else [])]
    labels = next(([short_layer_name(name) for name in cell["layers"]] for cell in cells.values()
                   if cell.get("layers")), [])
    figure, axes = plt.subplots(len(schemes), len(columns), figsize=(2.4 * len(columns) + 1.2, 2.4 * len(schemes) + 0.6),
                                squeeze=False, constrained_layout=True)
    image = None
    for row, scheme in enumerate(schemes):
        for column, scenario in enumerate(columns):
            axis = axes[row][column]
            matrix = (untrained[scheme] if scenario == "untrained"
                      else cells.get((scheme, scenario), {}).get("cka", {}).get(kind))
            if matrix:
                values = np.ma.masked_invalid(np.array([[np.nan if v is None else v for v in r] for r in matrix],
                                                       dtype=float))
                image = axis.imshow(values, vmin=0.0, vmax=1.0, cmap="magma", origin="lower")
            else:
                axis.text(0.5, 0.5, "not analysed", ha="center", va="center", fontsize=8, color="0.4",
                          transform=axis.transAxes)
            bottom, left = row == len(schemes) - 1, column == 0
            ticks = list(range(len(labels))) if matrix and len(matrix) == len(labels) else []
            axis.set_xticks(ticks if bottom else [], [labels[i] for i in ticks] if bottom else [], rotation=90,
                            fontsize=6)
            axis.set_yticks(ticks if left else [], [labels[i] for i in ticks] if left else [], fontsize=6)
            if row == 0:
                axis.set_title("untrained (BN re-est.)" if scenario == "untrained" else scenario, fontsize=9)
            if left:
                axis.set_ylabel(f"{scheme}\nlayer (input -> output)", fontsize=8)
            if bottom:
                axis.set_xlabel("layer (input -> output)", fontsize=8)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label=f"CKA ({_seeds_text(cells)})")
    figure.suptitle(f"{title}: layer x layer CKA on {kind} inputs", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def probe_curves(cells: dict[tuple[str, str], dict[str, Any]], schemes: list[str], scenarios: list[str], title: str,
                 path: Path) -> Path | None:
    """Per-layer linear-probe accuracy (mean over seeds), one panel per scheme, clean solid and adversarial dashed."""
    if not any(curve for cell in cells.values() for curve in (cell.get("probes") or {}).values()):
        return None
    figure, axes = plt.subplots(1, len(schemes), figsize=(4 * len(schemes), 3.2), squeeze=False,
                                constrained_layout=True)
    colours = plt.get_cmap("tab10")
    labels = next(([short_layer_name(name) for name in cell["layers"]] for cell in cells.values()
                   if cell.get("layers")), [])
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
        axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        axis.set_xlabel("layer (input -> output)")
        axis.set_ylim(0, 1)
        if column == 0:
            axis.set_ylabel("probe accuracy")
    handles = {label: handle for axis in axes[0] for handle, label in zip(*axis.get_legend_handles_labels(),
                                                                          strict=True)}
    figure.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=8)
    attack = next((cell.get("adversarial_eps") for cell in cells.values() if cell.get("adversarial_eps")), None)
    dashed = f"dashed: adversarial, PGD {attack.replace('=', ' ')}" if attack else "dashed: adversarial"
    figure.suptitle(f"{title}: per-layer linear probes (solid: clean inputs, {dashed})", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
