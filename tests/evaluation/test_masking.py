"""Gradient-masking checks: each rule fails on results that break it, and a planted masked model (its
input quantised, so its gradients are zero) raises the flag where the honest model does not."""
from pathlib import Path

import pytest
import torch
from torch import nn

from cl_robust.commands.checkpoint import load_classifier
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.evaluation.masking import (
    black_box,
    eps_monotone,
    masking_checks,
    more_steps,
    one_step,
    unbounded,
)
from cl_robust.evaluation.report import masking_lines
from cl_robust.evaluation.robustness import evaluate_robustness
from cl_robust.evaluation.suite import parse_attacks

SUITE = ["clean", "fgsm", "pgd20:steps=5", "pgd20:steps=10", "pgd20:eps=4/255:steps=5", "pgd20-unbounded:steps=5",
         "autoattack:steps=5:queries=50"]


def record(name: str, correct: int, total: int = 1000) -> dict:
    """A result record as ``evaluate_robustness`` writes it, for the attack ``name``."""
    (spec,) = parse_attacks([name])
    return {**spec.settings(), "correct": correct, "total": total, "skipped": None}


@pytest.mark.parametrize(("check", "honest", "masked"), [
    (eps_monotone, [record("pgd20:eps=4/255", 500), record("pgd20", 400)],
     [record("pgd20:eps=4/255", 400), record("pgd20", 500)]),
    (more_steps, [record("pgd20", 450), record("pgd100", 440)], [record("pgd20", 440), record("pgd100", 460)]),
    (one_step, [record("fgsm", 520), record("pgd20", 450)], [record("fgsm", 400), record("pgd20", 450)]),
    (black_box, [record("square", 600), record("pgd20", 450)], [record("square", 300), record("pgd20", 450)]),
    (unbounded, [record("pgd20-unbounded", 0)], [record("pgd20-unbounded", 100)]),
])
def test_each_rule_fails_exactly_when_broken(check, honest: list[dict], masked: list[dict]) -> None:  # noqa: ANN001
    assert check(honest)["passed"] is True
    failed = check(masked)
    assert failed["passed"] is False and "`" in failed["detail"]


def test_a_difference_within_the_tolerance_passes_and_a_missing_attack_is_not_run() -> None:
    assert eps_monotone([record("pgd20:eps=4/255", 400), record("pgd20", 402)])["passed"]  # 2 of 1000 images
    assert not eps_monotone([record("pgd20:eps=4/255", 400), record("pgd20", 403)])["passed"]
    assert more_steps([record("pgd20", 450)])["passed"] is None
    summary = masking_checks([record("pgd20", 450)])
    assert summary["suspected"] is False and {c["passed"] for c in summary["checks"]} == {None}
    assert summary["checks_run"] == 0


def test_the_report_never_counts_a_check_that_did_not_run_as_passed() -> None:
    """An evaluation with ``clean pgd20`` runs no check: the report says so instead of "No sign of gradient masking"."""
    none_ran = masking_lines(masking_checks([record("clean", 600), record("pgd20", 450)]))
    assert none_ran[3] == ("No gradient-masking check ran: each needs attacks this suite does not include (listed "
                           "below), so nothing here says whether the gradients are masked.")
    assert not any("No sign" in line or "not run: not run" in line for line in none_ran)
    assert "- not run: `more_steps` (PGD with more steps is not weaker): needs PGD at two step counts, other " \
           "settings equal (e.g. pgd20 and pgd100)" in none_ran
    one_ran = masking_lines(masking_checks([record("fgsm", 520), record("pgd20", 450)]))
    assert one_ran[3] == "No sign of gradient masking in the 1 check that ran; 4 did not run (below)."
    failed = masking_lines(masking_checks([record("fgsm", 400), record("pgd20", 450)]))
    assert failed[3].startswith("**Gradient masking suspected**")


class QuantisedInput(nn.Module):
    """Rounds the pixels to 8 levels before the model: its gradient is zero almost everywhere."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(images * 8) / 8)


@pytest.fixture(scope="module")
def outcomes(sl_checkpoint: Path, data_root: str) -> dict[str, dict]:
    model = load_classifier(sl_checkpoint).model
    data = CIFARDataModule("cifar10", root=data_root, batch_size=1, eval_batch_size=10)
    data.setup("test")
    batches = list(data.test_dataloader())[:1]
    return {name: evaluate_robustness(network, batches, SUITE, metadata={})
            for name, network in (("honest", model), ("masked", QuantisedInput(model)))}


def test_the_honest_model_passes_every_check(outcomes: dict[str, dict]) -> None:
    masking = outcomes["honest"]["masking"]
    assert masking["suspected"] is False
    assert all(check["passed"] for check in masking["checks"]), masking["checks"]


def test_the_masked_model_is_flagged(outcomes: dict[str, dict]) -> None:
    masking = outcomes["masked"]["masking"]
    failed = {check["check"] for check in masking["checks"] if check["passed"] is False}
    assert masking["suspected"] is True
    assert "autoattack/zero_gradients" in failed, masking["checks"]
    clean = {r["name"]: r for r in outcomes["masked"]["results"]}["clean"]["correct"]
    assert {r["name"]: r for r in outcomes["masked"]["results"]}["fgsm"]["correct"] == clean  # no gradient, no step
