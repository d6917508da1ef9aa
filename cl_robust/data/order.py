"""A seeded random order of a split that depends on its images and labels, not on how they are stored.

Evaluation and analysis batches must be random samples of the test split: threat model I takes
its negatives from the batch, and minibatch CKA (Nguyen, Raghu & Kornblith 2021) assumes each
batch is a random draw. Image folders are read class by class, so a split in storage order gives
batches of one or two classes. Shuffling with ``torch.randperm`` would fix the composition but
not the dependence on storage order: the same images stored in another order would land in
other batches.

:func:`content_order` instead sorts the images by a keyed hash of their pixels (BLAKE2b with the
seed as key, 64 bits) and then by label: a permutation that looks random, changes with the seed,
and gives the same sequence of (image, label) pairs for any storage order of the same images.
"The first N images of each class" in that order is then a seeded random per-class subset.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from cl_robust.errors import ConfigError, shown


def content_keys(images: Tensor, seed: int) -> Tensor:
    """One int64 key per image: BLAKE2b-64 of its uint8 pixels, keyed by ``seed`` (top bit cleared)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"order_seed must be an integer >= 0 or null (storage order); got {shown(seed)}")
    pixels = np.ascontiguousarray(images.cpu().numpy()).reshape(len(images), -1)
    key = seed.to_bytes(16, "little")
    digests = (hashlib.blake2b(row.data, digest_size=8, key=key).digest() for row in pixels)
    keys = np.fromiter((int.from_bytes(digest, "little") >> 1 for digest in digests), dtype=np.int64,
                       count=len(pixels))
    return torch.from_numpy(keys)


def content_order(images: Tensor, labels: Tensor, seed: int) -> Tensor:
    """Indices that put ``images`` / ``labels`` in the seeded content order (see the module docstring).

    Ties (the same image twice) are broken by label; identical (image, label) pairs are
    interchangeable, so the ordered split is the same whatever order they were stored in.
    """
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    keys = content_keys(images, seed)
    by_label = torch.argsort(labels, stable=True)
    return by_label[torch.argsort(keys[by_label], stable=True)]
