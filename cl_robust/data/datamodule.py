"""Lightning data modules serving whole uint8 batches from tensors held in memory.

Batches are ``(images uint8 [B,3,H,W], labels int64 [B])``; augmentation happens later, on the
device (``cl_robust.data.augment``). Batches come whole from tensors (:mod:`cl_robust.data.batches`).
``CIFARDataModule`` is here; ``ImageFolderDataModule`` (:mod:`cl_robust.data.image_folder_datamodule`)
reads any image tree the same way.

For the semi-supervised schemes a data module also serves a labelled mask: training batches
become ``(images, labels, labeled)``, and the label of every unlabelled image is -1 before it
leaves the data module (:meth:`CIFARDataModule.serve_labeled_fraction`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cl_robust.data.batches import ResumableDataLoader, TensorBatchDataset, passthrough_collate
from cl_robust.data.cifar import (
    CIFAR_CLASSES,
    CIFAR_IMAGE_SIZE,
    DATASETS,
    Split,
    default_root,
    load_split,
)
from cl_robust.data.device_data import DeviceSplits, IndexBatch, IndexBatchDataset, check_on_device
from cl_robust.data.normalization import Normalization, check_statistics, dataset_normalization
from cl_robust.data.options import check_loader_options, check_order_seed, check_resize
from cl_robust.data.order import content_order
from cl_robust.data.record import data_record, resize_line
from cl_robust.data.subsets import (  # noqa: F401 (rank_within_class, labeled_mask: imported from here by users)
    LabeledCount,
    check_labeled_fraction,
    count_labeled,
    first_per_class,
    hold_out_last_per_class,
    labeled_mask,
    rank_within_class,
)
from cl_robust.errors import ConfigError, check_choice
from cl_robust.losses.masked import UNKNOWN
from cl_robust.notices import announce


class CIFARDataModule(lightning.LightningDataModule):
    """CIFAR-10/100 as uint8 tensors in memory, with deterministic per-class subsets.

    ``order_seed`` (default 0) puts every split in a seeded random order that depends only on
    its images and labels, not on how they are stored (:mod:`cl_robust.data.order`), so
    validation and test batches are random samples of every class and the same images give the
    same batches in any storage order; ``null`` keeps the storage order (class by class).
    ``per_class`` keeps the first N training images of each class in that order (a seeded
    random subset); ``val_per_class`` holds out the last N of those as a validation split (else
    validation uses the test split); ``test_per_class`` keeps the first N test images of each
    class. ``root`` defaults to
    ``$CL_ROBUST_DATA``, else ``./data``. ``on_device``: keep each split on the model's device
    and gather batches there from index batches (``"auto"``: whenever the trainer's device is not
    a CPU; see :mod:`cl_robust.data.device_data`); the batches are the same either way.
    ``mean`` / ``std``: the per-channel statistics the model normalises with (default: the data
    set's own, :meth:`normalization`).
    """

    def __init__(
        self,
        dataset: str = "cifar10",
        root: str | None = None,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        per_class: int | None = None,
        val_per_class: int = 0,
        test_per_class: int | None = None,
        download: bool = False,
        num_workers: int = 0,
        seed: int = 0,
        on_device: bool | str = "auto",
        order_seed: int | None = 0,
        resize: bool = False,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_choice("dataset", dataset, DATASETS)
        self.dataset = dataset
        self._set_options(root if root is not None else default_root(), batch_size, eval_batch_size,
                          per_class, val_per_class, test_per_class, num_workers, seed, on_device, order_seed, resize)
        self.download = download
        self.num_classes: int = len(CIFAR_CLASSES[dataset])
        #: Side of the square images every batch holds.
        self.image_size: int = CIFAR_IMAGE_SIZE
        self._set_normalization(mean, std)
        self._check_batch_fits_subset()

    def _set_normalization(self, mean: list[float] | None, std: list[float] | None) -> None:
        self._given_statistics = check_statistics(mean, std)
        self._normalization: Normalization | None = None

    def normalization(self) -> Normalization:
        """Per-channel mean and std the model normalises its inputs with, and their source.

        ``mean`` and ``std`` when given; CIFAR's published training-set statistics; else computed from
        the training split (after :meth:`setup`). See :mod:`cl_robust.data.normalization`.
        """
        if self._normalization is None:
            given = self._given_statistics or (None, None)
            images = self.train_set.images if self.train_set is not None else None
            self._normalization = dataset_normalization(self.dataset, images, *given)
        return self._normalization

    def _check_batch_fits_subset(self) -> None:
        """Refuse, before any image is read, a batch larger than every possible training subset.

        With ``per_class`` set the training set holds at most ``(per_class - val_per_class) *
        num_classes`` images; :meth:`setup` checks the exact size once the images are loaded.
        """
        if self.per_class is None:
            return
        most = (self.per_class - self.val_per_class) * self.num_classes
        if self.batch_size > most:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the training set (at most {most} images: "
                f"per_class={self.per_class}, val_per_class={self.val_per_class}, {self.num_classes} classes) "
                "and the last incomplete batch is dropped; lower batch_size or raise per_class"
            )

    def _set_options(self, root: str | os.PathLike, batch_size: int, eval_batch_size: int | None,
                     per_class: int | None, val_per_class: int, test_per_class: int | None,
                     num_workers: int, seed: int, on_device: bool | str = "auto",
                     order_seed: int | None = 0, resize: bool = False) -> None:
        self.on_device = check_on_device(on_device)
        self.resize = check_resize(resize)  # images of another size may be resized; announced and recorded (record())
        self.resized: dict[str, dict[str, int]] = {}
        self.order_seed = check_order_seed(order_seed)
        self.device_splits = DeviceSplits()
        check_loader_options(batch_size, eval_batch_size, per_class, val_per_class, test_per_class, num_workers)
        if Path(root).expanduser().is_file():
            raise ConfigError(f"root '{root}' is a file; root must be the folder holding the data set")
        self.root = os.fspath(root)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.per_class = per_class
        self.val_per_class = val_per_class
        self.test_per_class = test_per_class
        self.num_workers = num_workers
        self.seed = seed
        # One generator for every training loader: epochs (and reloaded loaders) get new orders,
        # the sequence of orders is fixed by ``seed``.
        self.shuffle_generator = torch.Generator().manual_seed(seed)
        self._pending_resume: tuple[Tensor | None, int] | None = None
        self.classes: list[str] = []
        self.train_set: TensorBatchDataset | None = None
        self.val_set: TensorBatchDataset | None = None
        self.test_set: TensorBatchDataset | None = None
        #: Set by :meth:`serve_labeled_fraction` (a semi-supervised scheme asks for it); None: every label.
        self.labeled_fraction: float | None = None
        #: The labelled count that fraction came to (set with the training subset).
        self.labeled_count: LabeledCount | None = None

    def _load(self, split: str) -> Split:
        return load_split(self.dataset, self.root, split, download=self.download, resize=self.resize)

    #: Side of the images this data module serves.
    image_size: int = CIFAR_IMAGE_SIZE

    def _ordered(self, split: str) -> tuple[Tensor, Tensor, list[str]]:
        """One split, in the seeded content order when ``order_seed`` is set (storage order otherwise)."""
        loaded = self._load(split)
        images, labels, classes = loaded
        if loaded.resized:
            self.resized[split] = loaded.resized
        if self.order_seed is None:
            return images, labels, classes
        order = content_order(images, labels, self.order_seed)
        return images[order], labels[order], classes

    def prepare_data(self) -> None:
        """Download when allowed; otherwise fail here, before training, if the data is missing."""
        for split in ("train", "test"):
            self._load(split)

    def setup(self, stage: str | None = None) -> None:
        """Load both splits into memory and cut the per-class subsets."""
        if self.train_set is not None:
            return
        train_images, train_labels, self.classes = self._ordered("train")
        test_images, test_labels, _ = self._ordered("test")
        if self.per_class is not None:
            keep = first_per_class(train_labels, self.per_class, "train", "per_class")
            train_images, train_labels = train_images[keep], train_labels[keep]
        if self.val_per_class > 0:
            smallest = int(torch.bincount(train_labels)[torch.bincount(train_labels) > 0].min())
            if self.val_per_class >= smallest:
                raise ConfigError(
                    f"val_per_class={self.val_per_class} leaves no training images in a class of "
                    f"{smallest}; use val_per_class < {smallest}"
                )
            kept, held_out = hold_out_last_per_class(train_labels, self.val_per_class)
            self.val_set = TensorBatchDataset(train_images[held_out], train_labels[held_out])
            train_images, train_labels = train_images[kept], train_labels[kept]
        if self.test_per_class is not None:
            keep = first_per_class(test_labels, self.test_per_class, "test", "test_per_class")
            test_images, test_labels = test_images[keep], test_labels[keep]
        self.train_set = TensorBatchDataset(train_images, train_labels)
        if self.labeled_fraction is not None:
            self._apply_labeled_fraction()
        self.test_set = TensorBatchDataset(test_images, test_labels)
        if self.val_set is None:
            self.val_set = self.test_set
        if len(self.train_set) < self.batch_size:
            raise ConfigError(
                f"batch_size={self.batch_size} is larger than the training set ({len(self.train_set)} "
                "images) and the last incomplete batch is dropped; lower batch_size"
            )
        if self.resized:
            announce(resize_line(self.resized, self.image_size))

    @property
    def validates_on_test(self) -> bool:
        """Whether validation reads the test split (``val_per_class`` 0: no images held out for it)."""
        return self.val_set is not None and self.val_set is self.test_set

    def record(self) -> dict[str, Any]:
        """What this data module served, for the outputs: data set, class names, image size, what was changed."""
        return data_record(self)

    def serve_labeled_fraction(self, fraction: float) -> None:
        """Serve training batches as ``(images, labels, labeled)`` with ``fraction`` of the images labelled.

        The labelled images are a class-balanced draw fixed by ``seed`` (:func:`labeled_mask`); every
        other image's label is served as -1, so the true label never leaves the data module.
        Called by a semi-supervised scheme in its ``setup``; asking again with another fraction is refused.
        """
        fraction = check_labeled_fraction(fraction)
        if self.labeled_fraction is not None and self.labeled_fraction != fraction:
            raise ConfigError(f"labeled_fraction: this data module already serves {self.labeled_fraction}; "
                              f"one data module serves one fraction (asked for {fraction})")
        first = self.labeled_fraction is None
        self.labeled_fraction = fraction
        if first and self.train_set is not None:
            self._apply_labeled_fraction()

    def _apply_labeled_fraction(self) -> None:
        assert self.train_set is not None and self.labeled_fraction is not None
        labels = self.train_set.labels
        self.labeled_count = count_labeled(labels, self.labeled_fraction)
        announce(self.labeled_count.line())
        mask = labeled_mask(labels, self.labeled_fraction, self.seed)
        self.train_set = TensorBatchDataset(self.train_set.images, torch.where(mask, labels, UNKNOWN), mask)
        self.device_splits.clear()  # a device copy of the old labels must not be served

    def gathers_on_device(self) -> bool:
        """Whether loaders yield index batches that :meth:`transfer_batch_to_device` gathers on the device."""
        if self.on_device != "auto":
            return bool(self.on_device)
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type != "cpu"

    def _split(self, name: str) -> TensorBatchDataset:
        dataset = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[name]
        if dataset is None:
            raise RuntimeError("call setup() before asking for a data loader")
        return dataset

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Gather an index batch on ``device`` from the split's copy there; move any other batch as usual."""
        if isinstance(batch, IndexBatch):
            dataset = self._split(batch.split)
            images, labels = self.device_splits.gather(batch.split, dataset.images, dataset.labels, batch.indices,
                                                       device)
            if dataset.labeled is None:
                return images, labels
            return images, labels, dataset.labeled[batch.indices].to(device, non_blocking=True)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _loader(self, split: str, batch_size: int, train: bool,
                resume: tuple[Tensor | None, int] | None = None) -> DataLoader:
        dataset: Dataset = self._split(split)
        if self.gathers_on_device():
            dataset = IndexBatchDataset(len(dataset), split)
        extra: dict[str, Any] = {"resume": resume} if train else {}
        return (ResumableDataLoader if train else DataLoader)(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            collate_fn=passthrough_collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=self.shuffle_generator if train else None,
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled (seeded by ``seed``) training batches, last incomplete batch dropped."""
        resume, self._pending_resume = self._pending_resume, None
        return self._loader("train", self.batch_size, train=True, resume=resume)

    # ------------------------------------------------------------ resuming
    def _training_loader(self) -> ResumableDataLoader | None:
        trainer = self.trainer
        loader = getattr(trainer.fit_loop, "_combined_loader", None) if trainer is not None else None
        for candidate in getattr(loader, "flattened", []):
            if isinstance(candidate, ResumableDataLoader):
                return candidate
        return None

    def state_dict(self) -> dict[str, Any]:
        """Where training stands in the data: saved in every checkpoint so a resumed run continues exactly.

        Holds the shuffle generator's state at the start of the current epoch, the batches of the
        epoch already trained on, and the global torch RNG state (which draws the augmentations).
        """
        state: dict[str, Any] = {"shuffle_generator": self.shuffle_generator.get_state(),
                                 "torch_rng": torch.get_rng_state()}
        loader = self._training_loader()
        if loader is not None and loader.epoch_start_state is not None and self.trainer is not None:
            state["epoch_start_generator"] = loader.epoch_start_state
            state["batches_done"] = self.trainer.fit_loop.epoch_loop.batch_idx + 1
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the RNG states of :meth:`state_dict`; the next training epoch resumes mid-epoch if needed."""
        if "shuffle_generator" in state_dict:
            self.shuffle_generator.set_state(state_dict["shuffle_generator"])
        if "torch_rng" in state_dict:
            torch.set_rng_state(state_dict["torch_rng"])
        self._pending_resume = (state_dict.get("epoch_start_generator"), int(state_dict.get("batches_done", 0)))

    def val_dataloader(self) -> DataLoader:
        """The held-out validation split when ``val_per_class`` > 0, else the test split."""
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        """The (subsetted) test split, every image once, in the split's order (see ``order_seed``)."""
        return self._loader("test", self.eval_batch_size, train=False)

    def predict_dataloader(self) -> DataLoader:
        """Same as ``test_dataloader``."""
        return self.test_dataloader()


def __getattr__(name: str) -> Any:
    """``ImageFolderDataModule``, importable from here as before it moved (its module imports this one)."""
    if name == "ImageFolderDataModule":
        from cl_robust.data.image_folder_datamodule import ImageFolderDataModule

        return ImageFolderDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
