"""Timing helpers shared by the benchmarks: interleaved rounds, medians, a plain-text table."""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence


def load_note() -> str:
    """The 1-minute load average and CPU count, to print beside timings taken on a shared machine."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return f"{os.cpu_count()} CPUs"
    return f"{os.cpu_count()} CPUs, load average {load:.1f}"


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum``, else a one-line usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    return parse


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def seconds(work: Callable[[], object]) -> float:
    """Wall seconds of one call of ``work``."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def interleaved_medians(works: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, float]:
    """Median wall seconds of each callable, timed in alternation round after round.

    Alternating the contenders inside each round exposes them to the same background load; the
    first ``warmup`` rounds are not counted.
    """
    times: dict[str, list[float]] = {name: [] for name in works}
    for round_index in range(warmup + rounds):
        for name, work in works.items():
            elapsed = seconds(work)
            if round_index >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]) -> None:
    """Print ``rows`` under ``header``, first column left-aligned, the others right-aligned."""
    def line(cells: Sequence[object]) -> str:
        first, *rest = cells
        return f"{first!s:<{widths[0]}}" + "".join(f"{cell!s:>{width}}" for cell, width in zip(rest, widths[1:], strict=True))
    print(line(header))
    for row in rows:
        print(line(row))
