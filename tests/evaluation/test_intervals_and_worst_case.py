"""The 95% Wilson interval of an accuracy, and the worst case over the attacks of each threat model."""
import pytest
import torch

from cl_robust.evaluation.intervals import wilson_interval
from cl_robust.evaluation.suite import parse_attacks
from cl_robust.evaluation.worst_case import worst_cases


@pytest.mark.parametrize(("correct", "total", "expected"), [
    (0, 10, (0.0, 0.27753)),  # z^2 / (n + z^2): not the degenerate [0, 0] of the normal interval
    (5, 10, (0.23659, 0.76341)),
    (10, 10, (0.72247, 1.0)),
    (4520, 10000, (0.44226, 0.46177)),
])
def test_wilson_interval_matches_its_closed_form(correct: int, total: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(correct, total)
    assert (low, high) == pytest.approx(expected, abs=1e-5)
    assert low <= correct / total <= high
    assert wilson_interval(0, 0) is None


def test_worst_case_counts_an_image_only_if_no_attack_of_its_threat_model_broke_it() -> None:
    specs = parse_attacks(["clean", "fgsm", "pgd20", "pgd20:eps=4/255", "pgd20-l2", "pgd20-unbounded"])
    correct = {name: torch.tensor(values, dtype=torch.bool) for name, values in {
        "clean": [1, 1, 1, 1, 1, 0], "fgsm": [1, 0, 1, 1, 1, 0], "pgd20": [1, 1, 0, 1, 1, 0],
        "pgd20:eps=4/255": [1, 1, 1, 0, 1, 0], "pgd20-l2": [0, 1, 1, 1, 1, 0], "pgd20-unbounded": [0] * 6}.items()}
    cases = {case.label: case for case in worst_cases(specs, correct)}
    assert set(cases) == {"l2 0.5", "linf 4/255", "linf 8/255"}  # the unbounded check is no threat model
    assert cases["linf 4/255"].correct.tolist() == [1, 1, 1, 0, 1, 0]
    # At 8/255 the attacks at 4/255 count too (their perturbations are inside the larger ball); L2 does not.
    assert cases["linf 8/255"].correct.tolist() == [1, 0, 0, 0, 1, 0]
    assert cases["linf 8/255"].attacks == ["clean", "fgsm", "pgd20", "pgd20:eps=4/255"]
    record = cases["l2 0.5"].record()
    assert (record["correct"], record["total"]) == (4, 6) and record["ci95"] == wilson_interval(4, 6)
