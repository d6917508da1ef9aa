"""Running one ``cl-robust`` command as a child process, its output in a log file.

``subprocess`` starts ``python -m cl_robust.cli ARGS`` (exactly the run's ``command.txt``) for
each run. ``fork`` asks a warm fork server (:mod:`cl_robust.study.forkserver`) to run the same
entry point in a forked child: same command, own process and exit status, without the seconds
of imports per run that dominate small runs. ``auto`` forks only when the trainer surely uses
one device (``devices: 1``, or CPU); DDP relaunches its own command line, so it needs a real one.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.25
Tick = Callable[[], None]


def command_line(argv: Sequence[str]) -> str:
    """The shell command that repeats a run by hand."""
    return shlex.join([sys.executable, "-m", "cl_robust.cli", *argv])


def choose_launcher(launcher: str, trainer: dict[str, Any]) -> str:
    """``fork`` or ``subprocess`` for the grid's ``launcher`` and trainer settings."""
    if launcher != "auto":
        return launcher
    devices, accelerator = str(trainer.get("devices", "auto")), str(trainer.get("accelerator", "auto"))
    single = (devices == "1" or (devices == "auto" and accelerator == "cpu")) and "ddp" not in str(trainer.get("strategy", ""))
    return "fork" if single and hasattr(os, "fork") else "subprocess"


def _wait(process: subprocess.Popen, tick: Tick) -> None:
    while process.poll() is None:
        tick()
        time.sleep(POLL_SECONDS)


def thread_environment(jobs: int) -> dict[str, str]:
    """Environment for runs of a study running ``jobs`` at once: the CPU cores shared out between them.

    With several runs at once, each run's torch gets ``cores // jobs`` threads (at least one)
    unless ``OMP_NUM_THREADS`` is set already: on a loaded CPU, more threads than cores make
    every run several times slower.
    """
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return {}
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


class SubprocessLauncher:
    """A fresh ``python -m cl_robust.cli`` per run."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.environment = dict(environment or {})

    def run(self, argv: Sequence[str], log: Path, tick: Tick) -> int:
        with open(log, "ab") as stream:
            process = subprocess.Popen([sys.executable, "-m", "cl_robust.cli", *argv], stdout=stream,
                                       stderr=subprocess.STDOUT,
                                       env={**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"})
            _wait(process, tick)
        return process.returncode

    def close(self) -> None:
        pass


class ForkServerLauncher:
    """Runs through one warm fork server, started on the first run."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.server: subprocess.Popen | None = None
        self.environment = dict(environment or {})

    def _start(self) -> subprocess.Popen:
        server = subprocess.Popen([sys.executable, "-m", "cl_robust.study.forkserver"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1,
                                  env={**os.environ, **self.environment})
        ready = server.stdout.readline() if server.stdout else ""
        if not ready:
            raise RuntimeError("the study's fork server did not start; set launcher: subprocess")
        return server

    def run(self, argv: Sequence[str], log: Path, tick: Tick) -> int:
        if self.server is None or self.server.poll() is not None:
            self.server = self._start()
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps({"argv": list(argv), "log": str(log)}) + "\n")
        self.server.stdin.flush()
        while True:
            readable, _, _ = select.select([self.server.stdout], [], [], POLL_SECONDS)
            if readable:
                line = self.server.stdout.readline()
                if not line:
                    self.server = None
                    return -9
                return int(json.loads(line)["code"])
            tick()

    def close(self) -> None:
        if self.server is not None and self.server.poll() is None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            self.server.wait()
        self.server = None


def make_launcher(name: str, environment: dict[str, str] | None = None) -> SubprocessLauncher | ForkServerLauncher:
    """A launcher by name (``fork`` or ``subprocess``); ``environment`` is added to every run's."""
    return ForkServerLauncher(environment) if name == "fork" else SubprocessLauncher(environment)
