"""Fixtures for the data tests: synthetic CIFAR in both layouts, an isolated decode cache."""
from __future__ import annotations

from pathlib import Path

import pytest

from cl_robust.data import cifar
from cl_robust.data.synthetic import write_synthetic_cifar


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own disk cache folder and an empty in-process cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CL_ROBUST_CACHE", str(cache))
    monkeypatch.setattr(cifar, "_MEMORY_CACHE", {})
    return cache


@pytest.fixture(scope="session")
def cifar10_torchvision(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Synthetic CIFAR-10 in torchvision's layout: 20 train and 10 test images per class."""
    return write_synthetic_cifar(tmp_path_factory.mktemp("tv10"), "cifar10", 20, 10, "torchvision")


@pytest.fixture(scope="session")
def cifar10_image_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same synthetic CIFAR-10 as ``cifar10_torchvision``, as an image-folder tree."""
    return write_synthetic_cifar(tmp_path_factory.mktemp("if10"), "cifar10", 20, 10, "image_folder")
