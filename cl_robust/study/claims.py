"""The published claims of the study and the rule that gives each a verdict from seeded runs.

Each claim compares two scenarios of one scheme (``at`` against ``st``, ``full_at`` against
``at``) on one statistic. The difference is taken seed by seed (the two cells of a seed share
the seed's initialisation and data order), and its 95% interval across seeds is Student's t
interval, mean +- t(0.975, n - 1) * sd / sqrt(n).

The rule (:data:`RULE`, also printed in the report):

- fewer than two seeds: ``inconclusive`` (no spread to compare with);
- a redundancy difference smaller (in absolute value) than the seed-to-seed standard deviation of
  the *untrained* network's redundancy is not a finding: ``inconclusive``;
- ``increase`` / ``decrease`` claims: ``reproduced`` when the whole interval lies on the
  claimed side of 0, ``contradicted`` when it lies wholly on the other side, else ``inconclusive``;
- ``no decrease`` claims (the published change is within +-0.005): ``reproduced`` when the
  interval's lower end is above -:data:`MARGIN` (any decrease is smaller than the margin),
  ``contradicted`` when the whole interval lies below -:data:`MARGIN`, else ``inconclusive``.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: A decrease smaller than this (in CKA) still counts as "no decrease".
MARGIN = 0.01
LEVEL = 0.95
RULE = (
    "Differences are taken seed by seed (same seed, two scenarios) and their 95% interval across seeds is "
    "Student's t interval (mean +- t(0.975, n-1) sd / sqrt(n)). Fewer than 2 seeds: inconclusive. A redundancy "
    "difference smaller in absolute value than the seed-to-seed sd of the untrained network's redundancy is not a "
    "finding: inconclusive. 'increase' / 'decrease': reproduced when the whole interval is on the claimed side of "
    "0, contradicted when it is wholly on the other side, else inconclusive. 'no decrease': reproduced when the "
    f"interval's lower end is above -{MARGIN}, contradicted when the whole interval is below -{MARGIN}, else "
    "inconclusive."
)

#: t(0.975, df) for df = 1..30 (beyond: 1.96 is within 2%).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Claim:
    """``statistic(scenario_b) - statistic(scenario_a)`` of ``scheme`` goes in ``direction``."""

    id: str
    scheme: str
    scenario_a: str
    scenario_b: str
    statistic: str  # "redundancy" (mean off-diagonal CKA, clean inputs) or "robust_accuracy" (TM-II)
    direction: str  # "increase", "decrease" or "no decrease"
    published: str


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "cl", "st", "at", "redundancy", "increase", "0.600 -> 0.754"),
    Claim("C1", "scl", "st", "at", "redundancy", "increase", "0.525 -> 0.710"),
    Claim("C1", "sl", "st", "at", "redundancy", "increase", "0.498 -> 0.756"),
    Claim("C2", "cl", "at", "full_at", "redundancy", "decrease", "0.754 -> 0.706"),
    Claim("C2", "scl", "at", "full_at", "redundancy", "no decrease", "0.710 -> 0.715"),
    Claim("C2", "sl", "at", "full_at", "redundancy", "no decrease", "0.756 -> 0.751"),
    # The abstract's "adversarial fine-tuning applied to the contrastive learning scheme" also covers
    # adversarial full fine-tuning of a standard model (no number published for it).
    Claim("C2", "cl", "st", "st_full_at", "redundancy", "decrease", "lowered (abstract; no number)"),
    Claim("C2", "scl", "st", "st_full_at", "redundancy", "no decrease", "little effect (abstract; no number)"),
    Claim("C2", "sl", "st", "st_full_at", "redundancy", "no decrease", "little effect (abstract; no number)"),
    Claim("C3", "cl", "st", "at", "robust_accuracy", "increase", "higher TM-II robust accuracy"),
    Claim("C3", "scl", "st", "at", "robust_accuracy", "increase", "higher TM-II robust accuracy"),
    Claim("C3", "sl", "st", "at", "robust_accuracy", "increase", "higher TM-II robust accuracy"),
    Claim("C3", "cl", "at", "full_at", "robust_accuracy", "increase", "11.0 -> 21.5 % (final-layer probe)"),
)


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """Student's t interval of the mean of ``values`` (None for fewer than two values)."""
    if level != LEVEL:
        raise ValueError("only the 95% interval is tabulated")
    n = len(values)
    if n < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    half = t * sd / math.sqrt(n)
    return mean - half, mean + half


