"""Run ``cl-robust`` (or a script that imports it) as its own process without paying the imports.

A fresh ``cl-robust`` process spends about 8 CPU-seconds on this machine importing torch, Lightning,
torchmetrics, torchvision and lightly before it does anything; many tests start several. A warm
server (one a pytest worker, started on first use) imports them once and forks one child a request:
the child gets the caller's stdin, stdout and stderr (passed over a UNIX socket), working folder,
environment and argument list, runs the command and exits with its status, which the caller gets
back. So a test still sees a real process's output and exit status.

Two ways in:

- ``WarmServer.run([...], cwd, env)`` from a test, like ``subprocess.run`` with ``capture_output``;
- ``WarmServer.shim_folder``: a folder holding a ``cl-robust`` executable that forwards its own
  arguments, folder, environment and standard streams to the server; put it first on ``PATH`` and a
  shell script's ``cl-robust`` lines run warm (the README's blocks).

Not for tests about what a fresh interpreter does (import-time warnings, which modules a command
imports, ``python -m`` entry points): those start their own process as before.
"""
from __future__ import annotations

import array
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

#: The environment variable naming the server's socket, read by the ``cl-robust`` shim.
SOCKET_VARIABLE = "CL_ROBUST_WARM_SOCKET"

SHIM = """#!{python} -S
# Forwards this command to the warm cl-robust server of the test run (tests/warm_process.py).
import os, sys
sys.path.insert(0, {tests!r})
from warm_process import forward
sys.exit(forward(os.environ[{variable!r}], sys.argv[1:], None))
"""


def forward(socket_path: str, argv: Sequence[str], script: str | None, streams: Sequence[int] = (0, 1, 2),
            cwd: str | None = None, env: dict[str, str] | None = None, timeout: float | None = None) -> int:
    """Ask the server at ``socket_path`` to run ``cl-robust argv`` (or ``python script argv``) on
    ``streams``; return its exit status (negative: the signal that ended it, as ``subprocess`` does)."""
    request = {"argv": list(argv), "script": script, "cwd": cwd or os.getcwd(),
               "env": dict(os.environ) if env is None else env}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        connection.settimeout(timeout)
        payload = json.dumps(request).encode()
        connection.sendmsg([len(payload).to_bytes(8, "big")],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", streams))])
        connection.sendall(payload)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(64)
            if not chunk:
                raise RuntimeError("the warm cl-robust server closed the connection without a status")
            reply += chunk
    return int(reply)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """One request: its JSON and the three stream descriptors sent with its first bytes."""
    size_bytes, descriptors, _, _ = socket.recv_fds(connection, 8, 3)
    while len(size_bytes) < 8:
        size_bytes += connection.recv(8 - len(size_bytes))
    size, payload = int.from_bytes(size_bytes, "big"), b""
    while len(payload) < size:
        payload += connection.recv(size - len(payload))
    return json.loads(payload), descriptors


def _run_request(request: dict, descriptors: list[int]) -> None:
    """In the forked child: become the requested process, run it, exit with its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Imported here: the shim imports this module without site-packages.
    from cl_robust.study.forkserver import exit_status

    code = 1
    try:
        for target, descriptor in enumerate(descriptors):
            os.dup2(descriptor, target)
            os.close(descriptor)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin, kept open until exit
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if "torch" in sys.modules and request["env"].get("OMP_NUM_THREADS", "").isdigit():
            sys.modules["torch"].set_num_threads(int(request["env"]["OMP_NUM_THREADS"]))  # read at import by a fresh one
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry and entry not in sys.path:
                sys.path.insert(0, entry)
        if request["script"]:
            sys.argv = [request["script"], *request["argv"]]
            sys.path.insert(0, str(Path(request["script"]).resolve().parent))
            code = exit_status(lambda: runpy.run_path(request["script"], run_name="__main__"))
        else:
            sys.argv = ["cl-robust", *request["argv"]]
            from cl_robust.cli import main

            code = exit_status(lambda: main(list(request["argv"])))
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _handle(connection: socket.socket) -> None:
    """In a forked handler: fork the run, wait for it, send its status back."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's SIG_IGN would reap the run before waitpid
    request, descriptors = _receive(connection)
    run = os.fork()
    if run == 0:
        connection.close()
        _run_request(request, descriptors)
    for descriptor in descriptors:
        os.close(descriptor)
    _, status = os.waitpid(run, 0)
    code = os.waitstatus_to_exitcode(status)
    connection.sendall(f"{code}\n".encode())


def serve(socket_path: str) -> None:
    """Import what the commands need, then answer requests on ``socket_path`` until killed."""
    from cl_robust.study.forkserver import preload

    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(socket_path + ".tmp")
        listener.listen(16)
        os.replace(socket_path + ".tmp", socket_path)  # callers wait for the name: it appears when listening
        while True:
            connection, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                try:
                    _handle(connection)
                finally:
                    os._exit(0)
            connection.close()


class WarmServer:
    """One warm server: started on first use, stopped with :meth:`close`."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.socket_path = str(folder / "server.socket")
        self.shim_folder = folder / "bin"
        self._env = env
        self._server: subprocess.Popen | None = None

    def _start(self) -> None:
        if self._server is not None:
            return
        with open(self.folder / "server.log", "w") as log:  # the server keeps its own copy
            self._server = subprocess.Popen([sys.executable, __file__, self.socket_path], env=self._env,
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 300
        while not os.path.exists(self.socket_path):
            if self._server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the warm server did not start: {(self.folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        self.shim_folder.mkdir(exist_ok=True)
        shim = self.shim_folder / "cl-robust"
        shim.write_text(SHIM.format(python=sys.executable, tests=str(Path(__file__).parent), variable=SOCKET_VARIABLE))
        shim.chmod(0o755)

    def path_env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the ``cl-robust`` shim first on ``PATH`` and the socket named: for shell scripts."""
        self._start()
        return dict(env, PATH=os.pathsep.join([str(self.shim_folder), env.get("PATH", "")]),
                    **{SOCKET_VARIABLE: self.socket_path})

    def run(self, argv: Sequence[str], cwd: Path | str, env: dict[str, str], timeout: float = 600,
            script: Path | str | None = None) -> subprocess.CompletedProcess[str]:
        """``cl-robust argv`` (or ``python script argv``) in ``cwd`` with ``env``: output captured as text."""
        self._start()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, open(os.devnull) as stdin:
            code = forward(self.socket_path, argv, None if script is None else str(script),
                           (stdin.fileno(), out.fileno(), err.fileno()), str(cwd), env, timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(list(argv), code, out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    def close(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server.wait()
            self._server = None


if __name__ == "__main__":
    serve(sys.argv[1])
