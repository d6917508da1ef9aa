"""A resumed ``cl-robust fit`` keeps logging into the run's log folder (no new ``version_N`` per resume)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .conftest import CONFIGS, cli_in_process, run_dir_args, tiny_args

SL = str(CONFIGS / "pretrain" / "sl.yaml")


def test_resume_appends_to_the_same_metrics_file(synthetic_root: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    command = ["fit", "--config", SL, *tiny_args(synthetic_root, steps=None), *run_dir_args(run),
               "--trainer.log_every_n_steps", "1", "--trainer.limit_val_batches", "0"]
    assert cli_in_process([*command, "--trainer.max_steps", "2"], capsys)[0] == 0
    assert cli_in_process([*command, "--trainer.max_steps", "4"], capsys)[0] == 0  # resumes from last.ckpt
    folders = sorted(path.name for path in (run / "lightning_logs").iterdir())
    assert folders == ["version_0"]
    with open(run / "lightning_logs" / "version_0" / "metrics.csv") as file:
        steps = {int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss")}
    assert steps == {0, 1, 2, 3}  # both invocations' steps, in one file


def test_a_fresh_run_in_another_folder_starts_at_version_0(synthetic_root: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "other"
    command = ["fit", "--config", SL, *tiny_args(synthetic_root, steps=1), *run_dir_args(run), "--ckpt_path", "null"]
    assert cli_in_process(command, capsys)[0] == 0
    assert cli_in_process(command, capsys)[0] == 0  # --ckpt_path null: starts over, in a new folder
    assert sorted(path.name for path in (run / "lightning_logs").iterdir()) == ["version_0", "version_1"]
