"""What each rank of a 2-process gloo group computes for the DDP tests (imported by the spawned ranks)."""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

BATCH = 6  # per rank; one process sees 2 * BATCH
FEATURES, EMBEDDING, LAYERS = 12, 8, 3


def inputs() -> dict[str, Tensor]:
    """The full batch (both ranks' halves), identical in every process."""
    generator = torch.Generator().manual_seed(7)
    return {"x1": torch.randn(2 * BATCH, FEATURES, generator=generator),
            "x2": torch.randn(2 * BATCH, FEATURES, generator=generator),
            "labels": torch.randint(0, 3, (2 * BATCH,), generator=generator),
            "layers": torch.randn(LAYERS, 4 * BATCH, 5, generator=generator)}


def model() -> nn.Linear:
    """The same small linear embedding in every process."""
    torch.manual_seed(3)
    return nn.Linear(FEATURES, EMBEDDING)


def losses() -> dict[str, nn.Module]:
    from lightly.loss import NTXentLoss

    from cl_robust.losses.supcon import SupConLoss

    return {"ntxent": NTXentLoss(temperature=0.5, gather_distributed=True),
            "supcon": SupConLoss(temperature=0.5, gather_distributed=True),
            "supcon_unlabelled": SupConLoss(temperature=0.5, gather_distributed=True)}


def loss_and_gradient(name: str, data: dict[str, Tensor], part: slice, wrap: bool) -> tuple[Tensor, Tensor]:
    """Loss on ``data[part]`` and the linear layer's weight gradient (DDP-averaged when ``wrap``)."""
    net = model()
    trained = nn.parallel.DistributedDataParallel(net) if wrap else net
    criterion = losses()[name]
    z1, z2 = trained(data["x1"][part]), trained(data["x2"][part])
    loss = criterion(z1, z2, data["labels"][part]) if name == "supcon" else criterion(z1, z2)
    loss.backward()
    return loss.detach(), net.weight.grad.detach().clone()


def cka_state(data: dict[str, Tensor], part: slice) -> Tensor:
    """MinibatchCKA over batches of 4 taken from ``data["layers"][:, part]`` (synced when distributed)."""
    from cl_robust.analysis.cka import MinibatchCKA

    metric = MinibatchCKA(LAYERS)
    layers = data["layers"][:, part]
    for start in range(0, layers.shape[1], 4):
        metric.update(list(layers[:, start:start + 4]))
    return metric.compute()


def counts(part: slice) -> Tensor | None:
    """Correct / total counts of a fixed prediction, summed over ranks by the evaluation's reducer."""
    try:
        from cl_robust.evaluation.robustness import reduce_counts
    except ImportError:
        return None
    correct = torch.arange(2 * BATCH)[part] % 3 == 0
    return reduce_counts(torch.stack([correct.sum(), torch.tensor(correct.numel())]).to(torch.long))


def single_process(out: Path) -> None:
    data = inputs()
    everything = slice(0, None)
    results = {name: loss_and_gradient(name, data, everything, wrap=False) for name in losses()}
    results["cka"] = cka_state(data, everything)
    results["counts"] = counts(everything)
    torch.save(results, out / "single.pt")


def rank_main(rank: int, world_size: int, out: str) -> None:
    """Entry point of one spawned rank: init gloo, compute every case on this rank's half, save."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=rank, world_size=world_size)
    try:
        data = inputs()
        half = slice(rank * BATCH, (rank + 1) * BATCH)
        results: dict[str, object] = {}
        for name in losses():
            loss, gradient = loss_and_gradient(name, data, half, wrap=True)
            dist.all_reduce(loss)
            results[name] = (loss / world_size, gradient)
        results["cka"] = cka_state(data, slice(rank * 2 * BATCH, (rank + 1) * 2 * BATCH))
        results["counts"] = counts(half)
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
