"""The published claims applied to a study's cells: one verdict per claim, data set, eps and fine-tuning length.

Each redundancy claim is judged twice under the rule of :mod:`cl_robust.study.claims`: on our
statistic (mean off-diagonal CKA of the block outputs) with the untrained network's seed-to-seed
sd of it as noise floor, and on the reference study's statistic (torch_cka's layer set, mean of
the whole matrix) with its own untrained sd. Analyses made before the reference statistic was
recorded fall back to the whole-matrix mean of the block outputs, named as such in the entry.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from cl_robust.study.aggregate import (
    BASELINES,
    redundancy_value,
    reference_untrained_value,
    reference_value,
    scenario_label,
    untrained_value,
)
from cl_robust.study.claims import CLAIMS, Claim, claim_entry
from cl_robust.study.grid import SCENARIOS, StudySpec

#: Our redundancy score (mean off-diagonal layer x layer CKA on clean inputs).
REDUNDANCY_SCORE = "mean_offdiagonal"
#: The whole-matrix mean, the reference's way of reading a matrix.
REFERENCE_SCORE = "mean_all"
REFERENCE_NAME = "reference statistic: torch_cka's layer set (every named module), mean of the whole matrix"
FALLBACK_NAME = "mean of the whole block-output CKA matrix (diagonal included); the analyses hold no torch_cka layer set"

Cells = list[dict[str, Any]]
Value = Callable[[dict[str, Any]], "float | None"]


def per_seed(cells: Cells, value: Value) -> dict[int, float]:
    """``{seed: value(cell)}`` for the cells whose value exists."""
    found = {cell["seed"]: value(cell) for cell in cells}
    return {seed: v for seed, v in found.items() if v is not None}


def noise_floor(cells: Cells, untrained: Callable[[dict[str, Any], str], float | None]) -> float | None:
    """The largest seed-to-seed sd of an untrained network's statistic (either BatchNorm variant)."""
    spreads = []
    for baseline in BASELINES:
        values = [v for v in (untrained(cell, baseline) for cell in cells) if v is not None]
        if len(values) > 1:
            spreads.append(statistics.stdev(values))
    return max(spreads) if spreads else None


def lengths_of(spec: StudySpec, scenario: str) -> list[int | None]:
    """The fine-tuning lengths a scenario's cells were measured at (``[None]``: the run's end only)."""
    lengths = spec.raw.get("finetune_lengths")
    return list(lengths) if lengths and SCENARIOS[scenario].adversarial_finetune else [None]


def scenario_labels(spec: StudySpec) -> list[str]:
    """Every scenario of the grid as tables show it, in the study's order, one per fine-tuning length."""
    schemes = list(spec.raw["schemes"])
    return [scenario_label(name, length) for name in SCENARIOS if any(name in spec.raw["scenarios"][s] for s in schemes)
            for length in lengths_of(spec, name)]


def _redundancy_entry(claim: Claim, dataset: str, eps: str, first: Cells, second: Cells,
                      length: int | None) -> dict[str, Any]:
    both = first + second
    ours = (per_seed(first, redundancy_value), per_seed(second, redundancy_value),
            noise_floor(both, lambda cell, base: untrained_value(cell, base, REDUNDANCY_SCORE)))
    if any(reference_value(cell) is not None for cell in both):
        reference = (per_seed(first, reference_value), per_seed(second, reference_value))
        floor, name = noise_floor(both, reference_untrained_value), REFERENCE_NAME
    else:
        reference = (per_seed(first, lambda c: redundancy_value(c, REFERENCE_SCORE)),
                     per_seed(second, lambda c: redundancy_value(c, REFERENCE_SCORE)))
        floor = noise_floor(both, lambda cell, base: untrained_value(cell, base, REFERENCE_SCORE))
        name = FALLBACK_NAME
    return claim_entry(claim, dataset, eps, *ours, reference, length, floor, name)


def study_claims(spec: StudySpec, by_cell: dict[tuple, Cells]) -> list[dict[str, Any]]:
    """Every claim of :data:`~cl_robust.study.claims.CLAIMS` the grid can test, per data set, eps and length."""
    entries = []
    for dataset in spec.raw["datasets"]:
        for eps in spec.raw["eps"]:
            for claim in CLAIMS:
                chosen = spec.raw["scenarios"].get(claim.scheme, [])
                if claim.scenario_a not in chosen or claim.scenario_b not in chosen:
                    continue
                first = by_cell.get((dataset, claim.scheme, claim.scenario_a,
                                     None if claim.scenario_a == "st" else eps, None), [])
                for length in lengths_of(spec, claim.scenario_b):
                    second = by_cell.get((dataset, claim.scheme, claim.scenario_b, eps, length), [])
                    if claim.statistic == "redundancy":
                        entries.append(_redundancy_entry(claim, dataset, eps, first, second, length))
                    else:
                        robust: Value = lambda cell: cell["robust_accuracy"]  # noqa: E731
                        entries.append(claim_entry(claim, dataset, eps, per_seed(first, robust),
                                                   per_seed(second, robust), None, length=length))
    return entries


def _signed(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{100 * value:+.1f}" if percent else f"{value:+.4f}"


def _with_interval(comparison: dict[str, Any], percent: bool) -> str:
    interval = comparison.get("interval95")
    return _signed(comparison.get("difference"), percent) + (
        f" ({_signed(interval[0], percent)}, {_signed(interval[1], percent)})" if interval else "")


def claims_table(claims: list[dict[str, Any]]) -> list[str]:
    """One row per claim: what was published, both statistics with their intervals and verdicts."""
    lines = ["| claim | data, eps | scheme | comparison | statistic | published | difference (95% interval) | "
             "verdict | reference statistic (95% interval) | its verdict | seeds |", "|" + "---|" * 11]
    for entry in claims:
        percent = entry["statistic"] == "robust_accuracy"
        reference = entry.get("reference_statistic")
        statistic = ("robust acc. (%, TM-II)" if percent else "mean off-diag. CKA") + f", {entry['direction']}"
        paired = entry.get("without_noise_floor", {}).get("verdict")
        verdict = f"**{entry['verdict']}** ({entry['reason']})" + (
            f"; paired interval alone: {paired}" if paired and paired != entry["verdict"] else "")
        their = "-" if not reference else f"{reference['verdict']} ({reference['reason']})"
        lines.append(f"| {entry['id']} | {entry['dataset']}, {entry['eps']} | {entry['scheme']} | "
                     f"{entry['comparison']} | {statistic} | {entry['published']} | {_with_interval(entry, percent)} | "
                     f"{verdict} | {_with_interval(reference, False) if reference else '-'} | {their} | "
                     f"{len(entry['seeds'])} |")
    return lines
