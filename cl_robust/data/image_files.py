"""Reading an image-folder split (``<split>/<class>/*.png``) into one uint8 tensor, with its sizes checked.

Images of another size than the one expected are refused, naming the option that allows a
resize; with that option they are resized (bilinear, Pillow) and counted by original size, so
the data module can announce and record what it changed.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cl_robust.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".gif", ".tif", ".tiff")


def size_text(width: int, height: int) -> str:
    """``32x32``: a size as the messages and records write it (width x height)."""
    return f"{width}x{height}"


def class_files(split_dir: Path, classes: Sequence[str]) -> tuple[list[str], list[int]]:
    """The paths of the image files of every class folder (sorted by name) and their labels (the class's
    position in ``classes``).

    ConfigError when a class folder holds no image: training would silently use fewer classes.
    """
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        # os.scandir, names sorted as strings, paths as strings: the same order as sorting Paths (one
        # folder), without a stat, a Path and Path comparisons per file (seconds for CIFAR's 60,000
        # files, paid by every run).
        folder = os.path.join(split_dir, name)
        with os.scandir(folder) as entries:
            found = sorted(entry.name for entry in entries
                           if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES)
        files.extend(os.path.join(folder, file_name) for file_name in found)
        labels.extend([label] * len(found))
    empty = [name for label, name in enumerate(classes) if label not in set(labels)]
    if files and empty:
        raise ConfigError(f"Image folder '{split_dir}': class folder(s) {', '.join(map(repr, empty))} hold no images "
                          f"({', '.join(IMAGE_SUFFIXES)}); every class needs images, or training would silently "
                          f"use {len(classes) - len(empty)} of {len(classes)} classes")
    return files, labels


def decode_images(files: Sequence[str | Path], image_size: int, resize: bool, where: str,
                  fix: str) -> tuple[torch.Tensor, dict[str, int]]:
    """``files`` as one uint8 tensor [N, 3, S, S] (S = ``image_size``) and the count of images resized, by size.

    Without ``resize`` an image of another size is refused: one line naming how many differ, an
    example, ``where`` (the folder) and ``fix`` (the options that accept them).
    """
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(lambda file: _decode(file, image_size, resize), files))
    sizes = [size for _, size in decoded]
    wrong = [(file, size) for file, size in zip(files, sizes, strict=True) if size != (image_size, image_size)]
    if wrong and not resize:
        file, size = wrong[0]
        raise ConfigError(f"{where}: {len(wrong)} of {len(files)} images are not {size_text(image_size, image_size)} "
                          f"(e.g. '{file}' is {size_text(*size)}); {fix}")
    resized: dict[str, int] = {}
    for _, size in wrong:
        resized[size_text(*size)] = resized.get(size_text(*size), 0) + 1
    arrays = [array for array, _ in decoded]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(), resized


def _decode(file: str | Path, image_size: int, resize: bool) -> tuple[np.ndarray | None, tuple[int, int]]:
    """(RGB array, original (width, height)); the array is None for an image of another size that may not be resized."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            size = image.size
            if size != (image_size, image_size) and not resize:
                return None, size
            image = image.convert("RGB")
            if size != (image_size, image_size):
                image = image.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8), size
    except Exception as error:
        raise ConfigError(f"Image file '{file}' cannot be decoded: {error}") from error
