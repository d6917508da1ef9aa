"""One evaluation or analysis on several devices: start the ranks, shard the test batches, gather.

``--devices N`` starts N processes on this machine (``torch.multiprocessing``, start method
spawn) joined in a ``torch.distributed`` process group: gloo on the CPU, NCCL on CUDA (rank r
uses ``cuda:r``). Each rank takes a contiguous run of the test batches (:func:`owned_batches`),
so per-batch results gathered rank after rank (:func:`gather_rows`, torchmetrics' ``cat``
states) come back in the order of the batches, and counts are summed exactly with
``all_reduce``. Code that finds a process group already initialised (``torchrun``, a Lightning
strategy) uses it as it is.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor

from cl_robust import notices
from cl_robust.errors import ConfigError


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks ((0, 1) without a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def owned_batches(total: int, rank: int | None = None, world: int | None = None) -> range:
    """The batch indices of ``rank``: a contiguous share of ``range(total)``, sizes differing by at most one."""
    if rank is None or world is None:
        rank, world = rank_and_world()
    return range(total * rank // world, total * (rank + 1) // world)


def _communication_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_rows(tensor: Tensor) -> Tensor:
    """Every rank's ``tensor`` (rows may differ in number) concatenated in rank order, on every rank."""
    rank, world = rank_and_world()
    if world == 1:
        return tensor
    device = _communication_device()
    local = tensor.to(device)
    if local.dtype == torch.bool:  # gloo has no bool all_gather
        local = local.to(torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.long, device=device))
    counts = [int(size) for size in sizes]
    padded = local.new_zeros((max(counts), *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)]).to(tensor.device, tensor.dtype)


def sum_over_ranks(tensor: Tensor) -> Tensor:
    """``tensor`` summed over every rank (a copy; unchanged without a process group)."""
    if rank_and_world()[1] == 1:
        return tensor
    summed = tensor.to(_communication_device(), copy=True)
    dist.all_reduce(summed, op=dist.ReduceOp.SUM)
    return summed.to(tensor.device)


def check_devices(devices: int, device: torch.device, batches: int) -> None:
    """Refuse a number of ranks the machine or the data cannot give work to."""
    if devices == 1:
        return
    if device.type == "cuda":
        if device.index not in (None, 0):
            raise ConfigError(f"devices {devices}: give --device cuda (rank r uses cuda:r), not {device}")
        if devices > torch.cuda.device_count():
            raise ConfigError(f"devices {devices}: only {torch.cuda.device_count()} CUDA devices are visible")
    if devices > batches:
        raise ConfigError(f"devices {devices} is more than the {batches} test batches to share out; "
                          "use fewer devices or a smaller batch_size")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _rank_main(rank: int, worker: Callable[..., None], world: int, device_type: str, port: int,
               args: tuple[Any, ...]) -> None:
    notices.silenced = True  # the launching process announced what the data module changed
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        if device_type == "cuda":
            device = torch.device("cuda", rank)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
            torch.set_num_threads(max(1, _usable_cpus() // world))
        worker(device, *args)
    finally:
        dist.destroy_process_group()


def launch(worker: Callable[..., None], devices: int, device: torch.device, *args: Any) -> None:
    """Run ``worker(device, *args)`` here (one device) or in ``devices`` new processes, one per rank.

    ``worker`` must be a module-level function (the ranks import it). A ConfigError in a rank is
    raised here again as one line.
    """
    if devices == 1:
        worker(device, *args)
        return
    try:
        mp.spawn(_rank_main, args=(worker, devices, device.type, _free_port(), args), nprocs=devices,
                 join=True, start_method="spawn")
    except mp.ProcessRaisedException as error:
        last = str(error).strip().splitlines()[-1]
        prefix = "cl_robust.errors.ConfigError: "
        if last.startswith(prefix):
            raise ConfigError(last[len(prefix):]) from None
        raise
