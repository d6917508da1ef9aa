"""The shipped profiles parse and expand, and the SLURM script submits one dependent array per phase."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cl_robust.study.configs import compose
from cl_robust.study.grid import load_spec

from ..warm_process import WarmServer

STUDY = Path(__file__).resolve().parents[2] / "examples" / "study"


@pytest.mark.parametrize(("profile", "cells", "backbone"), [("smoke", 34, "resnet_tiny"), ("quick", 6, "resnet_tiny"),
                                                             ("paper", 68, "resnet50"), ("cpu", 27, "resnet18"),
                                                             ("field", 3, "resnet18")])
def test_profiles_expand_to_their_cells_and_compose(tmp_path: Path, profile: str, cells: int, backbone: str) -> None:
    spec = load_spec(STUDY / f"{profile}.yaml")
    assert len(spec.cells()) == cells and spec.raw["backbone"] == backbone
    for run in spec.runs:
        if run.phase in ("pretrain", "finetune"):
            compose(spec, run, tmp_path, tmp_path / "source.ckpt")


def test_paper_profile_has_the_reference_settings(tmp_path: Path) -> None:
    spec = load_spec(STUDY / "paper.yaml")
    config = compose(spec, spec.run("pretrain-cifar100-cl-at-eps8"), tmp_path, None)
    assert config["trainer"]["max_epochs"] == 200 and config["data"]["init_args"]["batch_size"] == 256
    assert config["model"]["init_args"]["lr"] == 0.0003 and config["model"]["init_args"]["optimizer"] == "adam"
    attack = config["adversarial"]["init_args"]
    assert (attack["eps"], attack["steps"], attack["step_size"], attack["random_start"]) == ("8/255", 5, 0.01, False)


def test_cpu_profile_can_show_the_effects(tmp_path: Path) -> None:
    """Three seeds, ResNet-18's block structure at base width 16, the reference's training attack."""
    spec = load_spec(STUDY / "cpu.yaml")
    assert spec.raw["seeds"] == [0, 1, 2] and {run.seed for run in spec.runs} == {0, 1, 2}
    config = compose(spec, spec.run("pretrain-cifar10-sl-at-eps8-seed1"), tmp_path, None)
    model = config["model"]["init_args"]
    assert model["backbone_width"] == 16 and model["optimizer"] == "sgd" and config["trainer"]["max_epochs"] == 3
    attack = config["adversarial"]["init_args"]
    assert (attack["eps"], attack["steps"], attack["step_size"], attack["random_start"]) == ("8/255", 5, 0.01, False)
    assert config["seed_everything"] == 1 and config["data"]["init_args"]["per_class"] == 2000
    contrastive = compose(spec, spec.run("pretrain-cifar10-cl-st-seed0"), tmp_path, None)
    assert contrastive["model"]["init_args"]["optimizer"] == "adam" and contrastive["trainer"]["max_epochs"] == 6


def test_quick_profile_is_the_demo_of_c1_and_c3_for_sl(tmp_path: Path) -> None:
    """`make demo`: sl st and at, 3 seeds (so each claim has an interval), PGD-2 adversarial training,
    CKA on clean images only, no probes (neither is read by C1 or C3)."""
    spec = load_spec(STUDY / "quick.yaml")
    assert {(run.scheme, run.scenario, run.seed) for run in spec.runs} == {
        ("sl", scenario, seed) for scenario in ("st", "at") for seed in (0, 1, 2)}
    config = compose(spec, spec.run("pretrain-cifar10-sl-at-eps8-seed2"), tmp_path, None)
    attack = config["adversarial"]["init_args"]
    assert (attack["eps"], attack["steps"], attack["step_size"]) == ("8/255", 2, 0.02)
    assert config["trainer"]["max_steps"] == 400 and config["seed_everything"] == 2
    assert spec.raw["analyze"]["adversarial"] == ["none"] and spec.raw["analyze"]["no_probes"] is True
    assert spec.raw["evaluate"]["attacks"] == ["clean", "pgd20:steps=5:step=4/255"]  # TM-II, read by C3


def test_field_profile_carries_the_published_recipes(tmp_path: Path) -> None:
    spec = load_spec(STUDY / "field.yaml")
    sl = compose(spec, spec.run("pretrain-cifar10-sl-at-eps8"), tmp_path, None)
    model, attack = sl["model"]["init_args"], sl["adversarial"]["init_args"]
    assert (model["optimizer"], model["lr"], model["weight_decay"], model["scheduler"], model["lr_milestones"]) == (
        "sgd", 0.1, 0.0005, "piecewise", [100, 105])
    assert (attack["steps"], attack["step_size"], attack["random_start"], attack["attack_view"],
            attack["clean_weight"]) == (10, "2/255", True, "augmented", 0.0)
    acl = compose(spec, spec.run("pretrain-cifar10-cl-at-eps8"), tmp_path, None)
    assert acl["model"]["init_args"]["dual_bn"] is True and acl["adversarial"]["init_args"]["pair"] is True
    assert acl["trainer"]["max_epochs"] == 1000 and acl["model"]["init_args"]["optimizer"] == "lars"
    aff = compose(spec, spec.run("finetune-cifar10-cl-full_at-eps8"), tmp_path, tmp_path / "x.ckpt")
    assert aff["adversarial"]["init_args"]["loss"] == "trades" and aff["trainer"]["max_epochs"] == 100
    assert set(spec.raw["evaluate"]["attacks"]) >= {"pgd20", "autoattack"}


def test_slurm_script_submits_dependent_arrays(tmp_path: Path, warm_server: WarmServer) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/bash\necho "$@" >> {log}\necho $((1000 + $(wc -l < {log})))\n')
    sbatch.chmod(0o755)
    env = warm_server.path_env({**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable})
    env["CL_ROBUST"] = str(warm_server.shim_folder / "cl-robust")  # the script's cl-robust calls, run warm
    output = tmp_path / "out"
    result = subprocess.run(["bash", str(STUDY / "slurm_array.sh"), str(STUDY / "smoke.yaml"), str(output)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 5
    assert "--array=0-11" in calls[0] and "--dependency" not in calls[0]  # 12 pretraining runs
    assert "--array=0-31" in calls[1] and "--dependency=afterany:1001" in calls[1]
    # evaluate and analyze wait for every training phase (an sl cell has no fine-tuning run), the
    # report for every phase
    assert "--array=0-33" in calls[2] and "--dependency=afterany:1001:1002" in calls[2]
    assert "--array=0-33" in calls[3] and "--dependency=afterany:1001:1002" in calls[3]
    assert "--dependency=afterany:1001:1002:1003:1004" in calls[4] and "--report" in calls[4]
    lists = {phase: (output / "slurm" / f"{phase}.txt").read_text().split() for phase in ("pretrain", "evaluate")}
    assert lists["pretrain"][0] == "pretrain-cifar10-sl-st" and len(lists["evaluate"]) == 34
