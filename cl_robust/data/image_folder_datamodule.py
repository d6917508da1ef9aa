"""``ImageFolderDataModule``: any ``root/{train,test}/<class>/*`` image tree, served as CIFAR is."""
from __future__ import annotations

from pathlib import Path

import lightning
import torch

from cl_robust.data.cifar import DataNotFoundError, Split, image_folder_classes, load_image_folder
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError, shown


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
