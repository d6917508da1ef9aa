"""One cell over its seeds: mean and standard deviation of every number, mean CKA matrices.

A study with ``seeds: [0, 1, 2]`` has three summaries per (dataset, scheme, scenario, eps); the
report shows each number as mean +- sd over the seeds that finished (``n`` says how many).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

CellKey = tuple[str, str, str, "str | None", "int | None"]
#: Redundancy scores kept per input kind and baseline.
SCORES: tuple[str, ...] = ("mean_offdiagonal", "mean_all", "largest_block_fraction")
BASELINES: tuple[str, ...] = ("init_bn", "reestimated_bn")


def seed_stats(values: Iterable[float | None]) -> dict[str, Any] | None:
    """``{"mean", "sd", "n", "values"}`` of the values that exist (sd 0 for one value); None when none do."""
    present = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return None
    return {"mean": statistics.fmean(present), "sd": statistics.stdev(present) if len(present) > 1 else 0.0,
            "n": len(present), "values": present}


def mean_matrix(matrices: Sequence[Sequence[Sequence[float | None]] | None]) -> list[list[float | None]] | None:
    """Element-wise mean of equally shaped matrices (None entries and missing matrices left out)."""
    present = [m for m in matrices if m]
    if not present:
        return None
    rows, columns = len(present[0]), len(present[0][0])
    if any(len(m) != rows or len(m[0]) != columns for m in present):
        return None
    out: list[list[float | None]] = []
    for i in range(rows):
        row = []
        for j in range(columns):
            cell = [m[i][j] for m in present if m[i][j] is not None]
            row.append(statistics.fmean(cell) if cell else None)
        out.append(row)
    return out


def _mean_curve(curves: Sequence[Sequence[float | None] | None]) -> list[float | None] | None:
    matrix = mean_matrix([[list(curve)] for curve in curves if curve])
    return matrix[0] if matrix else None


def redundancy_value(cell: dict[str, Any], score: str = "mean_offdiagonal", kind: str = "clean") -> float | None:
    """A trained model's redundancy score on ``kind`` inputs (None when not analysed)."""
    return (cell.get("redundancy", {}).get(kind) or {}).get(score)


def untrained_value(cell: dict[str, Any], baseline: str, score: str = "mean_offdiagonal") -> float | None:
    """The untrained baseline's redundancy score of a cell's analysis (None when absent)."""
    return ((cell.get("untrained") or {}).get(baseline, {}).get("redundancy") or {}).get(score)


def reference_value(cell: dict[str, Any], kind: str = "clean", score: str = "mean_all") -> float | None:
    """The reference statistic (torch_cka's layer set, whole-matrix mean) of a cell (None when not analysed)."""
    return ((cell.get("reference") or {}).get("redundancy", {}).get(kind) or {}).get(score)


def reference_untrained_value(cell: dict[str, Any], baseline: str, score: str = "mean_all") -> float | None:
    """The reference statistic of a cell's untrained baseline (None when absent)."""
    return ((cell.get("reference") or {}).get("untrained", {}).get(baseline) or {}).get(score)


def scenario_label(scenario: str, length: int | None) -> str:
    """How a cell's scenario appears in tables: ``full_at (2 ep)`` for a fine-tuning length."""
    return scenario if length is None else f"{scenario} ({length} ep)"


def aggregate(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- sd over the seeds of one cell (``cells``: its per-seed summaries)."""
    first = cells[0]
    kinds = sorted({kind for cell in cells for kind in cell.get("redundancy", {})})
    attacks: dict[str, Any] = {}
    for cell in cells:
        for row in cell.get("attacks", []):
            attacks.setdefault(row["name"], {"threat_model": row["threat_model"], "eps": row.get("eps"), "values": []})
            attacks[row["name"]]["values"].append(row["accuracy"])
    result: dict[str, Any] = {
        "dataset": first["dataset"], "scheme": first["scheme"], "scenario": first["scenario"], "eps": first["eps"],
        "length": first.get("length"), "label": scenario_label(first["scenario"], first.get("length")),
        "seeds": [cell.get("seed", 0) for cell in cells],
        # The seeds whose evaluation / analysis finished: what each mean +- sd is over.
        "seeds_evaluated": [cell.get("seed", 0) for cell in cells if cell.get("clean_accuracy") is not None],
        "seeds_analysed": [cell.get("seed", 0) for cell in cells if redundancy_value(cell) is not None],
        "clean_accuracy": seed_stats(cell.get("clean_accuracy") for cell in cells),
        "robust_accuracy": seed_stats(cell.get("robust_accuracy") for cell in cells),
        "ci95": {row["name"]: row.get("ci95") for row in first.get("attacks", [])} if len(cells) == 1 else {},
        "robust_attack": next((cell.get("robust_attack") for cell in cells if cell.get("robust_attack")), None),
        "attacks": {name: {"threat_model": entry["threat_model"], "eps": entry["eps"],
                           **(seed_stats(entry["values"]) or {})}
                    for name, entry in attacks.items()},
        "redundancy": {kind: {score: seed_stats(redundancy_value(cell, score, kind) for cell in cells)
                              for score in SCORES} for kind in kinds},
        "untrained": {baseline: {score: seed_stats(untrained_value(cell, baseline, score) for cell in cells)
                                 for score in SCORES} for baseline in BASELINES},
        "change_from_untrained": {baseline: {score: seed_stats(
            None if redundancy_value(cell, score) is None or untrained_value(cell, baseline, score) is None
            else redundancy_value(cell, score) - untrained_value(cell, baseline, score)  # type: ignore[operator]
            for cell in cells) for score in SCORES} for baseline in BASELINES},
        "reference": {kind: seed_stats(reference_value(cell, kind) for cell in cells) for kind in kinds},
        "reference_untrained": {baseline: seed_stats(reference_untrained_value(cell, baseline) for cell in cells)
                                for baseline in BASELINES},
        "bootstrap_halfwidth": seed_stats(
            (interval[1] - interval[0]) / 2 if interval else None
            for interval in ((cell.get("interval", {}).get("clean") or {}).get("mean_offdiagonal") for cell in cells)),
        "layers": next((cell["layers"] for cell in cells if cell.get("layers")), []),
        "adversarial_eps": next((cell.get("adversarial_eps") for cell in cells if cell.get("adversarial_eps")), None),
        "cka": {kind: mean_matrix([cell.get("cka", {}).get(kind) for cell in cells]) for kind in kinds},
        "cka_untrained": mean_matrix([((cell.get("untrained") or {}).get("reestimated_bn") or {}).get("cka")
                                      for cell in cells]),
        "probes": {kind: _mean_curve([cell.get("probes", {}).get(kind) for cell in cells])
                   for kind in ("clean", "adversarial")},
    }
    return result


def group_by_cell(cells: Iterable[dict[str, Any]]) -> dict[CellKey, list[dict[str, Any]]]:
    """Per-seed cell summaries grouped by (dataset, scheme, scenario, eps), in first-seen order."""
    groups: dict[CellKey, list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], cell["scheme"], cell["scenario"], cell["eps"], cell.get("length")),
                          []).append(cell)
    return groups
