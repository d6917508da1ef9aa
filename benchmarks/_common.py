"""Timing helpers shared by the benchmarks: interleaved rounds, medians, a plain-text table."""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor


def load_note() -> str:
    """The 1-minute load average and CPU count, to print beside timings taken on a shared machine."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return f"{os.cpu_count()} CPUs"
    return f"{os.cpu_count()} CPUs, load average {load:.1f}"


def cifar10_or_random(split: str, count: int, seed: int = 0) -> tuple[Tensor, Tensor, str]:
    """``count`` CIFAR-10 ``split`` images (uint8) and labels, and where they came from.

    A seeded random choice (all classes mixed) from ``$CL_ROBUST_DATA`` when it holds the
    split, else random uint8 images with random labels.
    """
    from cl_robust.data.cifar import DataNotFoundError, load_split

    generator = torch.Generator().manual_seed(seed)
    root = os.environ.get("CL_ROBUST_DATA")
    if root:
        try:
            images, labels, _ = load_split("cifar10", root, split)
        except DataNotFoundError:
            pass
        else:
            chosen = torch.randperm(len(labels), generator=generator)[:count]
            return images[chosen], labels[chosen], f"CIFAR-10 {split} ({root}, {len(chosen)} of {len(labels)})"
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (count,), generator=generator), "random uint8 images"


def block_cka_matrix(model: torch.nn.Module, layers: list[str], images: Tensor, batch_size: int,
                     precision: str = "32") -> Tensor:
    """Layer x layer minibatch CKA (``MinibatchCKA``) of ``layers`` over float ``images``.

    The model is made channels_last (in place) and its features come from ``feature_pass`` at
    ``precision`` ("32" or "bf16"), batch by batch, as in ``cl-robust analyze``; a
    last batch under ``MIN_BATCH_SIZE`` images is left out (the unbiased HSIC needs four).
    """
    from cl_robust.analysis import LayerRecorder, MinibatchCKA
    from cl_robust.analysis.cka import MIN_BATCH_SIZE
    from cl_robust.analysis.feature_pass import feature_pass
    from cl_robust.methods.performance import use_channels_last

    use_channels_last(model)  # as `cl-robust analyze` does with the models it loads
    metric = MinibatchCKA(len(layers))
    with LayerRecorder(model, layers) as recorder:
        for batch in images.split(batch_size):
            if len(batch) < MIN_BATCH_SIZE:
                break
            feature_pass(model, batch, precision)
            metric.update(recorder.features())
    return metric.compute()


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
