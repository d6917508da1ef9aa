"""Whole batches from tensors in memory: the dataset, its collate function and a loader that resumes mid-epoch.

A ``TensorBatchDataset`` answers ``__getitems__`` with an already stacked batch, so a standard
``DataLoader`` (and Lightning's distributed sampler replacement) fetches a batch with one indexing
operation instead of per-sample Python.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

Batch = tuple[Tensor, Tensor]


class TensorBatchDataset(Dataset):
    """Images and labels in memory; ``__getitems__`` returns the stacked batch for a list of indices.

    With a ``labeled`` mask, items and batches also carry it: ``(images, labels, labeled)``.
    """

    def __init__(self, images: Tensor, labels: Tensor, labeled: Tensor | None = None) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels
        self.labeled = labeled

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return self._take(index)

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        return self._take(torch.as_tensor(indices, dtype=torch.int64))

    def _take(self, index: int | Tensor) -> tuple[Tensor, ...]:
        if self.labeled is None:
            return self.images[index], self.labels[index]
        return self.images[index], self.labels[index], self.labeled[index]


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` that can restart an epoch where a checkpoint left it.

    It remembers its shuffle generator's state at the start of each epoch. Given
    ``resume=(epoch_start_state, batches_done)``, its first epoch replays that epoch's order and
    skips the batches already trained on, so a run resumed from a mid-epoch checkpoint sees
    exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, *args: Any, resume: tuple[Tensor | None, int] | None = None, **kwargs: Any) -> None:
        # ``resume`` is an argument (not set later) so Lightning's re-creation of the loader with a
        # distributed sampler keeps it.
        super().__init__(*args, **kwargs)
        self.epoch_start_state: Tensor | None = None
        self._resume = resume

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        skip = 0
        if self._resume is not None:
            state, batches_done = self._resume
            self._resume = None
            if 0 < batches_done < len(self):
                if state is not None and self.generator is not None:
                    self.generator.set_state(state)
                skip = batches_done
        if self.generator is not None:
            self.epoch_start_state = self.generator.get_state()
        iterator = super().__iter__()
        for _ in range(skip):
            next(iterator)
        yield from iterator

    def state_dict(self) -> dict[str, Any]:
        """Empty: the resume position lives in the data module's state (it knows the trained batches)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to load (see :meth:`state_dict`); being stateful tells Lightning mid-epoch resume is exact."""


def passthrough_collate(batch: Batch) -> Batch:
    """``collate_fn`` for ``TensorBatchDataset``: the batch is already stacked."""
    return batch
