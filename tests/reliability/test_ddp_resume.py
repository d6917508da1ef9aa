"""A 2-process DDP fit (Lightning's own launcher: ``strategy=ddp``, ``devices=2``, gloo on the CPU)
killed with SIGKILL in the middle of an epoch and started again with the same command ends with
exactly the weights and optimiser state of an uninterrupted 2-process run, and every rank sees
after the restart the batches it would have seen without the kill."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from .conftest import CONFIGS, cli_subprocess, data_digest, run_dir_args, tiny_args
from .resume_checks import assert_batches_as_reference, assert_same_training_state
from .test_kill_resume import EPOCHS, kill_after_checkpoint, load

RANKS = 2
STEPS = 5 * EPOCHS  # 40 images, 20 a rank, batches of 4


def ddp_fit_command(root: str, run_dir: Path, extra_callbacks: Sequence[dict] = ()) -> list[str]:
    """The kill test's run as 2 DDP ranks (each step slowed by 0.3 s), every rank's batches logged."""
    callbacks = json.dumps([{"class_path": "pace.StepPause", "init_args": {"seconds": 0.3}},
                            {"class_path": "resume_checks.BatchLog", "init_args": {"folder": str(run_dir / "batches")}},
                            *extra_callbacks])
    return ["fit", "--config", str(CONFIGS / "pretrain" / "cl.yaml"), *tiny_args(root, steps=None),
            *run_dir_args(run_dir), "--data.init_args.batch_size", "4", "--trainer.max_epochs", str(EPOCHS),
            "--trainer.strategy", "ddp", "--trainer.devices", str(RANKS), "--trainer.log_every_n_steps", "1",
            "--checkpoint.every_n_train_steps", "2", "--trainer.callbacks", callbacks]


def ddp_reference(build_once: Callable, root: str) -> Path:
    """The folder of an uninterrupted 2-rank fit on ``root``'s data, run once per test run for data of
    that content: the SLURM requeue test compares with the same run, which takes a minute on 2 cores."""
    def run(folder: Path) -> None:
        done = cli_subprocess(ddp_fit_command(root, folder / "run"), cwd=folder, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    return build_once(f"ddp-reference-{data_digest(root)[:16]}", run) / "run"


@pytest.mark.slow
def test_ddp_run_killed_mid_epoch_resumes_exactly(synthetic_root: str, tmp_path: Path, build_once: Callable) -> None:
    reference, killed = ddp_reference(build_once, synthetic_root), tmp_path / "killed"
    kill_after_checkpoint(ddp_fit_command(synthetic_root, killed), tmp_path,
                          killed / "checkpoints" / "epoch=0-step=4.ckpt", timeout=180)
    interrupted = load(killed / "checkpoints" / "last.ckpt")["global_step"]
    assert 0 < interrupted < 5, "killed in the middle of the first epoch"
    resumed = cli_subprocess(ddp_fit_command(synthetic_root, killed), cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"cl-robust: resuming from {killed / 'checkpoints' / 'last.ckpt'}" in resumed.stdout

    assert_same_training_state(load(reference / "checkpoints" / "last.ckpt"),
                               load(killed / "checkpoints" / "last.ckpt"), STEPS)
    assert_batches_as_reference(reference / "batches", killed / "batches", RANKS, STEPS, interrupted)
