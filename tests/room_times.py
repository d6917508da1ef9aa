"""``pytest --room-times``: the time each test took, summed by room (``tests/<room>``), wall clock and CPU.

Wall clock moves with the machine's load; CPU seconds (the test's process and the child processes it
waited for: ``cl-robust`` runs, DDP ranks, studies) much less, so they compare runs taken at different
loads. Each test's set-up and tear-down count with it (a module's shared fixture with the first test
that asks for it). Works with xdist: the workers measure, the controller sums. The per-test records
are kept in pytest's cache (``.pytest_cache/v/cl_robust/room_times``) for a closer look.
"""
from __future__ import annotations

import os
import resource
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest

CACHE_KEY = "cl_robust/room_times"


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def room(nodeid: str) -> str:
    """``tests/evaluation`` for ``tests/evaluation/test_x.py::test_y``; ``tests`` for files directly in it."""
    return os.path.dirname(nodeid.split("::")[0]) or "."


class RoomTimes:
    """Measures each test phase's CPU seconds (on the worker) and sums wall and CPU by room (on the controller)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: dict[str, dict[str, float]] = defaultdict(lambda: {"wall": 0.0, "cpu": 0.0})
        self.started = time.monotonic()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
        report = yield
        report.user_properties.append(("cpu_seconds", _cpu_seconds() - item.stash.get(_PHASE_START, 0.0)))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        item.stash[_PHASE_START] = _cpu_seconds()
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        item.stash[_PHASE_START] = _cpu_seconds()
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        item.stash[_PHASE_START] = _cpu_seconds()
        return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput"):  # a worker: the controller sums
            return
        record = self.records[report.nodeid.split("@")[0]]  # xdist appends @<group> to grouped tests
        record["wall"] += report.duration
        record["cpu"] += dict(report.user_properties).get("cpu_seconds", 0.0)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if hasattr(self.config, "workerinput") or not self.records:
            return
        if self.config.cache is not None:
            self.config.cache.set(CACHE_KEY, dict(self.records))
        rooms: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        for nodeid, record in self.records.items():
            totals = rooms[room(nodeid)]
            totals[0] += 1
            totals[1] += record["wall"]
            totals[2] += record["cpu"]
        terminalreporter.write_sep("=", "time by room (summed over tests; set-up and tear-down included)")
        terminalreporter.write_line(f"{'room':<22} {'tests':>5} {'wall s':>8} {'CPU s':>8}")
        for name, (count, wall, cpu) in sorted(rooms.items(), key=lambda entry: -entry[1][1]):
            terminalreporter.write_line(f"{name:<22} {count:>5} {wall:>8.0f} {cpu:>8.0f}")
        count, wall, cpu = (sum(totals[i] for totals in rooms.values()) for i in range(3))
        elapsed = time.monotonic() - self.started
        terminalreporter.write_line(f"{'all':<22} {count:>5} {wall:>8.0f} {cpu:>8.0f}   "
                                    f"({elapsed:.0f} s from start to end, load average {os.getloadavg()[0]:.1f})")


_PHASE_START = pytest.StashKey[float]()
