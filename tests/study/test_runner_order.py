"""With several runs at once, the ready runs start longest expected first (cl_robust/study/runner.py)."""
from __future__ import annotations

from pathlib import Path

from cl_robust.study.grid import load_spec
from cl_robust.study.runner import longest_first

STUDY = Path(__file__).resolve().parents[2] / "examples" / "study"


def test_runs_without_an_estimate_come_first_then_the_longest_ties_in_grid_order() -> None:
    spec = load_spec(STUDY / "quick.yaml")
    ready = [spec.run(name) for name in ("pretrain-cifar10-sl-st-seed2", "evaluate-cifar10-sl-st-seed1",
                                         "pretrain-cifar10-sl-at-eps8-seed2", "analyze-cifar10-sl-st-seed1",
                                         "evaluate-cifar10-sl-at-eps8-seed1")]
    seconds = {("pretrain", "st"): 130.0, ("pretrain", "at"): 390.0, ("evaluate", "st"): 45.0,
               ("analyze", "st"): 16.0}  # no adversarial evaluation finished yet
    ordered = longest_first(ready, lambda run: seconds.get((run.phase, run.scenario)))
    assert [run.run_id for run in ordered] == [
        "evaluate-cifar10-sl-at-eps8-seed1", "pretrain-cifar10-sl-at-eps8-seed2", "pretrain-cifar10-sl-st-seed2",
        "evaluate-cifar10-sl-st-seed1", "analyze-cifar10-sl-st-seed1"]
    assert longest_first(ready, lambda run: None) == ready  # nothing known yet: grid order
