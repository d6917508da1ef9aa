"""The data's own per-channel statistics: CIFAR's published ones, computed for image folders, or given."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cl_robust.data import CIFARDataModule, ImageFolderDataModule
from cl_robust.data.normalization import DATASET_STATISTICS, channel_statistics, check_statistics
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError


def test_channel_statistics_equal_torch_over_every_pixel() -> None:
    images = torch.randint(0, 256, (2500, 3, 5, 5), dtype=torch.uint8)  # more than one chunk
    mean, std = channel_statistics(images)
    pixels = images.double().div(255).transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), pixels.mean(dim=1), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), pixels.std(dim=1, unbiased=False), atol=1e-9, rtol=0)
    assert channel_statistics(images.float() / 255)[0] == pytest.approx(mean)


def test_cifar_uses_its_published_statistics_per_data_set(cifar10_torchvision: str) -> None:
    for dataset in ("cifar10", "cifar100"):
        normalization = CIFARDataModule(dataset, root=cifar10_torchvision).normalization()
        assert (normalization.mean, normalization.std) == DATASET_STATISTICS[dataset]
        assert dataset in normalization.source
    assert DATASET_STATISTICS["cifar10"] != DATASET_STATISTICS["cifar100"]


def test_image_folder_statistics_are_computed_from_its_training_split(tmp_path: Path) -> None:
    root = write_synthetic_cifar(tmp_path, "cifar10", 3, 1, "image_folder", image_size=64)
    data = ImageFolderDataModule(f"{root}/cifar10", batch_size=4, image_size=64)
    with pytest.raises(ConfigError, match="setup"):
        data.normalization()
    data.setup()
    normalization = data.normalization()
    expected = channel_statistics(data.train_set.images)
    assert normalization.mean == pytest.approx(expected[0], abs=1e-6)
    assert normalization.std == pytest.approx(expected[1], abs=1e-6)
    assert "computed from the 30 training images" in normalization.source


def test_given_statistics_win_and_are_checked(cifar10_image_folder: str) -> None:
    given = CIFARDataModule(root=cifar10_image_folder, mean=[0.5, 0.5, 0.5], std=[0.2, 0.2, 0.2]).normalization()
    assert (given.mean, given.std, given.source) == ((0.5,) * 3, (0.2,) * 3, "given (data mean and std)")
    for mean, std in (([0.5], None), ([0.5, 0.5], [0.2]), ([0.5], [0.0]), (["a"], [0.1])):
        with pytest.raises(ConfigError, match="mean"):
            check_statistics(mean, std)
    with pytest.raises(ConfigError, match="mean and std"):
        CIFARDataModule(root=cifar10_image_folder, mean=[0.5, 0.5, 0.5])
