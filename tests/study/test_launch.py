"""The fork servers of a study's runs: kept for the next study of the same process when idle,
never shared between environments, never kept when a request was left unanswered."""
from __future__ import annotations

from pathlib import Path

from cl_robust.study.launch import ForkServerLauncher


def run_help(launcher: ForkServerLauncher, log: Path) -> int:
    """A run that needs no data: ``cl-robust --help`` in a forked child."""
    return launcher.run(["--help"], log, tick=lambda: None)


def test_an_idle_fork_server_serves_the_next_study_of_its_environment_only(tmp_path: Path) -> None:
    first = ForkServerLauncher()
    assert run_help(first, tmp_path / "first.log") == 0
    assert "commands:" in (tmp_path / "first.log").read_text()
    server = first.server
    assert server is not None
    first.close()
    assert server.poll() is None  # kept running, idle

    other = ForkServerLauncher({"CL_ROBUST_LAUNCH_TEST": "1"})  # runs must inherit another environment
    assert run_help(other, tmp_path / "other.log") == 0
    assert other.server is not None and other.server.pid != server.pid
    other.close()

    second = ForkServerLauncher()
    assert run_help(second, tmp_path / "second.log") == 0
    assert second.server is server  # the first study's server, not a new one
    second.busy = True  # as if the study stopped while a run was under way: its reply was never read
    second.close()
    assert server.poll() is not None  # ended, not kept: a later study must not read the stale reply
