"""Every run of a study is checked when the grid is read (so also by --list), before anything trains."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cl_robust.errors import ConfigError
from cl_robust.study.grid import load_spec
from cl_robust.study.validate import validate_runs

from .conftest import smoke_grid, study, write_grid

SMALL = {"schemes": ["cl"], "scenarios": ["st", "full_at"]}


def _with(section: str, **values: Any) -> dict[str, Any]:
    return {section: {**(smoke_grid().get(section) or {}), **values}}


BAD_GRIDS: dict[str, tuple[dict[str, Any], str]] = {
    "evaluate attack typo": (_with("evaluate", attacks=["clean", "pgd2O"]),
                             "run evaluate-cifar10-cl-st: unknown attack 'pgd2O'; known: clean, fgsm"),
    "attack option the attack ignores": (_with("evaluate", attacks=["fgsm:steps=10"]),
                                         "fgsm does not take the option 'steps'"),
    "evaluate option typo": (_with("evaluate", atacks=["clean"]), "unrecognized arguments: --atacks clean"),
    "analyze threshold outside [0, 1]": (_with("analyze", threshold=2), "threshold must be a number in [0, 1]"),
    "override key typo": ({"overrides": [{"runs": "finetune-*", "set": {"model.init_args.lerning_rate": 0.1}}]},
                          "Option 'lerning_rate' is not accepted"),
    "override pattern matching no run": ({"overrides": [{"runs": "finetune-*-moco-*", "set": {"trainer.max_steps": 1}}]},
                                         "overrides[0].runs: 'finetune-*-moco-*' matches no run id of the grid"),
    "override value outside its domain": ({"overrides": [{"runs": "pretrain-*", "set": {"model.init_args.lr": -1}}]},
                                          "run pretrain-cifar10-cl-st: lr must be > 0, got -1"),
    "fine-tuning option outside its domain": ({"overrides": [{"runs": "finetune-*-full_at-*",
                                                             "set": {"model.init_args.weight_decay": -1}}]},
                                              "run finetune-cifar10-cl-full_at-eps8: weight_decay must be"),
    "fine-tuning mode typo": ({"overrides": [{"runs": "finetune-*-st", "set": {"model.init_args.mode": "lineer"}}]},
                              "run finetune-cifar10-cl-st: mode must be one of 'linear', 'full'; got 'lineer'"),
    "eps 8 for 8/255": ({"eps": [8]}, "eps: training eps must be in (0, 1] (L-inf, pixels in [0, 1]), e.g. 8/255; "
                                      "got '8' (did you mean 8/255?)"),
    "backbone with a dash": ({"backbone": "resnet-18"}, "backbone must be one of 'resnet_tiny', 'resnet18'"),
    "negative batch size": (_with("data", batch_size=-16), "batch_size must be a positive integer, got -16"),
    "batch larger than the training subset": (_with("data", batch_size=100), "run pretrain-cifar10-cl-st: batch_size=100 "
                                              "is larger than the training set (at most 80 images"),
    "training attack steps of 0": (_with("attack", steps=0), "run pretrain-cifar10-cl-at-eps8: steps must be an "
                                                             "integer >= 1"),
    "trainer option typo": (_with("pretrain", max_epoch=1), "Group 'trainer' does not accept option 'max_epoch'"),
    "labelled fraction that rounds far from itself": (
        {"schemes": ["cl+scl"], "scenarios": ["st"], "labeled_fraction": 0.01},
        "run pretrain-cifar10-cl+scl-lf0p01-st: labeled_fraction 0.01 would label 10 of 80 training images (0.125, "
        "12.5 times what was asked"),
    "empty schemes": ({"schemes": []}, "schemes is empty; give at least one of sl, cl, scl, cl+scl, cl+sl, scl+sl"),
    "empty datasets": ({"datasets": []}, "datasets is empty; give at least one of cifar10, cifar100"),
    "empty scenarios of a scheme": ({"scenarios": {"cl": []}}, "scenarios.cl is empty; give at least one of st, at, "
                                                                "partial_at, full_at, st_partial_at, st_full_at"),
    "empty scenarios": ({"scenarios": []}, "scenarios is empty; give at least one of st, at"),
    "empty eps with an adversarial scenario": ({"eps": []}, "eps is empty but the scenarios full_at train "
                                                            "adversarially; give at least one training eps"),
}


@pytest.mark.parametrize("case", list(BAD_GRIDS))
def test_bad_grid_is_refused_by_list_before_anything_runs(case: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    change, message = BAD_GRIDS[case]
    output = tmp_path / "out"
    capsys.readouterr()
    assert study("--config", str(write_grid(tmp_path, **{**SMALL, **change})), "--output", str(output), "--list") == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("cl-robust: error: "), err
    assert captured.out == "" and not output.exists()  # nothing listed, nothing written


def test_the_example_grids_pass() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "study"
    for path in sorted(examples.glob("*.yaml")):
        validate_runs(load_spec(path, "/tmp/never-written"))


def test_a_good_override_is_parsed_with_the_run(tmp_path: Path) -> None:
    grid = write_grid(tmp_path, **SMALL, overrides=[{"runs": "finetune-*", "set": {"model.init_args.lr": 0.05}}])
    validate_runs(load_spec(grid))
    with pytest.raises(ConfigError, match="lr must be > 0"):
        validate_runs(load_spec(write_grid(tmp_path, **SMALL, overrides=[
            {"runs": "pretrain-*-st", "set": {"model.init_args.lr": 0}}])))
