"""Loading CIFAR-10/100 and generic image folders into uint8 tensors held in memory.

Two layouts are read:

- torchvision's: ``root/cifar-10-batches-py`` or ``root/cifar-100-python`` (pickled batches,
  fetched by ``torchvision.datasets.CIFAR10/100`` when ``download=True``);
- an image-folder tree: ``root/cifar10/{train,test}/<class>/*.png``, or ``root`` itself holding
  ``train/`` and ``test/``.

Every split comes back sorted by label (stable), so both layouts give the same order when the
images of a class are in the same order, and "the first N images of a class" means the same
thing for both. Decoded splits are cached in the process and on disk (a ``.pt`` file under
``$CL_ROBUST_CACHE``, else ``~/.cache/cl_robust``), keyed by the files' absolute paths, count
and modification times.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from cl_robust.data.image_files import class_files, decode_images
from cl_robust.errors import ConfigError, check_choice, shown

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup",
    "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house",
    "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
    "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CIFAR_CLASSES: dict[str, tuple[str, ...]] = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES}
DATASETS: tuple[str, ...] = tuple(CIFAR_CLASSES)
SPLITS: tuple[str, ...] = ("train", "test")

# torchvision's folder names, batch files and label keys.
TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
TORCHVISION_FILES = {
    ("cifar10", "train"): [f"data_batch_{i}" for i in range(1, 6)],
    ("cifar10", "test"): ["test_batch"],
    ("cifar100", "train"): ["train"],
    ("cifar100", "test"): ["test"],
}
TORCHVISION_LABEL_KEY = {"cifar10": "labels", "cifar100": "fine_labels"}

#: Side of CIFAR's images, in pixels.
CIFAR_IMAGE_SIZE = 32


class Split(tuple):
    """One loaded split, ``(images uint8 [N,3,S,S], labels int64 [N], classes)`` (it unpacks as those three).

    ``resized`` counts the images that were resized to S x S because the caller allowed it, by their
    original size (``{"64x64": 500}``); empty when every image already had the size.
    """

    resized: dict[str, int]

    def __new__(cls, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                resized: dict[str, int] | None = None) -> Split:
        split = super().__new__(cls, (images, labels, list(classes)))
        split.resized = dict(resized or {})
        return split


_MEMORY_CACHE: dict[str, Split] = {}


class DataNotFoundError(ConfigError):
    """The data set is not under the root and may not be downloaded."""


def default_root() -> str:
    """Where data sets live unless told otherwise: ``$CL_ROBUST_DATA``, else ``./data``."""
    return os.environ.get("CL_ROBUST_DATA") or "./data"


def cache_dir() -> Path:
    """Folder of the on-disk decode cache: ``$CL_ROBUST_CACHE``, else ``~/.cache/cl_robust``."""
    return Path(os.environ.get("CL_ROBUST_CACHE") or Path.home() / ".cache" / "cl_robust")


def load_split(dataset: str, root: str | os.PathLike, split: str, download: bool = False,
               resize: bool = False) -> Split:
    """Load one split of CIFAR-10/100 as ``(images uint8 [N,3,32,32], labels int64 [N], classes)``.

    Reads torchvision's layout or an image-folder tree under ``root`` (see the module docstring);
    with ``download=True`` torchvision fetches the archive when neither is present. An image folder's
    class folders must carry the data set's class names (labels follow them), and its images must be
    32x32 unless ``resize`` is true (then they are resized, counted in ``Split.resized``).
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("split", split, SPLITS)
    root_path = _check_root(root)

    torchvision_dir = root_path / TORCHVISION_FOLDERS[dataset]
    if not torchvision_dir.is_dir():
        image_folder = _find_image_folder(root_path, dataset, split)
        if image_folder is not None:
            return _load_cifar_image_folder(image_folder, dataset, resize)
        if not download:
            raise DataNotFoundError(_missing_message(dataset, root_path))
    if download and not all((torchvision_dir / name).is_file() for name in TORCHVISION_FILES[dataset, split]):
        _download(dataset, root_path, split)
    return _load_torchvision(torchvision_dir, dataset, split)


