"""Running one ``cl-robust`` command as a child process, its output in a log file.

``subprocess`` starts ``python -m cl_robust.cli ARGS`` (exactly the run's ``command.txt``) for
each run. ``fork`` asks a warm fork server (:mod:`cl_robust.study.forkserver`) to run the same
entry point in a forked child: same command, own process and exit status, without the seconds
of imports per run that dominate small runs. ``auto`` forks only when the trainer surely uses
one device (``devices: 1``, or CPU); DDP relaunches its own command line, so it needs a real one.
A fork server outlives its study, idle, for the next study this process runs with the same
environment (a notebook's, a test suite's); it ends with the process.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import threading
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


#: Fork servers whose study has ended, kept for the next study of this process (a notebook's, a test
#: suite's) by what their runs would inherit: interpreter, working folder, environment, Ctrl-C handling.
#: Each costs a fresh interpreter's imports to start (about 8 CPU-seconds on the project's 2-core machine).
_IDLE_SERVERS: dict[tuple[Any, ...], list[subprocess.Popen]] = {}
#: At most this many idle servers a process (each holds torch and Lightning in memory).
MAX_IDLE_SERVERS = 2
_IDLE_LOCK = threading.Lock()


def _server_key(environment: dict[str, str]) -> tuple[Any, ...]:
    return (sys.executable, os.getcwd(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
            tuple(sorted({**os.environ, **environment}.items())))


def _stop(server: subprocess.Popen) -> None:
    """End a server: it leaves its loop when its stdin closes."""
    if server.poll() is None:
        assert server.stdin is not None
        server.stdin.close()
        server.wait()


def _take_idle(key: tuple[Any, ...]) -> subprocess.Popen | None:
    with _IDLE_LOCK:
        servers = _IDLE_SERVERS.get(key, [])
        while servers:
            server = servers.pop()
            if server.poll() is None:
                return server
    return None


def _keep_idle(key: tuple[Any, ...], server: subprocess.Popen) -> None:
    """Keep ``server`` for a later study; the oldest idle one ends beyond :data:`MAX_IDLE_SERVERS`."""
    with _IDLE_LOCK:
        _IDLE_SERVERS.setdefault(key, []).append(server)
        kept = [(k, s) for k, servers in _IDLE_SERVERS.items() for s in servers]
        surplus = kept[:max(0, len(kept) - MAX_IDLE_SERVERS)]
        for k, s in surplus:
            _IDLE_SERVERS[k].remove(s)
    for _, s in surplus:
        _stop(s)


@atexit.register
def _stop_idle_servers() -> None:
    with _IDLE_LOCK:
        servers = [s for kept in _IDLE_SERVERS.values() for s in kept]
        _IDLE_SERVERS.clear()
    for server in servers:
        _stop(server)


class ForkServerLauncher:
    """Runs through one warm fork server: an idle one this process kept from an earlier study with
    the same environment, else one started on the first run. ``close`` keeps it for the next study
    when it answered every request (a study interrupted mid-run ends its server instead)."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self.server: subprocess.Popen | None = None
        self.environment = dict(environment or {})
        self.key: tuple[Any, ...] = ()  # what the server was started or taken with (set in _start)
        self.busy = False  # a request written, its reply not read yet

    def _start(self) -> subprocess.Popen:
        self.key = _server_key(self.environment)
        kept = _take_idle(self.key)
        if kept is not None:
            return kept
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
        self.busy = True
        self.server.stdin.write(json.dumps({"argv": list(argv), "log": str(log)}) + "\n")
        self.server.stdin.flush()
        while True:
            readable, _, _ = select.select([self.server.stdout], [], [], POLL_SECONDS)
            if readable:
                line = self.server.stdout.readline()
                if not line:
                    self.server = None
                    return -9
                self.busy = False
                return int(json.loads(line)["code"])
            tick()

    def close(self) -> None:
        if self.server is not None and self.server.poll() is None:
            if self.busy:
                _stop(self.server)
            else:
                _keep_idle(self.key, self.server)
        self.server = None
        self.busy = False


def make_launcher(name: str, environment: dict[str, str] | None = None) -> SubprocessLauncher | ForkServerLauncher:
    """A launcher by name (``fork`` or ``subprocess``); ``environment`` is added to every run's."""
    return ForkServerLauncher(environment) if name == "fork" else SubprocessLauncher(environment)
