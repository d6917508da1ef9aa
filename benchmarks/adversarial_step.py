"""One PGD-5 adversarial fine-tuning step: our Lightning stack against a hand-written PyTorch loop.

Ours: ``FineTune(mode="full")`` + ``AdversarialFineTuning`` (L-inf PGD-5, eps 8/255, step 0.01,
attack in eval mode) trained by a real ``lightning.Trainer`` (logger, checkpointing and progress
bar off); a step is the time between consecutive ``on_train_batch_end`` calls, so it includes
fetching the batch, the hooks, logging and the optimiser. Plain: the same model (same initial
weights), the same uint8 batch, the same PGD-5 on the cross-entropy written out with
``torch.autograd.grad``, loss ``CE(clean) + CE(adversarial)`` and an Adam step. Rounds alternate
the two; each figure is a median over every timed step.

    python benchmarks/adversarial_step.py            # about a minute on 2 CPU cores
    python benchmarks/adversarial_step.py --quick    # seconds: batch 8, 2 steps

The last line is ``adversarial_step ratio: <ours / plain seconds a step> (target 1.15)``; lower
is better.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import count, load_note, print_table  # noqa: E402

EPS, STEP_SIZE, PGD_STEPS, LR = 8 / 255, 0.01, 5, 3e-4


def make_module(backbone: str, seed: int = 0) -> nn.Module:
    """A full fine-tuning module with freshly initialised weights (no checkpoint needed)."""
    from cl_robust.methods.finetune import FineTune

    torch.manual_seed(seed)
    return FineTune(pretrained={"scheme": "sl", "backbone": backbone, "normalize": True}, mode="full",
                    num_classes=10, lr=LR)


def batch_loader(images: Tensor, labels: Tensor, steps: int) -> DataLoader:
    """The same uint8 batch ``steps`` times, served like the data module serves batches."""
    from cl_robust.data.datamodule import TensorBatchDataset, passthrough_collate

    dataset = TensorBatchDataset(images.repeat(steps, 1, 1, 1), labels.repeat(steps))
    return DataLoader(dataset, batch_size=len(labels), collate_fn=passthrough_collate)


def pgd(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    """L-inf PGD on the cross-entropy from the clean image, model in eval mode."""
    adversarial = images.clone()
    for _ in range(PGD_STEPS):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), labels)
        (grad,) = torch.autograd.grad(loss, adversarial)
        delta = (adversarial.detach() + STEP_SIZE * grad.sign() - images).clamp(-EPS, EPS)
        adversarial = (images + delta).clamp(0.0, 1.0)
    return adversarial.detach()


def plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor]) -> Tensor:
    """One adversarial fine-tuning step in plain PyTorch; returns the loss."""
    images, labels = batch[0].to(torch.float32).div_(255.0), batch[1]
    model.train()
    clean_loss = F.cross_entropy(model(images), labels)  # first, as the module's own term comes first
    model.eval()
    adversarial = pgd(model, images, labels)
    model.train()
    loss = clean_loss + F.cross_entropy(model(adversarial), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def plain_times(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> list[float]:
    """Seconds of every step but the first of one pass over ``loader``."""
    times, last = [], None
    for batch in loader:
        plain_step(model, optimizer, batch)
        now = time.perf_counter()
        if last is not None:
            times.append(now - last)
        last = now
    return times


def ours_times(module: nn.Module, loader: DataLoader, steps: int) -> list[float]:
    """Seconds between consecutive training-step ends of a ``lightning.Trainer`` fit of ``steps`` steps."""
    import lightning as L

    from cl_robust.callbacks import AdversarialFineTuning

    ends: list[float] = []

    class StepClock(L.Callback):
        def on_train_batch_end(self, *args: object) -> None:
            ends.append(time.perf_counter())

    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0,
                        callbacks=[AdversarialFineTuning(eps=EPS, step_size=STEP_SIZE, steps=PGD_STEPS), StepClock()])
    trainer.fit(module, train_dataloaders=loader)
    return [later - earlier for earlier, later in zip(ends, ends[1:], strict=False)]


def max_parameter_difference(first: nn.Module, second: nn.Module) -> float:
    """Largest absolute difference between corresponding parameters."""
    return max((a - b).abs().max().item() for a, b in zip(first.parameters(), second.parameters(), strict=True))


def one_step_agreement(backbone: str, images: Tensor, labels: Tensor) -> float:
    """Max parameter difference between ours and the plain loop after one step from the same weights."""
    ours = make_module(backbone)
    plain = copy.deepcopy(ours)
    optimizer = torch.optim.Adam(plain.parameters(), lr=LR)
    ours_times(ours, batch_loader(images, labels, 1), 1)
    plain_step(plain, optimizer, (images, labels))
    return max_parameter_difference(ours, plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet_tiny", help="cl_robust backbone (default resnet_tiny)")
    parser.add_argument("--batch-size", type=count(), default=64, help="batch size (default 64)")
    parser.add_argument("--steps", type=count(), default=5, help="timed steps a round (default 5)")
    parser.add_argument("--rounds", type=count(), default=3, help="rounds (default 3)")
    parser.add_argument("--threads", type=count(), default=1,
                        help="torch threads (default 1: steadier than 2 on a loaded 2-core machine)")
    parser.add_argument("--quick", action="store_true", help="batch 8, 2 steps, 1 round: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.backbone, args.batch_size, args.steps, args.rounds = "resnet_tiny", 8, 2, 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (args.batch_size,), generator=generator)

    agreement = one_step_agreement(args.backbone, images, labels)
    ours_module = make_module(args.backbone)
    plain_module = copy.deepcopy(ours_module)
    optimizer = torch.optim.Adam(plain_module.parameters(), lr=LR)
    timed: dict[str, list[float]] = {"ours": [], "plain": []}
    runs: dict[str, Callable[[], list[float]]] = {
        "ours": lambda: ours_times(ours_module, batch_loader(images, labels, args.steps + 1), args.steps + 1),
        "plain": lambda: plain_times(plain_module, optimizer, batch_loader(images, labels, args.steps + 1)),
    }
    for _ in range(args.rounds):
        for name, run in runs.items():
            timed[name] += run()
    medians = {name: statistics.median(values) for name, values in timed.items()}
    print(f"PGD-{PGD_STEPS} adversarial fine-tuning step, {args.backbone}, batch {args.batch_size}, "
          f"{args.threads} threads, median of {len(timed['ours'])} steps each; {load_note()}")
    print_table(("seconds a step (lower is better)", "median", "min", "max"),
                [(label, *(f"{f(timed[name]):.3f}" for f in (statistics.median, min, max)))
                 for name, label in (("ours", "ours: lightning.Trainer + AdversarialFineTuning"),
                                     ("plain", "plain PyTorch loop"))],
                (52, 9, 9, 9))
    print(f"max |parameter difference| after one step from the same weights: {agreement:.2e}")
    print(f"adversarial_step ratio: {medians['ours'] / medians['plain']:.2f} (target 1.15)")


if __name__ == "__main__":
    main()
