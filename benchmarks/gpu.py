"""Training throughput on a CUDA GPU: standard, PGD-10 adversarial and SimCLR steps.

For ResNet-18 and ResNet-50 at batch 512, each step kind is timed in three settings: fp32,
bf16 autocast + channels_last, and the latter with ``torch.compile``. Batches are drawn from a
uint8 split held on the GPU (random images of CIFAR's shape) and augmented there. Prints images
a second and the CIFAR-10 epoch time they imply (50,000 / images a second), beside the goals for
one H100: PGD-10 adversarial training of ResNet-18 under 10 s an epoch, SimCLR under 5 s.

    python benchmarks/gpu.py                 # on a CUDA GPU: a few minutes on one H100
    python benchmarks/gpu.py --quick         # toy size (resnet_tiny, batch 8, 1 step): a smoke run

Without a GPU it runs the toy size automatically. The last line is
``gpu ratio: <fastest / fp32 images a second, ResNet-18 PGD-10> (target 2)``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import count, print_table  # noqa: E402

CIFAR_TRAIN_IMAGES = 50_000
GOALS_SECONDS = {("resnet18", "pgd10"): 10.0, ("resnet18", "simclr"): 5.0}
SETTINGS = ("fp32", "bf16+channels_last", "bf16+channels_last+compile")


class Model(nn.Module):
    """Backbone + linear classifier + SimCLR projection head."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        from cl_robust.models.backbones import build_backbone
        from cl_robust.models.heads import build_projection_head

        self.encoder = build_backbone(backbone)
        self.classifier = nn.Linear(self.encoder.feature_dim, 10)
        self.projector = build_projection_head(self.encoder.feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.encoder(images))


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def make_step(kind: str, model: Model, optimizer: torch.optim.Optimizer, bf16: bool) -> Callable[[Tensor, Tensor], None]:
    """One training step of ``kind`` (standard, pgd10, simclr) on a uint8 batch already on the device."""
    from lightly.loss import NTXentLoss

    from cl_robust.attacks import AttackConfig, cross_entropy_attack
    from cl_robust.data.augment import ContrastiveViews, SupervisedAugment, to_float

    supervised, contrastive = SupervisedAugment(), ContrastiveViews()
    attack = AttackConfig(eps=8 / 255, step_size=2 / 255, steps=10)
    nt_xent = NTXentLoss(temperature=0.5)

    def step(images: Tensor, labels: Tensor) -> None:
        device = images.device
        with autocast(device, bf16):
            if kind == "simclr":
                first, second = contrastive(images)
                embeddings = model.projector(model.encoder(torch.cat((first, second))))
                loss = nt_xent(*embeddings.float().chunk(2))
            else:
                (view,) = supervised(to_float(images))
                if kind == "pgd10":
                    view = cross_entropy_attack(model, view, labels, attack)
                loss = F.cross_entropy(model(view).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def batches(images: Tensor, labels: Tensor, batch_size: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled batches gathered on the split's device (index batches, no host copies)."""
    generator = torch.Generator(device=images.device).manual_seed(seed)
    while True:
        order = torch.randperm(len(labels), generator=generator, device=images.device)
        for indices in order[: len(order) // batch_size * batch_size].split(batch_size):
            yield images.index_select(0, indices), labels.index_select(0, indices)


def images_per_second(kind: str, backbone: str, setting: str, device: torch.device, batch_size: int,
                      steps: int, warmup: int, split: tuple[Tensor, Tensor]) -> float:
    """Throughput of ``steps`` timed training steps after ``warmup`` untimed ones."""
    from cl_robust.methods.performance import apply_speed_options

    torch.manual_seed(0)
    model = Model(backbone).to(device)
    fast = setting != "fp32"
    if fast:
        apply_speed_options(model, channels_last=True, compile="compile" in setting)
        if "compile" in setting:
            model.projector.compile()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = make_step(kind, model, optimizer, bf16=fast)
    source = batches(*split, batch_size, seed=0)
    for _ in range(warmup):
        step(*next(source))
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(source))
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cuda (default when present) or cpu (toy size)")
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batch-size", type=count(), default=512)
    parser.add_argument("--steps", type=count(), default=10, help="timed steps per measurement (default 10)")
    parser.add_argument("--warmup", type=count(0), default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--kinds", nargs="+", default=["standard", "pgd10", "simclr"],
                        choices=["standard", "pgd10", "simclr"])
    parser.add_argument("--quick", action="store_true", help="same as --device cpu: the toy size")
    args = parser.parse_args()
    if args.quick:
        args.device = "cpu"
    device = torch.device(args.device)
    if device.type == "cpu":
        args.backbones, args.batch_size, args.steps, args.warmup = ["resnet_tiny"], 8, 1, 0
        args.settings = [setting for setting in args.settings if "compile" not in setting]
        print("no CUDA device: toy size (resnet_tiny, batch 8, 1 step, no warm-up, no compile); not a measurement")
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name(device)}")
    generator = torch.Generator().manual_seed(0)
    split_size = max(CIFAR_TRAIN_IMAGES if device.type == "cuda" else 64, args.batch_size)
    split = (torch.randint(0, 256, (split_size, 3, 32, 32), dtype=torch.uint8, generator=generator).to(device),
             torch.randint(0, 10, (split_size,), generator=generator).to(device))

    rows, rates = [], {}
    for backbone in args.backbones:
        for kind in args.kinds:
            for setting in args.settings:
                rate = images_per_second(kind, backbone, setting, device, args.batch_size, args.steps,
                                         args.warmup, split)
                rates[backbone, kind, setting] = rate
                goal = GOALS_SECONDS.get((backbone, kind))
                rows.append((f"{backbone} {kind} {setting}", f"{rate:.0f}", f"{CIFAR_TRAIN_IMAGES / rate:.1f}",
                             f"< {goal:g}" if goal else "-"))
                print(*rows[-1], file=sys.stderr, flush=True)
    print_table(("step, setting", "images/s", "epoch s", "goal s"), rows, (48, 10, 10, 8))
    reference = args.backbones[0]
    kind = "pgd10" if "pgd10" in args.kinds else args.kinds[0]
    base = rates[reference, kind, "fp32"] if "fp32" in args.settings else rates[reference, kind, args.settings[0]]
    best = max(rates[reference, kind, setting] for setting in args.settings)
    print(f"gpu ratio: {best / base:.2f} (target 2)")


if __name__ == "__main__":
    main()
