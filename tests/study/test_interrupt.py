"""Ctrl-C during a study ends with one line saying what is kept and the command that resumes, and resuming works."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..warm_process import WarmServer
from .conftest import write_grid


def start_in_own_group(command: list[str], env: dict[str, str], ctrl_c: Any) -> subprocess.Popen:
    """The study in its own process group, as a terminal starts it, with SIGINT set to ``ctrl_c``
    (SIG_DFL: a terminal's foreground job; SIG_IGN: ``nohup ... &``), whatever this process has."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, ctrl_c))


def interrupt_after(path: Path, process: subprocess.Popen) -> None:
    """SIGINT to the study's whole process group (what Ctrl-C sends) once ``path`` exists."""
    deadline = time.monotonic() + 240
    while not path.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.is_file(), "the first run did not finish"
    os.killpg(process.pid, signal.SIGINT)


@pytest.mark.slow  # a small study, interrupted and resumed in real processes
def test_ctrl_c_ends_with_one_line_and_the_same_command_resumes(tmp_path: Path, warm_server: WarmServer) -> None:
    grid = write_grid(tmp_path, schemes=["sl"], scenarios=["st"])
    output = tmp_path / "out"
    command = [sys.executable, "-m", "cl_robust.cli", "study", "--config", str(grid), "--output", str(output)]
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    process = start_in_own_group(command, env, ctrl_c=signal.SIG_DFL)
    first = output / "runs" / "pretrain-cifar10-sl-st" / "done.json"
    interrupt_after(first, process)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("cl-robust: study interrupted: "), lines
    assert f"runs done and kept in {output / 'runs'}" in lines[0]
    resume = lines[0].split("resume with: ", 1)[1]
    assert resume == f"cl-robust study --config {grid} --output {output}"
    again = warm_server.run(command[3:], cwd=tmp_path, env=env, timeout=600)  # the same command, its own process
    assert again.returncode == 0, again.stderr[-3000:]
    assert (output / "report.md").is_file() and first.is_file()
    assert "pretrain-cifar10-sl-st: done" not in again.stdout  # kept, not run again


@pytest.mark.slow  # a small study in real processes
def test_a_study_started_ignoring_sigint_and_its_runs_go_on(tmp_path: Path) -> None:
    """Started with SIGINT ignored (``nohup cl-robust study ... &``), a SIGINT to the group stops
    neither the study nor its runs: every run finishes."""
    output = tmp_path / "out"
    command = [sys.executable, "-m", "cl_robust.cli", "study", "--config",
               str(write_grid(tmp_path, schemes=["sl"], scenarios=["st"])), "--output", str(output)]
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    process = start_in_own_group(command, env, ctrl_c=signal.SIG_IGN)
    interrupt_after(output / "runs" / "pretrain-cifar10-sl-st" / "done.json", process)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert (output / "report.md").is_file()
