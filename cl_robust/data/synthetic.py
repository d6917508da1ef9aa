"""A tiny fake CIFAR on disk, in either layout that ``load_split`` reads, for tests and smoke runs.

Each class has its own colour (hue) and stripe pattern (orientation and frequency); every image
adds a random stripe phase, a brightness offset and pixel noise, so a small network learns the
classes in a few steps while no two images are equal.
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from cl_robust.data.cifar import CIFAR_CLASSES, TORCHVISION_FOLDERS, TORCHVISION_LABEL_KEY
from cl_robust.errors import ConfigError, check_choice, shown

LAYOUTS: tuple[str, ...] = ("torchvision", "image_folder")


def synthetic_images(
    labels: torch.Tensor, num_classes: int, generator: torch.Generator, image_size: int = 32
) -> torch.Tensor:
    """Class-dependent uint8 images ``[N,3,S,S]`` (``S = image_size``) for the given labels."""
    n = labels.numel()
    hue = (labels % 10).float() / 10.0
    pattern = (labels // 10).float() if num_classes > 10 else labels.float()
    angle = pattern * (math.pi / max(1, min(num_classes, 10)))
    frequency = 1.0 + (pattern % 3)
    coords = torch.arange(image_size, dtype=torch.float32) / image_size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    wave = torch.sin(
        2 * math.pi * frequency[:, None, None]
        * (x * torch.cos(angle)[:, None, None] + y * torch.sin(angle)[:, None, None])
        + phase[:, None, None]
    )
    channel_offset = torch.tensor([0.0, 1.0 / 3.0, 2.0 / 3.0])
    colour = 0.5 + 0.4 * torch.cos(2 * math.pi * (hue[:, None] - channel_offset[None, :]))
    brightness = 0.1 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    images = colour[:, :, None, None] * (0.65 + 0.35 * wave[:, None]) + brightness
    images = images + 0.05 * torch.randn(n, 3, image_size, image_size, generator=generator)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def write_synthetic_cifar(
    root: str | os.PathLike,
    dataset: str = "cifar10",
    train_per_class: int = 20,
    test_per_class: int = 10,
    layout: str = "torchvision",
    seed: int = 0,
    image_size: int = 32,
) -> str:
    """Write a fake ``dataset`` under ``root`` in ``layout`` and return ``root``.

    ``torchvision``: ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` or
    ``cifar-100-python/{train,test,meta}`` (fine and made-up coarse labels), images interleaved
    across classes as in the real files. ``image_folder``: ``root/<dataset>/{train,test}/<class>/00000.png``.
    The same ``seed`` gives the same pixels in both layouts. ``image_size`` other than CIFAR's 32
    needs the image-folder layout (images of any square size, for the data modules' other sizes).
    """
    check_choice("dataset", dataset, tuple(CIFAR_CLASSES))
    check_choice("layout", layout, LAYOUTS)
    if not isinstance(image_size, int) or image_size < 1 or (image_size != 32 and layout != "image_folder"):
        raise ConfigError(f"image_size must be a positive integer, and 32 in torchvision's layout; got {image_size!r}")
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {shown(value)}")
    classes = CIFAR_CLASSES[dataset]
    generator = torch.Generator().manual_seed(seed)
    root_path = Path(root)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        # Interleaved order (0, 1, ..., C-1, 0, 1, ...), like CIFAR's batch files.
        labels = torch.arange(len(classes)).repeat(per_class)
        images = synthetic_images(labels, len(classes), generator, image_size)
        if layout == "torchvision":
            _write_torchvision(root_path, dataset, split, images, labels)
        else:
            _write_image_folder(root_path / dataset / split, classes, images, labels)
    if layout == "torchvision":
        _write_torchvision_meta(root_path, dataset)
    return str(root)


def _write_torchvision(root: Path, dataset: str, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    folder = root / TORCHVISION_FOLDERS[dataset]
    folder.mkdir(parents=True, exist_ok=True)
    data = images.reshape(len(images), -1).numpy()
    label_list = labels.tolist()
    if dataset == "cifar100":
        names, chunks = [split], [np.arange(len(label_list))]
    elif split == "train":
        names = [f"data_batch_{i}" for i in range(1, 6)]
        chunks = np.array_split(np.arange(len(label_list)), 5)
    else:
        names, chunks = ["test_batch"], [np.arange(len(label_list))]
    for name, chunk in zip(names, chunks, strict=True):
        entry = {
            "batch_label": f"synthetic {name}",
            "data": data[chunk],
            TORCHVISION_LABEL_KEY[dataset]: [label_list[i] for i in chunk],
            "filenames": [f"synthetic_{i:05d}.png" for i in chunk],
        }
        if dataset == "cifar100":
            entry["coarse_labels"] = [label_list[i] // 5 for i in chunk]
        with open(folder / name, "wb") as handle:
            pickle.dump(entry, handle)


def _write_torchvision_meta(root: Path, dataset: str) -> None:
    classes = list(CIFAR_CLASSES[dataset])
    if dataset == "cifar10":
        name, meta = "batches.meta", {"label_names": classes, "num_cases_per_batch": 10000, "num_vis": 3072}
    else:
        coarse = [f"coarse_{i}" for i in range(20)]
        name, meta = "meta", {"fine_label_names": classes, "coarse_label_names": coarse}
    with open(root / TORCHVISION_FOLDERS[dataset] / name, "wb") as handle:
        pickle.dump(meta, handle)


def _write_image_folder(split_dir: Path, classes: tuple[str, ...], images: torch.Tensor, labels: torch.Tensor) -> None:
    from PIL import Image

    pixels = images.permute(0, 2, 3, 1).numpy()
    for label, name in enumerate(classes):
        class_dir = split_dir / name
        class_dir.mkdir(parents=True, exist_ok=True)
        for index, position in enumerate(torch.nonzero(labels == label).flatten().tolist()):
            Image.fromarray(pixels[position]).save(class_dir / f"{index:05d}.png")
