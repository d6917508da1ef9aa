"""Two-view SimCLR augmentation throughput: ours against lightly's SimCLRTransform.

Ours: batches gathered by index from the uint8 split held in memory (the data module's
on-device path, here on the CPU) and augmented as whole tensors by ``ContrastiveViews``
(crop + resize + flip in one ``grid_sample``, colour jitter, grayscale; two views).
Lightly: ``SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)`` (CIFAR settings:
jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale 0.2, min_scale 0.08, no blur, no normalisation)
over a CIFAR10-style dataset of PIL images, through ``DataLoader(num_workers=2, batch_size=256)``.
Both run on the CPU. Rounds alternate the two so they share the background load; each figure is
a median over rounds.

    python benchmarks/augment.py            # about a minute on 2 CPU cores
    python benchmarks/augment.py --quick    # seconds: a smoke run

Images are the real CIFAR-10 training split when ``$CL_ROBUST_DATA`` holds it, else random
uint8 images (the per-image cost of both does not depend on the pixel values).
The last line is ``augment ratio: <ours images/s / lightly images/s> (target 5)``.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (  # noqa: E402
    cifar10_or_random,
    count,
    interleaved_medians,
    load_note,
    print_table,
    usable_cpus,
)


class PILImages(Dataset):
    """torchvision's CIFAR10 item access: an HWC uint8 array, ``Image.fromarray``, then the transform."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable) -> None:
        self.data = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.targets = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[object, int]:
        return self.transform(Image.fromarray(self.data[index])), self.targets[index]


def lightly_loader(images: Tensor, labels: Tensor, batch_size: int, workers: int) -> DataLoader:
    """lightly's SimCLRTransform (CIFAR settings) over PIL images through a multi-worker DataLoader."""
    from lightly.transforms import SimCLRTransform

    transform = SimCLRTransform(input_size=32, cj_strength=0.5, min_scale=0.08, random_gray_scale=0.2,
                                gaussian_blur=0.0, normalize=None)
    return DataLoader(PILImages(images, labels, transform), batch_size=batch_size, shuffle=True,
                      num_workers=workers, persistent_workers=workers > 0, drop_last=True)


def ours_epoch(images: Tensor, labels: Tensor, batch_size: int, seed: int) -> Callable[[], None]:
    """One pass of our path over the images: shuffled index batches, gathered, two augmented views."""
    from cl_robust.data.augment import ContrastiveViews
    from cl_robust.data.device_data import DeviceSplits

    splits = DeviceSplits()
    augment = ContrastiveViews()
    generator = torch.Generator().manual_seed(seed)

    def run() -> None:
        order = torch.randperm(len(labels), generator=generator)
        for indices in order[: len(order) // batch_size * batch_size].split(batch_size):
            batch_images, _ = splits.gather("train", images, labels, indices, "cpu")
            augment(batch_images)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=count(), default=4096, help="images per timed pass (default 4096)")
    parser.add_argument("--batch-size", type=count(), default=256, help="batch size of both (default 256)")
    parser.add_argument("--workers", type=count(0), default=2, help="DataLoader workers for lightly (default 2)")
    parser.add_argument("--threads", type=count(), default=usable_cpus(),
                        help="torch threads for ours (default: the usable CPUs, the cores lightly's workers share; "
                             f"{usable_cpus()} here)")
    parser.add_argument("--rounds", type=count(), default=5, help="timed rounds after one warm-up (default 5)")
    parser.add_argument("--quick", action="store_true", help="512 images, batch 128, 2 rounds: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.images, args.batch_size, args.rounds = 512, 128, 2
    if args.images < args.batch_size:
        parser.error(f"--images ({args.images}) must be at least --batch-size ({args.batch_size})")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    images, labels, source = cifar10_or_random("train", args.images)
    loader = lightly_loader(images, labels, args.batch_size, args.workers)

    def lightly_epoch() -> None:
        for _ in loader:
            pass

    used = len(labels) // args.batch_size * args.batch_size
    medians = interleaved_medians(
        {"ours": ours_epoch(images, labels, args.batch_size, seed=0), "lightly": lightly_epoch}, rounds=args.rounds
    )
    rates = {name: used / value for name, value in medians.items()}
    print(f"two-view SimCLR augmentation, {used} {source} a pass, batch {args.batch_size}, "
          f"median of {args.rounds} rounds; {load_note()}")
    print_table(
        ("pipeline", "seconds", "images/s"),
        [("ours: in-memory uint8 + ContrastiveViews, " f"{args.threads} threads", f"{medians['ours']:.3f}",
          f"{rates['ours']:.0f}"),
         (f"lightly SimCLRTransform + PIL, DataLoader({args.workers} workers)", f"{medians['lightly']:.3f}",
          f"{rates['lightly']:.0f}")],
        (62, 10, 10),
    )
    print(f"augment ratio: {rates['ours'] / rates['lightly']:.2f} (target 5)")


if __name__ == "__main__":
    main()
