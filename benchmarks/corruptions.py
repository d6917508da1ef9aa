"""Time to make CIFAR-10-C on the fly: the 15 corruptions x 5 severities of 10,000 CIFAR-10 test images.

Ours: ``cl_robust.corruptions.corrupt`` on batches of ``--batch-size`` uint8 images, as
``cl-robust evaluate --attacks corruptions`` runs it, with as many torch threads as the machine
has cores. Anchor: the ``imagecorruptions`` package (``corrupt(image, corruption_name, severity)``,
numpy / scikit-image / OpenCV, one image at a time; ImageNet-C's severity constants, so its
images are not CIFAR-10-C's, but its work per image is the same kind) on the first
``--anchor-images`` of the same images, scaled to the same count. Each corruption is timed for
both, one after the other, in this process. Budget: all 75 corrupted copies of 10,000 images
in 5 minutes on 2 cores.

    CL_ROBUST_DATA=data python benchmarks/corruptions.py            # 10,000 images, anchor on 100
    python benchmarks/corruptions.py --quick                          # seconds: 100 images, anchor on 2

Last line: ``corruptions ratio: <our seconds for 75 x 10,000 images / 300> (target 1)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cifar10_or_random, count, load_note  # noqa: E402

from cl_robust.corruptions import CORRUPTIONS, SEVERITIES, corrupt  # noqa: E402

BUDGET_SECONDS = 300.0
FULL_IMAGES = 10_000


def ours_seconds(images: torch.Tensor, name: str, batch_size: int) -> float:
    """Seconds to corrupt ``images`` at every severity, batch by batch, each batch with its own seeded generator."""
    start = time.perf_counter()
    for severity in SEVERITIES:
        for index, batch in enumerate(images.split(batch_size)):
            corrupt(batch, name, severity, torch.Generator().manual_seed(index))
    return time.perf_counter() - start


def anchor_seconds(corrupt_one, images: torch.Tensor, name: str) -> float:  # type: ignore[no-untyped-def]
    pixels = images.permute(0, 2, 3, 1).contiguous().numpy()
    start = time.perf_counter()
    for severity in SEVERITIES:
        for image in pixels:
            corrupt_one(image, corruption_name=name, severity=severity)
    return time.perf_counter() - start


def load_anchor():  # type: ignore[no-untyped-def]
    try:
        from _corruption_references import load_imagecorruptions

        return load_imagecorruptions()
    except ImportError as error:
        print(f"imagecorruptions not available ({error}): anchor not run "
              "(pip install scikit-image opencv-python-headless; pip install --no-deps imagecorruptions)")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=count(), default=FULL_IMAGES, help="CIFAR-10 test images (default 10000)")
    parser.add_argument("--anchor-images", type=count(), default=100, help="images imagecorruptions is timed on")
    parser.add_argument("--batch-size", type=count(), default=1000)
    parser.add_argument("--threads", type=count(), default=os.cpu_count() or 1)
    parser.add_argument("--no-anchor", action="store_true", help="time ours only")
    parser.add_argument("--quick", action="store_true", help="100 images, anchor on 2 (seconds)")
    args = parser.parse_args()
    if args.quick:
        args.images, args.anchor_images = 100, 2
    torch.set_num_threads(args.threads)
    images, _, source = cifar10_or_random("test", args.images, seed=0)
    anchor = None if args.no_anchor else load_anchor()
    print(f"{len(images)} images ({source}), batches of {args.batch_size}, {args.threads} torch threads; {load_note()}")
    scale = FULL_IMAGES / len(images)
    anchor_count = min(args.anchor_images, len(images))
    print("| corruption | ours: s for 5 severities x 10,000 | imagecorruptions: s for the same (from "
          f"{anchor_count} images) | imagecorruptions / ours |")
    print("|---|---|---|---|")
    total_ours = total_anchor = 0.0
    for name in CORRUPTIONS:
        ours = ours_seconds(images, name, args.batch_size) * scale
        total_ours += ours
        if anchor is None:
            print(f"| {name} | {ours:.1f} | - | - |", flush=True)
            continue
        theirs = anchor_seconds(anchor, images[:anchor_count], name) * FULL_IMAGES / anchor_count
        total_anchor += theirs
        print(f"| {name} | {ours:.1f} | {theirs:.0f} | {theirs / ours:.1f} |", flush=True)
    anchor_text = f"{total_anchor:.0f} s, {total_anchor / total_ours:.1f}x ours" if anchor is not None else "not run"
    print(f"all 75 x 10,000 images: ours {total_ours:.0f} s (budget {BUDGET_SECONDS:.0f} s); imagecorruptions "
          f"{anchor_text}; {load_note()}")
    print(f"corruptions ratio: {total_ours / BUDGET_SECONDS:.2f} (target 1)")


if __name__ == "__main__":
    main()
