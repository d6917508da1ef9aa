"""Seed aggregation, intervals and the verdict rule, on hand-made numbers where the right answer is known."""
from __future__ import annotations

import math
import statistics

import pytest

from cl_robust.study.aggregate import aggregate, mean_matrix, seed_stats
from cl_robust.study.claims import CLAIMS, MARGIN, claim_entry, t_interval, verdict


def test_seed_stats_and_mean_matrix() -> None:
    stats = seed_stats([0.5, None, 0.7, float("nan"), 0.6])
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(0.6) and stats["sd"] == pytest.approx(0.1)
    assert seed_stats([0.4]) == {"mean": 0.4, "sd": 0.0, "n": 1, "values": [0.4]}
    assert seed_stats([None]) is None
    assert mean_matrix([[[1.0, None], [0.0, 1.0]], [[0.5, 0.2], [1.0, None]], None]) == [[0.75, 0.2], [0.5, 1.0]]
    assert mean_matrix([[[1.0]], [[1.0, 2.0]]]) is None  # different layer lists are not averaged


def test_t_interval_matches_the_textbook_value() -> None:
    values = [1.0, 2.0, 3.0]
    low, high = t_interval(values)
    half = 4.303 * statistics.stdev(values) / math.sqrt(3)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))
    assert t_interval([1.0]) is None


@pytest.mark.parametrize("differences,direction,floor,expected", [
    ([0.10, 0.12, 0.11], "increase", None, "reproduced"),
    ([-0.10, -0.12, -0.11], "increase", None, "contradicted"),
    ([0.10, -0.05, 0.02], "increase", None, "inconclusive"),
    ([-0.10, -0.12, -0.11], "decrease", None, "reproduced"),
    ([0.10, 0.12, 0.11], "decrease", None, "contradicted"),
    ([0.010, 0.012, 0.011], "increase", 0.05, "inconclusive"),  # smaller than the untrained spread
    ([0.002, 0.004, 0.003], "no decrease", None, "reproduced"),
    ([-0.10, -0.12, -0.11], "no decrease", None, "contradicted"),
    ([-0.05, 0.04, 0.0], "no decrease", None, "inconclusive"),
    ([0.3], "increase", None, "inconclusive"),  # one seed: no spread
])
def test_verdict_rule(differences: list[float], direction: str, floor: float | None, expected: str) -> None:
    assert verdict(differences, direction, floor)[0] == expected


def test_no_decrease_margin_is_the_documented_one() -> None:
    just_inside = [-MARGIN / 2 + 1e-4, -MARGIN / 2, -MARGIN / 2 - 1e-4]
    assert verdict(just_inside, "no decrease")[0] == "reproduced"


def test_claim_entries_pair_seeds_and_carry_the_reference_statistic() -> None:
    c1_cl = next(c for c in CLAIMS if c.id == "C1" and c.scheme == "cl")
    st = {0: 0.60, 1: 0.62, 2: 0.61}
    at = {0: 0.75, 1: 0.78, 2: 0.76, 3: 0.99}  # seed 3 has no st cell: left out
    entry = claim_entry(c1_cl, "cifar10", "8/255", st, at, 0.01, ({0: 0.64, 1: 0.66, 2: 0.65}, {0: 0.78, 1: 0.8, 2: 0.79}))
    assert entry["seeds"] == [0, 1, 2] and entry["per_seed"] == pytest.approx([0.15, 0.16, 0.15])
    assert entry["verdict"] == "reproduced" and entry["interval95"][0] > 0
    assert entry["reference_statistic"]["difference"] == pytest.approx(0.14)
    assert {c.id for c in CLAIMS} == {"C1", "C2", "C3"}
    assert {(c.id, c.scheme) for c in CLAIMS if c.id in ("C1", "C2")} == {
        (i, s) for i in ("C1", "C2") for s in ("sl", "cl", "scl")}


def test_aggregate_gives_mean_and_sd_of_a_cell_over_seeds() -> None:
    def cell(seed: int, clean: float, redundancy: float, untrained: float) -> dict:
        return {"dataset": "cifar10", "scheme": "cl", "scenario": "at", "eps": "8/255", "seed": seed,
                "clean_accuracy": clean, "robust_accuracy": clean / 2, "robust_attack": "pgd20",
                "attacks": [{"name": "clean", "threat_model": "clean", "accuracy": clean}],
                "redundancy": {"clean": {"mean_offdiagonal": redundancy, "mean_all": redundancy + 0.05}},
                "untrained": {"reestimated_bn": {"redundancy": {"mean_offdiagonal": untrained}, "cka": [[1.0]]}},
                "interval": {"clean": {"mean_offdiagonal": [redundancy - 0.01, redundancy + 0.01]}},
                "cka": {"clean": [[1.0, redundancy], [redundancy, 1.0]]}, "probes": {"clean": [0.2, 0.4]},
                "layers": ["a", "b"]}
    unfinished = {"dataset": "cifar10", "scheme": "cl", "scenario": "at", "eps": "8/255", "seed": 2}
    result = aggregate([cell(0, 0.5, 0.7, 0.8), cell(1, 0.6, 0.9, 0.8), unfinished])
    assert result["clean_accuracy"]["mean"] == pytest.approx(0.55) and result["seeds"] == [0, 1, 2]
    assert result["seeds_evaluated"] == result["seeds_analysed"] == [0, 1]  # what the means are over
    assert result["redundancy"]["clean"]["mean_offdiagonal"]["mean"] == pytest.approx(0.8)
    change = result["change_from_untrained"]["reestimated_bn"]["mean_offdiagonal"]
    assert change["values"] == pytest.approx([-0.1, 0.1])
    assert result["cka"]["clean"] == [[1.0, pytest.approx(0.8)], [pytest.approx(0.8), 1.0]]
    assert result["bootstrap_halfwidth"]["mean"] == pytest.approx(0.01)
    assert result["attacks"]["clean"]["mean"] == pytest.approx(0.55)
