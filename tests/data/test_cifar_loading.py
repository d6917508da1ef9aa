"""Loading CIFAR from torchvision's layout and from image folders, caching, and error messages."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cl_robust.data import cifar
from cl_robust.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DataNotFoundError,
    default_root,
    load_image_folder,
    load_split,
)
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError


@pytest.mark.parametrize("split", ["train", "test"])
def test_both_layouts_load_the_same_pixels_and_labels(cifar10_torchvision: str, cifar10_image_folder: str,
                                                      split: str) -> None:
    images, labels, classes = load_split("cifar10", cifar10_torchvision, split)
    folder_images, folder_labels, folder_classes = load_split("cifar10", cifar10_image_folder, split)
    per_class = 20 if split == "train" else 10
    assert images.shape == (10 * per_class, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    assert torch.equal(torch.bincount(labels), torch.full((10,), per_class))
    assert classes == folder_classes == list(CIFAR10_CLASSES)
    assert torch.equal(images, folder_images)
    assert torch.equal(labels, folder_labels)


def test_cifar100_both_layouts(tmp_path: Path) -> None:
    write_synthetic_cifar(tmp_path / "tv", "cifar100", 2, 1, "torchvision")
    write_synthetic_cifar(tmp_path / "if", "cifar100", 2, 1, "image_folder")
    images, labels, classes = load_split("cifar100", tmp_path / "tv", "train")
    folder_images, folder_labels, folder_classes = load_split("cifar100", tmp_path / "if", "train")
    assert images.shape == (200, 3, 32, 32)
    assert classes == folder_classes == list(CIFAR100_CLASSES)
    assert torch.equal(images, folder_images) and torch.equal(labels, folder_labels)


def test_root_may_point_at_the_folder_holding_train_and_test(cifar10_image_folder: str) -> None:
    direct = load_split("cifar10", Path(cifar10_image_folder) / "cifar10", "test")
    nested = load_split("cifar10", cifar10_image_folder, "test")
    assert torch.equal(direct[0], nested[0]) and torch.equal(direct[1], nested[1])


def test_torchvision_reads_the_synthetic_files(cifar10_torchvision: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The synthetic files cannot match CIFAR's published MD5 sums; everything else is torchvision's own code.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    reference = torchvision.datasets.CIFAR10(cifar10_torchvision, train=True, download=False)
    ref_images = torch.from_numpy(reference.data).permute(0, 3, 1, 2)
    ref_labels = torch.tensor(reference.targets)
    order = torch.argsort(ref_labels, stable=True)  # load_split returns images grouped by class
    images, labels, classes = load_split("cifar10", cifar10_torchvision, "train")
    assert reference.classes == classes
    assert torch.equal(images, ref_images[order]) and torch.equal(labels, ref_labels[order])


def test_image_folder_labels_follow_class_names(tmp_path: Path) -> None:
    """CIFAR's class names get CIFAR's labels; a folder named otherwise is refused (its sorted position would
    shift labels); the generic image-folder reader takes any names, in sorted order."""
    write_synthetic_cifar(tmp_path, "cifar10", 2, 1, "image_folder")
    _, labels, classes = load_split("cifar10", tmp_path, "train")
    assert classes == list(CIFAR10_CLASSES)
    assert labels.tolist() == [c for c in range(10) for _ in range(2)]
    split_dir = tmp_path / "cifar10" / "train"
    (split_dir / "truck").rename(split_dir / "aaa_truck")
    with pytest.raises(ConfigError, match=r"class folder\(s\) 'aaa_truck' are not cifar10 class names \(missing: "
                                          r"'truck'\); labels follow cifar10's class names"):
        load_split("cifar10", tmp_path, "train")
    _, labels, classes = load_image_folder(tmp_path / "cifar10", "train")
    assert classes == sorted(classes) and classes[0] == "aaa_truck"
    assert torch.equal(torch.bincount(labels), torch.full((10,), 2))


def test_missing_data_message_is_one_line_naming_layouts_and_variable(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_split("cifar10", tmp_path / "nowhere", "train")
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert "\n" not in message
    for needle in (str(tmp_path / "nowhere"), "cifar-10-batches-py", "image-folder", "CL_ROBUST_DATA",
                   "download=true"):
        assert needle in message


def test_failed_download_is_a_data_not_found_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataNotFoundError, match="download failed: network is unreachable"):
        load_split("cifar10", tmp_path, "train", download=True)


def test_root_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "cifar.tar.gz"
    file.write_bytes(b"not a folder")
    with pytest.raises(ConfigError, match="is a file"):
        load_split("cifar10", file, "train")


@pytest.mark.parametrize(
    ("dataset", "split", "needle"),
    [("mnist", "train", "'cifar10', 'cifar100'"), ("cifar10", "val", "'train', 'test'")],
)
def test_bad_dataset_or_split(tmp_path: Path, dataset: str, split: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_split(dataset, tmp_path, split)


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    write_synthetic_cifar(tmp_path, "cifar10", 2, 1, "image_folder")
    broken = tmp_path / "cifar10" / "test" / "cat" / "00000.png"
    broken.write_bytes(b"\x89PNG garbage")
    with pytest.raises(ConfigError, match="00000.png"):
        load_split("cifar10", tmp_path, "test")


def test_class_count_mismatch(cifar10_image_folder: str) -> None:
    with pytest.raises(ConfigError, match="has 10 classes but dataset='cifar100'"):
        load_split("cifar100", Path(cifar10_image_folder) / "cifar10", "train")


def test_disk_cache_is_written_reused_and_invalidated(cifar10_image_folder: str, tmp_path: Path,
                                                      isolated_cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels, _ = load_split("cifar10", cifar10_image_folder, "test")
    cached = list(isolated_cache.glob("*.pt"))
    assert len(cached) == 1

    monkeypatch.setattr(cifar, "_MEMORY_CACHE", {})
    monkeypatch.setattr(cifar, "decode_images", lambda *args: pytest.fail("decoded again despite the cache"))
    again, again_labels, _ = load_split("cifar10", cifar10_image_folder, "test")
    assert torch.equal(images, again) and torch.equal(labels, again_labels)

    # A changed file (new mtime) gives a new key, so the split is decoded again.
    monkeypatch.undo()
    monkeypatch.setenv("CL_ROBUST_CACHE", str(isolated_cache))
    monkeypatch.setattr(cifar, "_MEMORY_CACHE", {})
    root = tmp_path / "copy"
    write_synthetic_cifar(root, "cifar10", 2, 1, "image_folder")
    load_split("cifar10", root, "test")
    file = root / "cifar10" / "test" / "cat" / "00000.png"
    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 10**9))
    load_split("cifar10", root, "test")
    assert len(list(isolated_cache.glob("*.pt"))) == 3


def test_unwritable_cache_is_skipped(cifar10_torchvision: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file_not_folder"
    blocker.write_text("x")
    monkeypatch.setenv("CL_ROBUST_CACHE", str(blocker / "cache"))
    images, _, _ = load_split("cifar10", cifar10_torchvision, "test")
    assert images.shape == (100, 3, 32, 32)


def test_default_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CL_ROBUST_DATA", "/somewhere/cifar")
    assert default_root() == "/somewhere/cifar"
    monkeypatch.delenv("CL_ROBUST_DATA")
    assert default_root() == "./data"


def test_generic_image_folder_resizes_to_a_common_size_only_when_asked(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for name, size in (("round", (32, 32)), ("square", (40, 24))):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            Image.fromarray(np.full((size[1], size[0], 3), 200, np.uint8)).save(folder / "a.png")
            Image.fromarray(np.full((size[1], size[0]), 50, np.uint8), mode="L").save(folder / "b.jpg")
    with pytest.raises(ConfigError, match=r"2 of 4 images are not 32x32 \(e.g. '.*square.a.png' is 40x24\); set "
                                          r"image_size to the images' size, or resize: true"):
        load_image_folder(tmp_path, "train")
    loaded = load_image_folder(tmp_path, "train", resize=True)
    images, labels, classes = loaded
    assert classes == ["round", "square"] and loaded.resized == {"40x24": 2}
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 1, 1]
    assert images[0].float().mean().item() == pytest.approx(200, abs=1)
    small = load_image_folder(tmp_path, "test", image_size=16, resize=True)
    assert small[0].shape == (4, 3, 16, 16) and small.resized == {"32x32": 2, "40x24": 2}


def test_synthetic_classes_are_learnable(cifar10_torchvision: str) -> None:
    """Nearest class mean on raw pixels separates the synthetic classes."""
    train_images, train_labels, _ = load_split("cifar10", cifar10_torchvision, "train")
    test_images, test_labels, _ = load_split("cifar10", cifar10_torchvision, "test")
    features = train_images.flatten(1).float()
    means = torch.stack([features[train_labels == c].mean(0) for c in range(10)])
    predicted = torch.cdist(test_images.flatten(1).float(), means).argmin(1)
    assert (predicted == test_labels).float().mean() > 0.9


@pytest.mark.real_data
def test_real_cifar10_subset(real_cifar_root: str) -> None:
    images, labels, classes = load_split("cifar10", real_cifar_root, "train")
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
    assert classes == list(CIFAR10_CLASSES)
    counts = torch.bincount(labels, minlength=10)
    assert (counts == counts[0]).all() and counts[0] > 0
    mean = images.float().div(255).mean(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.tensor([0.4914, 0.4822, 0.4465]), atol=0.06)
    test_images, test_labels, _ = load_split("cifar10", real_cifar_root, "test")
    assert test_images.shape[1:] == (3, 32, 32) and set(test_labels.tolist()) == set(range(10))


def test_incomplete_torchvision_folder(cifar10_torchvision: str, tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes((Path(cifar10_torchvision) / "cifar-10-batches-py" / "test_batch").read_bytes())
    assert load_split("cifar10", tmp_path, "test")[0].shape == (100, 3, 32, 32)
    with pytest.raises(DataNotFoundError, match="lacks .*data_batch_1"):
        load_split("cifar10", tmp_path, "train")
