"""Semi-supervised mixes on a fixed batch: every loss term and its gradients, for the hygiene tests
(imported by tests/methods/test_semi_supervised.py and by the spawned gloo ranks of the DDP test)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from cl_robust.callbacks import AdversarialPretraining
from cl_robust.methods import SemiSupervisedMix
from cl_robust.methods.base import Batch

MIXES = ("cl+scl", "cl+sl", "scl+sl")
#: How the labels of the unlabelled images are replaced: kept (the truth), random classes, -1.
VARIANTS = ("true", "random", "minus_one")
BATCH = 6  # per rank; one process sees 2 * BATCH
SIZE = 8


class FixedViews(nn.Module):
    """A deterministic stand-in for the random augmentation: a flipped and a darkened copy."""

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        return images.flip(3), images * 0.8


def make_mix(mix: str, labeled_fraction: float = 0.5, **options: object) -> SemiSupervisedMix:
    """The same tiny module in every process, with deterministic views."""
    torch.manual_seed(3)
    module = SemiSupervisedMix(mix=mix, labeled_fraction=labeled_fraction, backbone="resnet_tiny",
                               projection_dim=8, temperature=0.5, **options)  # type: ignore[arg-type]
    module.augment = FixedViews()
    return module


def full_batch(variant: str = "true", size: int = 2 * BATCH) -> Batch:
    """Images, labels and a labelled mask (7 of 12 labelled, unevenly over the two halves)."""
    generator = torch.Generator().manual_seed(11)
    images = torch.rand(size, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, 3, (size,), generator=generator)
    labeled = torch.tensor([True, False, True, True, False, True, False, False, True, False, True, False])[:size]
    replacement = {"true": labels, "random": torch.randint(0, 10, (size,), generator=generator),
                   "minus_one": torch.full((size,), -1)}[variant]
    return {"x0": images, "y": torch.where(labeled, labels, replacement), "labeled": labeled}


def part(batch: Batch, rows: slice) -> Batch:
    return {key: value[rows] for key, value in batch.items()}


def losses_and_gradients(module: SemiSupervisedMix, batch: Batch,
                         adversarial: bool = True) -> dict[str, tuple[Tensor, list[Tensor]]]:
    """Every term of a training step (the mix's own and, with ``adversarial``, the adversarial term) with
    the gradient of each parameter; missing gradients are zeros."""
    views = module.augment(batch["x0"])
    losses = module.training_losses(batch, views)
    if adversarial:
        callback = AdversarialPretraining(eps="8/255", step_size=0.01, steps=1)
        losses.update(callback.adversarial_losses(module, batch, views))
    parameters = [p for p in module.parameters() if p.requires_grad]
    results = {}
    for name, loss in losses.items():
        grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
        results[name] = (loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, grads,
                                                                                                  strict=True)])
    return results


def rank_main(rank: int, world_size: int, out: str) -> None:
    """One spawned gloo rank: every mix and label variant on this rank's half of the batch.

    Gradients are averaged over the ranks as DDP averages them; losses stay per rank. Saves
    ``{(mix, variant, mode): {term: (loss, [gradients])}}`` to ``out/rank<r>.pt``.
    """
    import os
    from pathlib import Path

    import torch.distributed as dist

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{out}/rendezvous", rank=rank, world_size=world_size)
    try:
        half = slice(rank * BATCH, (rank + 1) * BATCH)
        results = {}
        for mix in MIXES:
            for mode, variants in (("train", VARIANTS), ("eval", ("true",))):
                for variant in variants:
                    module = make_mix(mix).train(mode == "train")
                    terms = losses_and_gradients(module, part(full_batch(variant), half))
                    for _, grads in terms.values():
                        for grad in grads:
                            dist.all_reduce(grad)
                            grad /= world_size
                    results[mix, variant, mode] = terms
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
