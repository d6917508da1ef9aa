"""A run killed with SIGKILL in the middle of an epoch and started again with the same command
ends with exactly the weights, optimiser state and metrics of a run that was never interrupted."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from ..warm_process import WarmServer
from .conftest import CONFIGS, cli_subprocess, data_digest, run_dir_args, subprocess_env, tiny_args

EPOCHS = 2  # 5 batches an epoch: steps 1..10, checkpoints every 2 steps, so step 4 is mid-epoch


# Standard pretraining draws augmentation randomness only; adversarial pretraining with a random
# start also draws the attack's starting points, from the same RNG the checkpoint must restore.
ADVERSARIAL = ["--config", str(CONFIGS / "adversarial" / "pretrain_pgd.yaml"),
               "--adversarial.init_args.random_start", "true", "--adversarial.init_args.steps", "2"]
VARIANTS = {"standard": [], "adversarial_random_start": ADVERSARIAL}


def fit_command(root: str, run_dir: Path, extra: Sequence[str] = (), callbacks: Sequence[dict] = ()) -> list[str]:
    pause = json.dumps([{"class_path": "pace.StepPause", "init_args": {"seconds": 0.3}}, *callbacks])
    return ["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"), *extra, *tiny_args(root, steps=None),
            *run_dir_args(run_dir), "--trainer.max_epochs", str(EPOCHS), "--trainer.log_every_n_steps", "1",
            "--checkpoint.every_n_train_steps", "2", "--trainer.callbacks", pause]


def uninterrupted_run(build_once: Callable, root: str, variant: str = "standard",
                      warm_server: WarmServer | None = None) -> Path:
    """The run folder of ``fit_command`` on ``root`` (the reliability tests' generated data) run to the
    end without interruption: once per test run, shared by the kill and SLURM tests that compare with it."""
    def run(folder: Path) -> None:
        done = cli_subprocess(fit_command(root, folder / "run", VARIANTS[variant]), cwd=folder,
                              warm_server=warm_server)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "cl-robust: starting fresh" in done.stdout

    return build_once(f"uninterrupted-{variant}-{data_digest(root)[:16]}", run) / "run"


def kill_after_checkpoint(command: list[str], cwd: Path, checkpoint: Path, timeout: float = 90) -> None:
    """Start ``command``; SIGKILL its whole process group as soon as ``checkpoint`` exists."""
    process = subprocess.Popen([sys.executable, "-m", "cl_robust.cli", *command], cwd=cwd, env=subprocess_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not checkpoint.exists():
            if process.poll() is not None:
                raise AssertionError(f"the run ended before {checkpoint.name}: {process.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {checkpoint.name} within {timeout} s")
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def metric_rows(run_dir: Path) -> dict[tuple[int, str], str]:
    """(step, metric) -> logged value, over every CSV log of the run."""
    rows: dict[tuple[int, str], str] = {}
    for path in sorted(run_dir.glob("lightning_logs/version_*/metrics.csv")):
        with open(path) as file:
            for row in csv.DictReader(file):
                rows.update({(int(row["step"]), name): value for name, value in row.items()
                             if value and name not in ("step", "epoch")})
    return rows


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sigkill_mid_epoch_then_same_command_resumes_exactly(synthetic_root: str, tmp_path: Path,
                                                             variant: str, build_once: Callable,
                                                             warm_server: WarmServer) -> None:
    extra = VARIANTS[variant]
    reference_dir, killed_dir = uninterrupted_run(build_once, synthetic_root, variant, warm_server), tmp_path / "killed"
    kill_after_checkpoint(fit_command(synthetic_root, killed_dir, extra), tmp_path,
                          killed_dir / "checkpoints" / "epoch=0-step=4.ckpt")
    interrupted = load(killed_dir / "checkpoints" / "last.ckpt")
    assert 0 < interrupted["global_step"] < 5, "killed in the middle of the first epoch"

    resumed = cli_subprocess(fit_command(synthetic_root, killed_dir, extra), cwd=tmp_path, warm_server=warm_server)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"cl-robust: resuming from {killed_dir / 'checkpoints' / 'last.ckpt'}" in resumed.stdout

    expected, actual = load(reference_dir / "checkpoints" / "last.ckpt"), load(killed_dir / "checkpoints" / "last.ckpt")
    assert actual["global_step"] == expected["global_step"] == 5 * EPOCHS
    assert expected["state_dict"].keys() == actual["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, actual["state_dict"][name]), name
    for group_expected, group_actual in zip(expected["optimizer_states"][0]["state"].values(),
                                            actual["optimizer_states"][0]["state"].values(), strict=True):
        assert all(torch.equal(group_expected[key], group_actual[key]) for key in group_expected)

    reference_metrics, resumed_metrics = metric_rows(reference_dir), metric_rows(killed_dir)
    after_resume = {key: value for key, value in resumed_metrics.items() if key[0] >= interrupted["global_step"]}
    assert any(name.startswith("val_on_test/") for _, name in after_resume)  # val_per_class 0: the test split
    # Epoch aggregates of the interrupted epoch (train/acc_epoch) cover only the batches after the
    # restart: metric states are not part of checkpoints. Every other value is identical.
    interrupted_epoch_aggregates = {key for key in after_resume if key[1].endswith("_epoch") and key[0] < 5}
    same = {key: value for key, value in after_resume.items() if key not in interrupted_epoch_aggregates}
    assert same == {key: reference_metrics[key] for key in same}
    assert {name for _, name in interrupted_epoch_aggregates} <= {"train/acc_epoch", "train/adv_acc_epoch"}
    if extra:
        assert any(name == "train/adv_loss" for _, name in after_resume), "the attack ran after the restart"
