"""Your own model and data with cl_robust: the models and the two helper commands of README "Your own model".

A user's code, importable once this folder is on PYTHONPATH (``export PYTHONPATH=$PWD/examples``):

- ``own_model:small_encoder`` - a backbone (images in [0, 1] -> features [N, D]) for any scheme:
  ``cl-robust fit ... --model.init_args.backbone own_model:small_encoder``;
- ``own_model:small_classifier`` - a classifier from elsewhere (images in [0, 1] -> logits; it
  normalises inside, as RobustBench's models do) for ``cl-robust evaluate / analyze --model``.

Commands (the README runs them):

    python examples/own_model.py images own/images --image_size 64   # a generated 64-pixel image folder
    python examples/own_model.py train own/images/cifar10 own/theirs.pt --image_size 64

``images`` writes ``<folder>/cifar10/{train,test}/<class>/*.png`` (coloured stripes, one pattern a
class): stand-in data of any size; use your own image folder instead. ``train`` trains the classifier
with a plain PyTorch loop (no cl_robust module) and saves its weights as RobustBench does: the state
dict under ``model_state_dict``, keys prefixed ``module.`` (saved from ``DataParallel``).
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cl_robust.data import ImageFolderDataModule, write_synthetic_cifar
from cl_robust.errors import ConfigError


def small_encoder(width: int = 16) -> nn.Module:
    """Two conv blocks and global average pooling: images [N, 3, S, S] of any size -> features [N, 2 * width]."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class SmallClassifier(nn.Module):
    """A classifier that normalises its [0, 1] inputs itself (mean 0.5, std 0.25 a channel)."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25))
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        features = self.block2(self.block1(self.stem((images - self.mean) / self.std)))
        return self.fc(self.pool(features))


def small_classifier(num_classes: int = 10, width: int = 16) -> SmallClassifier:
    return SmallClassifier(num_classes, width)


def train(root: str, out: str, image_size: int, steps: int, seed: int = 0) -> float:
    """Train :class:`SmallClassifier` on the image folder ``root`` (its own loop) and save RobustBench-style weights."""
    torch.manual_seed(seed)
    data = ImageFolderDataModule(root, batch_size=1, image_size=image_size)
    data.setup()
    images, labels = data.train_set.images.float() / 255, data.train_set.labels
    model = small_classifier(num_classes=data.num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = torch.randint(0, len(labels), (min(64, len(labels)),))
        loss = F.cross_entropy(model(images[batch]), labels[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    torch.save({"model_state_dict": {f"module.{key}": value for key, value in model.state_dict().items()},
                "steps": steps}, out)
    return float(loss.detach())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    images = commands.add_parser("images", help="write a generated image folder")
    images.add_argument("folder")
    images.add_argument("--image_size", type=int, default=64)
    images.add_argument("--train_per_class", type=int, default=4)
    images.add_argument("--test_per_class", type=int, default=2)
    trainer = commands.add_parser("train", help="train the classifier with a plain loop and save its weights")
    trainer.add_argument("root", help="an image folder holding train/ and test/")
    trainer.add_argument("out", help="the weights file to write")
    trainer.add_argument("--image_size", type=int, default=64)
    trainer.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        if args.command == "images":
            write_synthetic_cifar(args.folder, "cifar10", args.train_per_class, args.test_per_class, "image_folder",
                                  image_size=args.image_size)
            print(f"wrote {args.folder}/cifar10/{{train,test}}/<class>/*.png ({args.image_size}x{args.image_size})")
        else:
            loss = train(args.root, args.out, args.image_size, args.steps)
            print(f"wrote {args.out} (training loss {loss:.3f} after {args.steps} steps)")
    except ConfigError as error:
        print(f"own_model.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