def verdict(differences: Sequence[float], direction: str, noise_floor: float | None = None) -> tuple[str, str]:
    """``(verdict, reason)`` for seed-by-seed ``differences`` under :data:`RULE`.

    ``noise_floor``: the untrained network's seed-to-seed sd (redundancy claims), else None.
    """
    if direction not in ("increase", "decrease", "no decrease"):
        raise ValueError(f"unknown direction {direction!r}")
    interval = t_interval(differences)
    if interval is None:
        return "inconclusive", "fewer than 2 seeds"
    mean = statistics.fmean(differences)
    low, high = interval
    if noise_floor is not None and abs(mean) < noise_floor:
        return "inconclusive", f"|difference| {abs(mean):.4f} < untrained seed-to-seed sd {noise_floor:.4f}"
    if direction == "no decrease":
        if low > -MARGIN:
            return "reproduced", f"the interval's lower end is above -{MARGIN}"
        if high < -MARGIN:
            return "contradicted", f"the whole interval is below -{MARGIN}"
        return "inconclusive", f"the interval reaches below -{MARGIN} but not wholly"
    sign = 1.0 if direction == "increase" else -1.0
    if sign * low > 0 and sign * high > 0:
        return "reproduced", "the whole interval is on the claimed side of 0"
    if sign * low < 0 and sign * high < 0:
        return "contradicted", "the whole interval is on the other side of 0"
    return "inconclusive", "the interval contains 0"


@dataclass(frozen=True)
class Statistic:
    """Per-seed values of one statistic in the two cells of a claim, and its noise floor (None: none)."""

    first: dict[int, float]
    second: dict[int, float]
    noise_floor: float | None = None


def _comparison(claim: Claim, statistic: Statistic) -> dict[str, Any]:
    """Seed-by-seed differences, their interval, the verdict under the rule and without the noise floor."""
    seeds = sorted(set(statistic.first) & set(statistic.second))
    differences = [statistic.second[s] - statistic.first[s] for s in seeds]
    if differences:
        label, reason = verdict(differences, claim.direction, statistic.noise_floor)
        paired, paired_reason = verdict(differences, claim.direction, None)
    else:
        label, reason = paired, paired_reason = "inconclusive", "no seed has both cells"
    interval = t_interval(differences) if len(differences) > 1 else None
    return {"seeds": seeds, "per_seed": differences,
            "difference": statistics.fmean(differences) if differences else None,
            "interval95": list(interval) if interval else None, "noise_floor": statistic.noise_floor,
            "verdict": label, "reason": reason,
            "without_noise_floor": {"verdict": paired, "reason": paired_reason}}


def claim_entry(claim: Claim, dataset: str, eps: str | None, first: dict[int, float], second: dict[int, float],
                noise_floor: float | None, reference: tuple[dict[int, float], dict[int, float]] | None = None,
                length: int | None = None, reference_floor: float | None = None,
                reference_name: str = "mean of the whole CKA matrix (diagonal included)") -> dict[str, Any]:
    """One ``claims`` entry of ``summary.json`` from per-seed values of the two scenarios.

    ``reference``: the same cells' values of the reference study's statistic, per seed, judged
    under the same rule with ``reference_floor`` (its untrained network's seed-to-seed sd);
    ``length``: the epochs of fine-tuning of ``scenario_b``'s cell (``finetune_lengths``).
    Each verdict also comes ``without_noise_floor``: the paired seed-by-seed interval alone.
    """
    shown_b = claim.scenario_b if length is None else f"{claim.scenario_b} ({length} ep)"
    entry: dict[str, Any] = {
        "id": claim.id, "dataset": dataset, "eps": eps, "scheme": claim.scheme, "length": length,
        "comparison": f"{shown_b} - {claim.scenario_a}", "statistic": claim.statistic,
        "direction": claim.direction, "published": claim.published,
        **_comparison(claim, Statistic(first, second, noise_floor)),
    }
    if reference is not None:
        entry["reference_statistic"] = {"name": reference_name,
                                        **_comparison(claim, Statistic(*reference, reference_floor))}
    return entry
