"""The figures of one ``cl-robust analyze``, drawn from its report: CKA heatmaps, clean-vs-adversarial
CKA and probe accuracy per layer (:mod:`cl_robust.analysis.plots` draws them)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cl_robust.analysis.baseline import BASELINES
from cl_robust.analysis.headline import describe_model
from cl_robust.analysis.layer_selection import display_name
from cl_robust.analysis.plots import cka_heatmaps, layer_curves, redundancy_title
from cl_robust.analysis.probes import probe_curves


def _title(name: str, scores: dict[str, float] | None) -> str:
    return name if scores is None else f"{name}\n{redundancy_title(scores)}"


def draw_figures(report: dict[str, Any], folder: Path) -> list[Path]:
    labels = [display_name(name) for name in report["layers"]]
    panels = {_title("clean", report["clean"]["redundancy"]): _nan_matrix(report["clean"]["cka"])}
    for label, entry in report["adversarial"].items():
        panels[_title(f"adversarial ({label})", entry["redundancy"])] = _nan_matrix(entry["cka"])
    untrained = report.get("untrained") or {}
    for name in BASELINES:
        if name in untrained:
            caption = {"init_bn": "untrained, BN as initialised", "reestimated_bn": "untrained, BN re-estimated"}[name]
            panels[_title(caption, untrained[name]["redundancy"])] = _nan_matrix(untrained[name]["cka"])
    name = describe_model(report["checkpoint"]["metadata"], report["checkpoint"]["path"])
    figures = [cka_heatmaps(panels, labels, title=f"Layer x layer CKA ({name})", path=folder / "cka_layers.png")]
    if report["adversarial"]:
        series = {label: [math.nan if v is None else v for v in entry["clean_vs_adversarial"]]
                  for label, entry in report["adversarial"].items()}
        figures.append(layer_curves(series, labels, "CKA(clean, adversarial)", "Per-layer CKA, clean vs adversarial",
                                    folder / "cka_clean_vs_adversarial.png"))
    if "compare" in report:
        other_labels = [display_name(n) for n in report["compare"]["layers"]]
        figures.append(cka_heatmaps({"between models": _nan_matrix(report["compare"]["cka_between"])}, labels,
                                    other_labels, title="CKA between models (clean inputs)",
                                    path=folder / "cka_between_models.png", ylabel="layer (checkpoint)",
                                    xlabel="layer (compare)"))
        figures.append(cka_heatmaps({_title("compare", report["compare"]["redundancy"]):
                                     _nan_matrix(report["compare"]["cka"])}, other_labels,
                                    title="Layer x layer CKA (compare model)", path=folder / "cka_layers_compare.png"))
    if "probes" in report:
        series = probe_curves(report["probes"], report["settings"]["attack"]["steps"])
        figures.append(layer_curves(series, labels, "probe accuracy", "Per-layer linear probes",
                                    folder / "probes.png"))
    return figures


def _nan_matrix(rows: list[list[float | None]]) -> list[list[float]]:
    return [[math.nan if v is None else v for v in row] for row in rows]
