"""Models as a user of the library would write them, importable as ``user_models:<name>`` in tests.

Tests put this folder on ``sys.path`` (the ``user_models`` fixture of ``tests/conftest.py``), as a user
puts their own package on PYTHONPATH.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def small_encoder(width: int = 8, channels: int = 3) -> nn.Module:
    """Two conv blocks and global pooling: images [N, C, S, S] of any size -> features [N, 2 * width]."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class SmallNet(nn.Module):
    """A classifier that normalises inside and takes images in [0, 1], as RobustBench's models do."""

    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.block1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem((x - self.mean) / self.std)
        return self.head(self.pool(self.block2(self.block1(x))))


def small_classifier(num_classes: int = 10, width: int = 8) -> SmallNet:
    return SmallNet(num_classes, width)


def feature_maps() -> nn.Module:
    """A backbone that forgets to pool: [N, 8, S, S] maps instead of [N, D] features."""
    return nn.Conv2d(3, 8, 3, padding=1)


def fixed_size_encoder(image_size: int = 32) -> nn.Module:
    """Flattens its maps into a linear layer, so it only runs at one image size."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * image_size * image_size, 16))


def fixed_size_classifier(image_size: int = 64, num_classes: int = 10) -> nn.Module:
    """A classifier that only runs on images of ``image_size``."""
    return nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * image_size * image_size, num_classes))


def not_a_module() -> int:
    return 42


NOT_CALLABLE = 3
