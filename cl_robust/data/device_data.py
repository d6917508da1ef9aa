"""Batches gathered on the model's device from a copy of the whole split kept there.

With a GPU, copying each uint8 batch from host memory costs a host-to-device transfer per step
and ties the step to the host. Instead the loader yields only the indices of a batch
(:class:`IndexBatch`, a few hundred int64) and :class:`DeviceSplits` gathers images and labels
from a copy of the split made once on the device. The indices come from the same sampler and
shuffle generator as the host path, so both paths give the same batches for the same seed.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from cl_robust.errors import ConfigError, shown

Batch = tuple[Tensor, Tensor]

#: Values of the data modules' ``on_device`` option.
ON_DEVICE_CHOICES: tuple[bool | str, ...] = (True, False, "auto")


class IndexBatch(NamedTuple):
    """Indices of one batch into the split called ``split``; gathered by :class:`DeviceSplits`."""

    indices: Tensor
    split: str


class IndexBatchDataset(Dataset):
    """Stands in for a dataset of ``(images, labels)`` in a ``DataLoader``: a batch is its indices."""

    def __init__(self, length: int, split: str) -> None:
        self.length = length
        self.split = split

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> IndexBatch:
        return IndexBatch(torch.tensor([index], dtype=torch.int64), self.split)

    def __getitems__(self, indices: list[int]) -> IndexBatch:
        return IndexBatch(torch.as_tensor(indices, dtype=torch.int64), self.split)


class DeviceSplits:
    """Copies of whole splits on devices, made on first use; gathers index batches there."""

    def __init__(self) -> None:
        self._copies: dict[tuple[str, torch.device], Batch] = {}

    def gather(self, split: str, images: Tensor, labels: Tensor, indices: Tensor,
               device: torch.device | str) -> Batch:
        """``(images[indices], labels[indices])`` on ``device``, from the copy of ``split`` there."""
        device = torch.device(device)
        key = (split, device)
        if key not in self._copies:
            self._copies[key] = (images.to(device), labels.to(device))
        device_images, device_labels = self._copies[key]
        indices = indices.to(device, non_blocking=True)
        return device_images.index_select(0, indices), device_labels.index_select(0, indices)

    def clear(self) -> None:
        """Drop every device copy (frees the device memory)."""
        self._copies.clear()


def check_on_device(value: bool | str) -> bool | str:
    """Validate the ``on_device`` option: True, False or ``"auto"`` (only when the model is not on a CPU)."""
    if isinstance(value, str) and value.lower() in ("true", "false", "auto"):
        value = {"true": True, "false": False, "auto": "auto"}[value.lower()]
    if value not in ON_DEVICE_CHOICES or (not isinstance(value, bool) and value != "auto"):
        raise ConfigError(f"on_device must be true, false or 'auto'; got {shown(value)}")
    return value
