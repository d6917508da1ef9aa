"""A warm process that has imported torch, Lightning and every ``cl-robust`` command once, and
forks one child per run: each run is still its own process (own output, exit status, kill),
without paying the seconds of imports every time.

Protocol (one JSON object a line): the study writes ``{"argv": [...], "log": path}`` to its
stdin; the server forks, runs ``cl_robust.cli.main(argv)`` in the child with stdout and stderr
appended to ``log``, and writes ``{"code": status}`` when the child ends. The server itself never
runs a torch operation, so forked children never inherit a busy thread pool.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence


def preload() -> None:
    """Import what every run needs."""
    # The one import of cl_robust.cli from below it: this server runs the CLI itself, as `cl-robust` does.
    import cl_robust.cli as cli

    for name in cli.EXTRA_COMMANDS:
        try:
            cli._command(name)
        except Exception:  # a command that fails to import fails in its own run, with its own log
            pass


def exit_status(work: Callable[[], object]) -> int:
    """Run ``work`` and return the exit status a Python process ending there would have: 0, or the
    ``SystemExit`` code (a message code is printed to stderr and counts as 1, as the interpreter does)."""
    try:
        work()
        return 0
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)


def run_child(argv: Sequence[str], log: str, stop_on_ctrl_c: bool = True) -> None:
    """In the forked process: output to ``log``, run the command, exit with its status.

    ``stop_on_ctrl_c``: the run stops on SIGINT, as the study does; False when the study was started
    ignoring it (``nohup ... &``, a background job of a script), so a stray SIGINT stops neither.
    """
    code = 1
    if stop_on_ctrl_c:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores Ctrl-C; its runs stop on it
    try:
        descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        sys.stdin.close()
        sys.argv = ["cl-robust", *argv]
        from cl_robust.cli import main

        code = exit_status(lambda: main(list(argv)))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """Answer requests on stdin until it closes."""
    # Ctrl-C in the terminal reaches the whole process group: the run in progress stops on it, the
    # server stays quiet and ends when the study closes its stdin. A study started with SIGINT
    # ignored passes that on (the server inherits it): its runs ignore SIGINT too.
    stop_on_ctrl_c = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload()
    reply = sys.stdout
    sys.stdout = sys.stderr
    reply.write(json.dumps({"ready": True}) + "\n")
    reply.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request["argv"], request["log"], stop_on_ctrl_c)
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        reply.flush()


if __name__ == "__main__":
    serve()