def load_image_folder(root: str | os.PathLike, split: str, image_size: int = 32, resize: bool = False) -> Split:
    """Load ``root/<split>/<class>/*`` as ``(images uint8 [N,3,S,S], labels int64 [N], classes)``.

    Classes are the sorted sub-folder names. Images must be ``image_size`` square; with ``resize``
    the others are resized (bilinear) so that all stack into one tensor, and counted in
    ``Split.resized``.
    """
    check_choice("split", split, SPLITS)
    if image_size < 1:
        raise ConfigError(f"image_size must be >= 1, got {shown(image_size)}")
    split_dir = _check_root(root) / split
    if not split_dir.is_dir():
        raise DataNotFoundError(
            f"No '{split}' folder in image-folder root '{split_dir.parent}': expected "
            f"'{split_dir.parent}/{{train,test}}/<class>/*.png'"
        )
    fix = (f"set image_size to the images' size, or resize: true to resize them to {image_size}x{image_size} "
           "(bilinear; recorded in the checkpoint)")
    return _decode_folder_cached(split_dir, image_folder_classes(split_dir), image_size, resize, fix)


def image_folder_classes(split_dir: str | os.PathLike) -> list[str]:
    """Sorted names of the class sub-folders of one split folder."""
    classes = sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())
    if not classes:
        raise ConfigError(f"Image folder '{split_dir}' has no class sub-folders (<class>/*.png)")
    return classes


def _check_root(root: str | os.PathLike) -> Path:
    path = Path(root).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"Data root '{path}' is a file; root must be a folder holding the data set")
    return path


def _missing_message(dataset: str, root: Path) -> str:
    return (
        f"No {dataset} data under root '{root}': looked for torchvision's layout "
        f"('{root / TORCHVISION_FOLDERS[dataset]}') and the image-folder layout "
        f"('{root / dataset}/{{train,test}}/<class>/*.png', or root itself holding train/ and test/); "
        f"set the CL_ROBUST_DATA variable (or root) to the folder that holds it, or pass download=true"
    )


def _find_image_folder(root: Path, dataset: str, split: str) -> Path | None:
    for candidate in (root / dataset, root):
        if (candidate / split).is_dir():
            return candidate / split
    return None


def _download(dataset: str, root: Path, split: str) -> None:
    from torchvision import datasets

    builder = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    try:
        builder(str(root), train=split == "train", download=True)
    except Exception as error:  # network errors come in many types
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataNotFoundError(
            f"{_missing_message(dataset, root)}; the download failed: {message}"
        ) from error


def _load_torchvision(folder: Path, dataset: str, split: str) -> Split:
    files = [folder / name for name in TORCHVISION_FILES[dataset, split]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DataNotFoundError(
            f"{_missing_message(dataset, folder.parent)}; '{folder}' lacks {', '.join(missing)}"
        )
    return _cached(files, lambda: _read_torchvision(files, dataset))


def _read_torchvision(files: list[Path], dataset: str) -> Split:
    images, labels = [], []
    for file in files:
        entry = _unpickle(file)
        try:
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(entry[TORCHVISION_LABEL_KEY[dataset]], dtype=np.int64))
        except (KeyError, ValueError) as error:
            raise ConfigError(f"CIFAR batch file '{file}' is not in torchvision's format: {error}") from error
    all_labels = np.concatenate(labels)
    classes = list(CIFAR_CLASSES[dataset])
    missing = [name for label, name in enumerate(classes) if not (all_labels == label).any()]
    if missing:
        raise ConfigError(f"CIFAR batch files {', '.join(repr(str(file)) for file in files)} hold no image of the "
                          f"class(es) {', '.join(map(repr, missing))}; every {dataset} class needs images (use the "
                          f"complete files, or per_class / test_per_class to take a subset)")
    return _sorted_by_label(torch.from_numpy(np.concatenate(images)), torch.from_numpy(all_labels), classes)


