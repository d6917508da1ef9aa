"""Data: CIFAR-10/100 and image folders as uint8 tensors in memory, batched augmentations."""
from cl_robust.data.augment import (
    ContrastiveViews,
    NoAugment,
    SupervisedAugment,
    make_augment,
    to_float,
)
from cl_robust.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    DataNotFoundError,
    default_root,
    load_image_folder,
    load_split,
)
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.image_folder_datamodule import ImageFolderDataModule
from cl_robust.data.synthetic import write_synthetic_cifar

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "CIFARDataModule",
    "ContrastiveViews",
    "DataNotFoundError",
    "ImageFolderDataModule",
    "NoAugment",
    "SupervisedAugment",
    "default_root",
    "load_image_folder",
    "load_split",
    "make_augment",
    "to_float",
    "write_synthetic_cifar",
]
