"""Ctrl-C during a study ends with one line saying what is kept and the command that resumes, and resuming works."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_grid


@pytest.mark.slow  # a small study, interrupted and resumed in real processes
def test_ctrl_c_ends_with_one_line_and_the_same_command_resumes(tmp_path: Path) -> None:
    grid = write_grid(tmp_path, schemes=["sl"], scenarios=["st"])
    output = tmp_path / "out"
    command = [sys.executable, "-m", "cl_robust.cli", "study", "--config", str(grid), "--output", str(output)]
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    # Its own process group, as a terminal has: Ctrl-C reaches the study and the run in progress.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    first = output / "runs" / "pretrain-cifar10-sl-st" / "done.json"
    deadline = time.monotonic() + 240
    while not first.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.is_file(), "the first run did not finish"
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("cl-robust: study interrupted: "), lines
    assert f"runs done and kept in {output / 'runs'}" in lines[0]
    resume = lines[0].split("resume with: ", 1)[1]
    assert resume == f"cl-robust study --config {grid} --output {output}"
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (output / "report.md").is_file() and first.is_file()
    assert "pretrain-cifar10-sl-st: done" not in again.stdout  # kept, not run again