def _unpickle(file: Path) -> dict:
    try:
        with open(file, "rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except Exception as error:
        raise ConfigError(f"CIFAR batch file '{file}' cannot be read: {error}") from error


def _load_cifar_image_folder(split_dir: Path, dataset: str, resize: bool) -> Split:
    """Image-folder CIFAR: its class folders must be named as the data set's classes, whose order gives the labels.

    A renamed folder (``plane`` for ``airplane``) would shift the label of every class sorted after
    it, so the names are checked, not just their count.
    """
    folder_classes = image_folder_classes(split_dir)
    canonical = list(CIFAR_CLASSES[dataset])
    if len(folder_classes) != len(canonical):
        raise ConfigError(
            f"Image folder '{split_dir}' has {len(folder_classes)} classes but dataset={dataset!r} "
            f"has {len(canonical)}; point root at a {dataset} tree or choose the matching dataset"
        )
    unknown = [name for name in folder_classes if name not in canonical]
    if unknown:
        missing = [name for name in canonical if name not in folder_classes]
        raise ConfigError(
            f"Image folder '{split_dir}': class folder(s) {', '.join(map(repr, unknown))} are not {dataset} class "
            f"names (missing: {', '.join(map(repr, missing))}); labels follow {dataset}'s class names, so rename "
            f"the folders to them, or read the tree with data.class_path cl_robust.data.ImageFolderDataModule"
        )
    size = f"{CIFAR_IMAGE_SIZE}x{CIFAR_IMAGE_SIZE}"
    fix = (f"{dataset}'s images are {size}; give {size} images, or pass resize: true (evaluate / analyze: "
           f"--data.resize) to resize them to {size} (bilinear; recorded in the outputs)")
    return _decode_folder_cached(split_dir, canonical, CIFAR_IMAGE_SIZE, resize, fix)


def _decode_folder_cached(split_dir: Path, classes: Sequence[str], image_size: int, resize: bool, fix: str) -> Split:
    files, labels = class_files(split_dir, classes)
    if not files:
        raise DataNotFoundError(f"Image folder '{split_dir}' has no images (<class>/*.png)")

    def decode() -> Split:
        images, resized = decode_images(files, image_size, resize, f"Image folder '{split_dir}'", fix)
        return Split(images, torch.tensor(labels, dtype=torch.int64), classes, resized)

    return _cached(files, decode, extra=f"{image_size}|resize={resize}|{'|'.join(classes)}")


def _sorted_by_label(images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> Split:
    order = torch.argsort(labels, stable=True)
    return Split(images[order].contiguous(), labels[order].contiguous(), classes)


def _cached(files: Sequence[str | Path], decode: Callable[[], Split], extra: str = "") -> Split:
    """Return ``decode()``, memoised in the process and in a ``.pt`` file keyed by the files' state."""
    stamp = hashlib.sha256()
    stamp.update(f"{extra}|{len(files)}".encode())
    for file in files:
        stamp.update(f"|{file}|{os.stat(file).st_mtime_ns}".encode())
    key = stamp.hexdigest()[:32]
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]

    cache_file = cache_dir() / f"split-{key}.pt"
    loaded = _read_cache(cache_file)
    if loaded is None:
        loaded = decode()
        _write_cache(cache_file, loaded)
    _MEMORY_CACHE[key] = loaded
    return loaded


def _read_cache(cache_file: Path) -> Split | None:
    if not cache_file.is_file():
        return None
    try:
        images, labels, classes, *resized = torch.load(cache_file, weights_only=True)
        return Split(images, labels, classes, resized[0] if resized else None)
    except Exception:  # a stale or half-written cache is decoded again
        return None


def _write_cache(cache_file: Path, split: Split) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        torch.save((*split, split.resized), partial)
        os.replace(partial, cache_file)
    except OSError:  # read-only home or cache folder: keep the in-process cache only
        pass
