"""A study killed during a run resumes: finished runs stay, the killed run restarts from last.ckpt."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import cell_numbers, study, write_grid

KILLED = "pretrain-cifar10-sl-at-eps8"


def slow_adversarial_pretraining(tmp_path: Path) -> Path:
    """sl st and at; the at pretraining runs long enough to be killed, checkpointing every 2 steps."""
    longer = {"runs": KILLED, "set": {"trainer.max_steps": 12, "trainer.max_epochs": 10,
                                      "checkpoint.every_n_train_steps": 2}}
    return write_grid(tmp_path, schemes=["sl"], scenarios=["st", "at"], overrides=[longer])


def kill_during(grid: Path, output: Path, run_id: str) -> None:
    """Start the study in its own process group; SIGKILL the group once ``run_id`` has a last.ckpt."""
    run = output / "runs" / run_id
    process = subprocess.Popen([sys.executable, "-m", "cl_robust.cli", "study", "--config", str(grid),
                                "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not (run / "checkpoints" / "last.ckpt").is_file():
            assert process.poll() is None, "the study ended before the run to kill wrote a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 4 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_killed_study_resumes_and_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    grid = slow_adversarial_pretraining(tmp_path)
    output = tmp_path / "killed"
    kill_during(grid, output, KILLED)
    killed_run = output / "runs" / KILLED
    assert not (killed_run / "done.json").is_file()
    finished = {path: path.stat().st_mtime_ns for path in output.rglob("done.json")}
    assert output / "runs" / "pretrain-cifar10-sl-st" / "done.json" in finished

    assert study("--config", str(grid), "--output", str(output)) == 0
    assert {path: path.stat().st_mtime_ns for path in finished} == finished  # not run again
    log = (killed_run / "stdout.log").read_text()
    assert f"{KILLED}: resuming from {killed_run / 'checkpoints' / 'last.ckpt'}" in log
    assert "--ckpt_path" in log

    # An uninterrupted run of the killed run and the cell that needs it.
    reference = tmp_path / "uninterrupted"
    assert study("--config", str(grid), "--output", str(reference), "--only", "*-sl-at-*") == 0
    assert study("--config", str(grid), "--output", str(reference), "--report-only") == 0
    resumed, expected = cell_numbers(output), cell_numbers(reference)
    cell = ("cifar10", "sl", "at", "8/255")
    assert resumed.keys() == expected.keys()
    assert all(value is not None for value in resumed[cell].values()) and len(resumed[cell]) > 3
    # Mid-epoch resume restores the data order and RNG: on CPU the numbers are exactly equal.
    assert resumed[cell] == expected[cell]
