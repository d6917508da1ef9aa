"""bf16 autocast against float32 for CPU training steps of a CIFAR ResNet-18 (the CPU study's model).

    python benchmarks/bf16_training.py                 # width 16, batch 128, 1 thread, 5 rounds
    python benchmarks/bf16_training.py --width 64 --rounds 3
    python benchmarks/bf16_training.py --quick         # seconds; used by the tests

Both sides train the same model from the same weights on the same uint8 batch, channels_last,
one torch thread: a standard step (forward, CE, backward, Adam) and a PGD-5 adversarial step
(5 attack iterations through ``cross_entropy_attack`` in eval mode, then CE(clean) + CE(adv)),
alternating float32 and bf16 round after round in one process; medians are reported. The first
round of each side is a warm-up (oneDNN builds its bf16 kernels on first use of each shape) and
is not counted. Last line: ``bf16_training ratio: <float32 s / bf16 s a PGD-5 step> (target 1)``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable

import torch
from _common import cifar10_or_random, count, interleaved_medians, load_note, print_table
from torch import nn

from cl_robust.attacks import AttackConfig, cross_entropy_attack
from cl_robust.data.augment import to_float
from cl_robust.methods.performance import use_channels_last
from cl_robust.models.backbones import CIFARResNet


class _Classifier(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.encoder = CIFARResNet(18, width=width)
        self.classifier = nn.Linear(self.encoder.feature_dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))


def _autocast(precision: str) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def make_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, precision: str,
              adversarial: bool) -> Callable[[], None]:
    """One training step of ``model`` at ``precision`` (PGD-5 adversarial when ``adversarial``)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    attack = AttackConfig(method="pgd", norm="linf", eps=8 / 255, step_size=0.01, steps=5, random_start=False,
                          bn_mode="eval")

    def step() -> None:
        x = to_float(images).contiguous(memory_format=torch.channels_last)
        with _autocast(precision):
            if adversarial:
                adv = cross_entropy_attack(model, x, labels, attack)
                model.train()
                loss = nn.functional.cross_entropy(model(x), labels) + nn.functional.cross_entropy(model(adv), labels)
            else:
                loss = nn.functional.cross_entropy(model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=count(4), default=16,
                        help="ResNet-18 base width, a multiple of 4 (16: the CPU study's; 64: standard)")
    parser.add_argument("--batch-size", type=count(2), default=128)
    parser.add_argument("--rounds", type=count(), default=5, help="timed rounds a side (after one warm-up round)")
    parser.add_argument("--steps", type=count(), default=3, help="training steps a round")
    parser.add_argument("--threads", type=count(), default=1)
    parser.add_argument("--quick", action="store_true", help="width 8, batch 16, 1 round of 1 step")
    args = parser.parse_args()
    if args.width % 4:
        parser.error(f"--width must be a multiple of 4, got {args.width}")
    if args.quick:
        args.width, args.batch_size, args.rounds, args.steps = 8, 16, 1, 1
    torch.set_num_threads(args.threads)
    images, labels, source = cifar10_or_random("train", args.batch_size)
    works = {}
    for kind in ("standard", "pgd5"):
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            model = use_channels_last(_Classifier(args.width)).train()
            step = make_step(model, images, labels, precision, kind == "pgd5")
            works[f"{kind} {precision}"] = lambda step=step: [step() for _ in range(args.steps)]
    # The warm-up round builds oneDNN's bf16 kernels for each shape; it is not counted.
    medians = {name: value / args.steps for name, value in interleaved_medians(works, args.rounds).items()}
    print(f"ResNet-18 width {args.width}, batch {args.batch_size}, {args.threads} thread(s), channels_last, "
          f"{args.rounds} rounds x {args.steps} steps, {source}; {load_note()}")
    rows = []
    for kind in ("standard", "pgd5"):
        fp32, bf16 = medians[f"{kind} fp32"], medians[f"{kind} bf16"]
        rows.append([kind, f"{fp32:.3f}", f"{bf16:.3f}", f"{args.batch_size / fp32:.0f}",
                     f"{args.batch_size / bf16:.0f}", f"{fp32 / bf16:.2f}"])
    print_table(["step", "fp32 s", "bf16 s", "fp32 img/s", "bf16 img/s", "fp32/bf16"], rows, [10, 9, 9, 12, 12, 11])
    print("ratio: float32 / bf16 seconds a PGD-5 step; bf16 training pays where it is above 1")
    print(f"bf16_training ratio: {rows[1][-1]} (target 1)")


if __name__ == "__main__":
    main()
