"""Lightning data modules serving whole uint8 batches from tensors held in memory.

Batches are ``(images uint8 [B,3,H,W], labels int64 [B])``; augmentation happens later, on the
device (``cl_robust.data.augment``). A ``TensorBatchDataset`` answers ``__getitems__`` with an
already stacked batch, so a standard ``DataLoader`` (and Lightning's distributed sampler
replacement) fetches a batch with one indexing operation instead of per-sample Python.

For the semi-supervised schemes a data module also serves a labelled mask: training batches
become ``(images, labels, labeled)``, and the label of every unlabelled image is -1 before it
leaves the data module (:meth:`CIFARDataModule.serve_labeled_fraction`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cl_robust.data.cifar import (
    CIFAR_CLASSES,
    CIFAR_IMAGE_SIZE,
    DATASETS,
    DataNotFoundError,
    Split,
    default_root,
    image_folder_classes,
    load_image_folder,
    load_split,
)
from cl_robust.data.device_data import DeviceSplits, IndexBatch, IndexBatchDataset, check_on_device
from cl_robust.data.normalization import Normalization, check_statistics, dataset_normalization
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
from cl_robust.errors import ConfigError, check_choice, shown
from cl_robust.losses.masked import UNKNOWN
from cl_robust.notices import announce

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
        if not isinstance(resize, bool):
            raise ConfigError(f"resize must be true or false (resize images of another size, recorded); "
                              f"got {shown(resize)}")
        self.resize = resize  # images of another size may be resized; announced and recorded (record())
        self.resized: dict[str, dict[str, int]] = {}
        if order_seed is not None and (isinstance(order_seed, bool) or not isinstance(order_seed, int)
                                       or order_seed < 0):
            raise ConfigError(f"order_seed must be an integer >= 0, or null to keep the storage order; "
                              f"got {shown(order_seed)}")
        self.order_seed = order_seed
        self.device_splits = DeviceSplits()
        self._validate_common(batch_size, eval_batch_size, per_class, val_per_class, test_per_class, num_workers)
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

    @staticmethod
    def _validate_common(batch_size: int, eval_batch_size: int | None, per_class: int | None,
                         val_per_class: int, test_per_class: int | None, num_workers: int) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {shown(batch_size)}")
        if eval_batch_size is not None and (not isinstance(eval_batch_size, int) or eval_batch_size < 1):
            raise ConfigError(f"eval_batch_size must be a positive integer or null, got {shown(eval_batch_size)}")
        for name, value in (("per_class", per_class), ("test_per_class", test_per_class)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an integer >= 1 or null (all images), got {shown(value)}")
        if not isinstance(val_per_class, int) or val_per_class < 0:
            raise ConfigError(f"val_per_class must be an integer >= 0, got {shown(val_per_class)}")
        if per_class is not None and val_per_class >= per_class:
            raise ConfigError(
                f"val_per_class={val_per_class} must be smaller than per_class={per_class} "
                "(validation images are held out of the training subset)"
            )
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"num_workers must be an integer >= 0, got {shown(num_workers)}")

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


class ImageFolderDataModule(CIFARDataModule):
    """Any ``root/{train,test}/<class>/*`` image tree of ``image_size`` square images (others refused unless
    ``resize``: then resized, announced and recorded), same batches as CIFAR.

    The normalisation's mean and std are computed from the training split unless given (``mean``, ``std``).
    """

    def __init__(
        self,
        root: str,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        per_class: int | None = None,
        val_per_class: int = 0,
        test_per_class: int | None = None,
        image_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        on_device: bool | str = "auto",
        order_seed: int | None = 0,
        resize: bool = False,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        lightning.LightningDataModule.__init__(self)
        self.save_hyperparameters()
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ConfigError(f"image_size must be a positive integer, got {shown(image_size)}")
        self.dataset = "image_folder"
        self._set_options(root, batch_size, eval_batch_size, per_class, val_per_class, test_per_class,
                          num_workers, seed, on_device, order_seed, resize)
        train_dir = Path(root).expanduser().absolute() / "train"
        if not train_dir.is_dir():
            raise DataNotFoundError(
                f"No image-folder data under root '{train_dir.parent}': expected "
                f"'{train_dir.parent}/{{train,test}}/<class>/*' (one sub-folder per class)"
            )
        self.image_size = image_size
        self._set_normalization(mean, std)
        self.download = False
        self._folder_classes = image_folder_classes(train_dir)
        self.num_classes = len(self._folder_classes)
        self._check_batch_fits_subset()

    def _load(self, split: str) -> Split:
        loaded = load_image_folder(self.root, split, self.image_size, self.resize)
        images, labels, classes = loaded
        if classes != self._folder_classes:
            # Test classes may be a subset: relabel by the training folder's class names.
            missing = sorted(set(classes) - set(self._folder_classes))
            if missing:
                raise ConfigError(f"Image folder '{self.root}/{split}' has classes not in train/: {missing}")
            mapping = torch.tensor([self._folder_classes.index(name) for name in classes])
            labels = mapping[labels]
        return Split(images, labels, self._folder_classes, loaded.resized)
