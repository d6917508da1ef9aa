"""How far bf16 feature passes move layer x layer CKA of a trained ResNet-18.

``cl-robust analyze --precision bf16`` records CKA features under bf16 autocast (see
``cl_robust/analysis/feature_pass.py``). A random-init network is the easy case; this script
first trains the backbone with a linear classifier for ``--steps`` SGD steps (standard CIFAR
augmentation) on CIFAR-10 training images, then computes the block CKA matrix of test images
with float32 and with bf16 features and prints both, their largest difference, and how long
each took.

    python benchmarks/cka_precision.py           # about 3 minutes on 2 CPU cores
    python benchmarks/cka_precision.py --quick   # seconds: tiny backbone, 3 steps

Images come from ``$CL_ROBUST_DATA`` when it holds CIFAR-10 (train and test splits), else random
ones (then the training means nothing). The last line is
``cka_precision max difference: <max |bf16 - float32|> (tolerance 0.001)``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import block_cka_matrix, cifar10_or_random, count  # noqa: E402

TOLERANCE = 1e-3


def train(encoder: nn.Module, images: Tensor, labels: Tensor, steps: int, batch_size: int) -> float:
    """SGD on cross-entropy through ``encoder`` + a linear classifier; returns the last loss."""
    from cl_robust.data.augment import SupervisedAugment

    classifier = nn.Linear(encoder.feature_dim, 10)
    parameters = [*encoder.parameters(), *classifier.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=0.05, momentum=0.9, weight_decay=5e-4)
    augment = SupervisedAugment(generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    encoder.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        chosen = torch.randint(0, len(labels), (batch_size,), generator=generator)
        (views,) = augment(images[chosen])
        loss = F.cross_entropy(classifier(encoder(views)), labels[chosen])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps}: loss {loss.item():.3f}", flush=True)
    encoder.eval()
    return float(loss.detach())


def timed_block_cka(encoder: nn.Module, images: Tensor, batch_size: int, precision: str) -> tuple[Tensor, float]:
    """The block-output CKA matrix of uint8 ``images`` with features at ``precision``, and its seconds."""
    from cl_robust.analysis import block_names
    from cl_robust.data.augment import to_float

    start = time.perf_counter()
    matrix = block_cka_matrix(encoder, block_names(encoder), to_float(images), batch_size, precision)
    return matrix, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18", help="cl_robust backbone name (default resnet18)")
    parser.add_argument("--steps", type=count(0), default=120, help="training steps (default 120)")
    parser.add_argument("--batch-size", type=count(4), default=64, help="training batch size (default 64)")
    parser.add_argument("--images", type=count(4), default=1000, help="test images for CKA (default 1000)")
    parser.add_argument("--cka-batch-size", type=count(4), default=200,
                        help="CKA minibatch size, at least 4 (default 200)")
    parser.add_argument("--threads", type=count(), default=2, help="torch threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="resnet_tiny, 3 steps, 64 test images: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.backbone, args.steps, args.batch_size, args.images, args.cka_batch_size = "resnet_tiny", 3, 16, 64, 32
    if args.images < args.cka_batch_size:
        parser.error(f"--images ({args.images}) must be at least --cka-batch-size ({args.cka_batch_size})")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from cl_robust.models.backbones import build_backbone

    train_images, train_labels, train_source = cifar10_or_random("train", 50_000, seed=0)
    test_images, _, test_source = cifar10_or_random("test", args.images, seed=1)
    encoder = build_backbone(args.backbone)
    print(f"{args.backbone}: {args.steps} training steps of {args.batch_size} from {train_source}; "
          f"CKA on {len(test_images)} images from {test_source}, batch {args.cka_batch_size}")
    train(encoder, train_images, train_labels, args.steps, args.batch_size)
    exact, exact_seconds = timed_block_cka(encoder, test_images, args.cka_batch_size, "32")
    fast, fast_seconds = timed_block_cka(encoder, test_images, args.cka_batch_size, "bf16")
    torch.set_printoptions(precision=3, sci_mode=False, linewidth=120)
    print(f"float32 features ({exact_seconds:.2f} s):\n{exact}")
    print(f"bf16 features ({fast_seconds:.2f} s):\n{fast}")
    print(f"cka_precision max difference: {(fast - exact).abs().max().item():.2e} (tolerance {TOLERANCE:g})")


if __name__ == "__main__":
    main()
