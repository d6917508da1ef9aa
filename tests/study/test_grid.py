"""The grid file: expansion into a DAG of runs, and one clear line (exit 2) for bad input."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cl_robust.errors import ConfigError
from cl_robust.study.configs import compose
from cl_robust.study.grid import eps_tag, load_spec, spec_from_dict
from cl_robust.study.records import claim_output
from cl_robust.study.tools import tool_argv

from ..warm_process import WarmServer
from .conftest import smoke_grid, study, study_process, write_grid


def test_smoke_grid_expands_into_shared_pretraining_and_one_cell_per_scenario(tmp_path: Path) -> None:
    spec = load_spec(write_grid(tmp_path))
    phases = [run.phase for run in spec.runs]
    assert phases.count("pretrain") == 12  # st and at for each of the 6 schemes, shared between scenarios
    assert phases.count("finetune") == 6 + 6 + 2 + 3 * 6  # cl, scl, mixes: every scenario; sl: full_at, st_full_at
    assert phases.count("evaluate") == phases.count("analyze") == 6 + 6 + 4 + 3 * 6
    order = {run.run_id: index for index, run in enumerate(spec.runs)}
    for run in spec.runs:
        assert all(order[need] < order[run.run_id] for need in run.needs), run.run_id
    assert spec.run("finetune-cifar10-cl-full_at-eps8").needs == ("pretrain-cifar10-cl-at-eps8",)
    assert spec.run("finetune-cifar10-cl-st_partial_at-eps8").needs == ("pretrain-cifar10-cl-st",)
    assert spec.run("finetune-cifar10-sl-full_at-eps8").needs == ("pretrain-cifar10-sl-at-eps8",)
    # sl st / at: the pretrained classifier is the cell's model, no fine-tuning.
    assert spec.run("evaluate-cifar10-sl-at-eps8").needs == ("pretrain-cifar10-sl-at-eps8",)
    assert spec.run("evaluate-cifar10-cl-st").needs == ("finetune-cifar10-cl-st",)


def test_several_eps_share_the_standard_pretraining() -> None:
    spec = spec_from_dict({**smoke_grid(), "schemes": ["cl"], "eps": ["2/255", "8/255", 0.0627]}, Path("."))
    ids = [run.run_id for run in spec.runs if run.phase == "pretrain"]
    assert ids == ["pretrain-cifar10-cl-st", "pretrain-cifar10-cl-at-eps2", "pretrain-cifar10-cl-at-eps8",
                   "pretrain-cifar10-cl-at-eps0p0627"]
    assert eps_tag("16/255") == "eps16"


def test_composed_configs_carry_the_phase_settings(tmp_path: Path) -> None:
    spec = load_spec(write_grid(tmp_path, overrides=[{"runs": "finetune-*-scl-*", "set": {"trainer.max_steps": 7}}]))
    folder = tmp_path / "run"
    pretrain = compose(spec, spec.run("pretrain-cifar10-cl-at-eps8"), folder, None)
    assert pretrain["model"]["class_path"] == "cl_robust.methods.SimCLR"
    assert pretrain["model"]["init_args"]["backbone"] == "resnet_tiny"
    assert pretrain["adversarial"]["class_path"] == "cl_robust.callbacks.AdversarialPretraining"
    assert pretrain["adversarial"]["init_args"]["eps"] == "8/255" and pretrain["adversarial"]["init_args"]["steps"] == 2
    assert pretrain["checkpoint"]["dirpath"] == str(folder / "checkpoints")
    assert pretrain["trainer"]["max_steps"] == 3 and "model" not in pretrain["trainer"]
    probe = compose(spec, spec.run("finetune-cifar10-scl-partial_at-eps8"), folder, Path("x.ckpt"))
    assert probe["model"]["init_args"]["mode"] == "linear" and probe["model"]["init_args"]["pretrained_checkpoint"] == "x.ckpt"
    assert probe["adversarial"]["class_path"] == "cl_robust.callbacks.AdversarialFineTuning"
    assert probe["trainer"]["max_steps"] == 7  # the per-run override
    standard = compose(spec, spec.run("finetune-cifar10-cl-st"), folder, Path("x.ckpt"))
    assert "adversarial" not in standard and standard["trainer"]["max_steps"] == 3
    sl_at = compose(spec, spec.run("pretrain-cifar10-sl-at-eps8"), folder, None)
    assert sl_at["adversarial"]["class_path"] == "cl_robust.callbacks.AdversarialSupervised"


@pytest.mark.parametrize(("change", "message"), [
    ({"schemes": ["cl", "byol"]}, "unknown scheme 'byol'; valid: sl, cl, scl"),
    ({"datasets": ["mnist"]}, "unknown dataset 'mnist'; valid: cifar10, cifar100"),
    ({"scenarios": ["st", "half_at"]}, "unknown scenario 'half_at'; valid: st, at, partial_at"),
    ({"scenarios": ["st", "partial_at"]}, "partial_at not defined for scheme 'sl'; valid for sl: st, at, full_at"),
    ({"scenarios": {"cl": ["st"]}}, "no list for scheme(s) sl, scl"),
    ({"epochs": 3}, "unknown key(s) 'epochs'"),
    ({"eps": ["8/255", "x"]}, "eps must be a number or a fraction"),
])
def test_bad_grid_is_refused_with_the_valid_names(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        load_spec(write_grid(tmp_path, **change))
    assert message in str(error.value)


def test_bad_grid_on_the_command_line_is_one_line_and_exit_2(tmp_path: Path, warm_server: WarmServer) -> None:
    output = tmp_path / "out"
    result = study_process("--config", str(write_grid(tmp_path, schemes=["sl", "moco"])), "--output", str(output))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cl-robust: error: schemes: unknown scheme 'moco'; valid: sl, cl, scl, cl+scl, cl+sl, scl+sl"]
    assert not output.exists()
    # The fresh process above shows no import-time output; this one can run forked from the warm server.
    jobs = warm_server.run(["study", "--config", str(write_grid(tmp_path)), "--output", str(output), "--jobs", "0"],
                           cwd=tmp_path, env=dict(os.environ))
    assert jobs.returncode == 2 and jobs.stderr.strip().splitlines() == [
        "cl-robust: error: --jobs must be an integer >= 1 (runs at once); got 0"]
    assert not output.exists()


def test_output_holding_another_study_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "out"
    assert study("--config", str(write_grid(tmp_path, schemes=["sl"], scenarios=["st"])), "--output", str(output),
                 "--list") == 0
    first = write_grid(tmp_path, schemes=["sl"], scenarios=["st"])
    claim_output(load_spec(first, output))  # what running it (or a report of its finished runs) does first
    before = {path: path.stat().st_mtime_ns for path in output.rglob("*")}
    other = write_grid(tmp_path, schemes=["sl"], scenarios=["st"], backbone="resnet18")
    capsys.readouterr()
    assert study("--config", str(other), "--output", str(output)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a different study" in err[0] and "choose another output" in err[0].lower()
    assert {path: path.stat().st_mtime_ns for path in output.rglob("*")} == before


def test_only_refuses_a_cell_whose_prerequisite_is_not_done(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    grid = write_grid(tmp_path, schemes=["cl"], scenarios=["st", "full_at"])
    output = tmp_path / "out"
    capsys.readouterr()
    assert study("--config", str(grid), "--output", str(output), "--list") == 0
    listed = capsys.readouterr().out.split()
    assert listed[0] == "pretrain-cifar10-cl-st" and "analyze-cifar10-cl-full_at-eps8" in listed
    assert study("--config", str(grid), "--output", str(output), "--only", "finetune-cifar10-cl-full_at-eps8") == 2
    err = capsys.readouterr().err
    assert "needs 'pretrain-cifar10-cl-at-eps8', which is not done" in err
    assert not (output / "runs").exists()
    assert study("--config", str(grid), "--output", str(output), "--only", "nothing-*") == 2
    assert "matches no run id" in capsys.readouterr().err


def test_wandb_puts_every_run_of_a_study_in_one_group(tmp_path: Path) -> None:
    spec = load_spec(write_grid(tmp_path, wandb={"offline": True}))
    config = compose(spec, spec.run("finetune-cifar10-cl-full_at-eps8"), tmp_path / "run", Path("x.ckpt"))
    csv, wandb = config["trainer"]["logger"]
    assert csv["class_path"].endswith("CSVLogger")
    assert wandb["class_path"] == "lightning.pytorch.loggers.WandbLogger"
    assert wandb["dict_kwargs"]["group"] == "smoke" and wandb["init_args"]["name"] == "finetune-cifar10-cl-full_at-eps8"
    assert wandb["init_args"]["offline"] is True and wandb["init_args"]["log_model"] is False
    argv = tool_argv(spec, spec.run("evaluate-cifar10-cl-st"), Path("x.ckpt"), tmp_path)
    assert argv[:5] == ["evaluate", "--checkpoint", "x.ckpt", "--output", str(tmp_path)] and "--wandb" in argv
    assert argv[argv.index("--attacks") + 1:argv.index("--attacks") + 4] == ["clean", "fgsm", "pgd20:steps=3"]


def test_runs_fork_only_when_the_trainer_surely_uses_one_device() -> None:
    from cl_robust.study.launch import choose_launcher

    assert choose_launcher("auto", {"accelerator": "cpu"}) == "fork"
    assert choose_launcher("auto", {"accelerator": "gpu", "devices": 1}) == "fork"
    assert choose_launcher("auto", {"accelerator": "gpu"}) == "subprocess"  # devices auto: maybe DDP
    assert choose_launcher("auto", {"devices": 4, "strategy": "ddp"}) == "subprocess"
    assert choose_launcher("subprocess", {"devices": 1}) == "subprocess"


def test_several_seeds_repeat_every_run_with_its_own_seed(tmp_path: Path) -> None:
    raw = {key: value for key, value in smoke_grid().items() if key != "seed"}
    spec = spec_from_dict({**raw, "schemes": ["cl"], "scenarios": ["st", "full_at"], "seeds": [0, 1, 2]}, Path("."))
    single = spec_from_dict({**smoke_grid(), "schemes": ["cl"], "scenarios": ["st", "full_at"]}, Path("."))
    assert len(spec.runs) == 3 * len(single.runs)
    run = spec.run("finetune-cifar10-cl-full_at-eps8-seed2")
    assert run.seed == 2 and run.needs == ("pretrain-cifar10-cl-at-eps8-seed2",)
    assert spec.run("evaluate-cifar10-cl-st-seed1").source == "finetune-cifar10-cl-st-seed1"
    assert [r.seed for r in spec.runs][:len(single.runs)] == [0] * len(single.runs)  # seed after seed
    config = compose(spec, spec.run("pretrain-cifar10-cl-st-seed1"), tmp_path, None)
    assert config["seed_everything"] == 1 and config["data"]["init_args"]["seed"] == 1
    argv = tool_argv(spec, spec.run("analyze-cifar10-cl-st-seed2"), tmp_path / "x.ckpt", tmp_path)
    assert argv[argv.index("--seed") + 1] == "2"
    assert single.runs[0].run_id == "pretrain-cifar10-cl-st" and single.raw["seeds"] == [0]


@pytest.mark.parametrize("change,needle", [({"seeds": []}, "seeds"), ({"seeds": [0, 0]}, "distinct"),
                                           ({"seeds": [-1]}, "seeds"), ({"seeds": [0], "seed": 0}, "not both")])
def test_bad_seeds_are_refused(change: dict, needle: str) -> None:
    raw = {key: value for key, value in smoke_grid().items() if key != "seed"}
    with pytest.raises(ConfigError, match=needle):
        spec_from_dict({**raw, **change}, Path("."))


def test_report_only_without_a_finished_run_is_one_line_and_exit_2(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    grid, output = write_grid(tmp_path, schemes=["sl"], scenarios=["st"]), tmp_path / "out"
    capsys.readouterr()
    assert study("--config", str(grid), "--output", str(output), "--report-only") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cl-robust: error: --report-only: no run of the study has finished in {output / 'runs'}, so "
                   f"there is nothing to report; run the study first (cl-robust study --config {grid} --output "
                   f"{output})"]
    assert not (output / "report.md").exists() and not (output / "summary.json").exists()


def test_an_empty_grid_is_refused_when_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "out"
    capsys.readouterr()
    assert study("--config", str(write_grid(tmp_path, schemes=[])), "--output", str(output)) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "cl-robust: error: schemes is empty; give at least one of sl, cl, scl, cl+scl, cl+sl, scl+sl"]
    assert not output.exists()


def test_a_grid_asking_resize_passes_it_to_every_run(tmp_path: Path) -> None:
    """Images resized for training are resized alike for evaluate and analyze (which refuse them otherwise)."""
    spec = load_spec(write_grid(tmp_path, schemes=["sl"], scenarios=["st"], data={**smoke_grid()["data"],
                                                                                 "resize": True}))
    assert compose(spec, spec.run("pretrain-cifar10-sl-st"), tmp_path / "run", None)["data"]["init_args"]["resize"]
    for phase in ("evaluate", "analyze"):
        assert "--data.resize" in tool_argv(spec, spec.run(f"{phase}-cifar10-sl-st"), Path("x.ckpt"), tmp_path)
    plain = load_spec(write_grid(tmp_path, schemes=["sl"], scenarios=["st"]))
    assert "--data.resize" not in tool_argv(plain, plain.run("evaluate-cifar10-sl-st"), Path("x.ckpt"), tmp_path)
