"""Command-line options shared by ``cl-robust evaluate`` and ``cl-robust analyze``.

Problems are raised as ConfigError, which ``cl-robust`` prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import NoReturn

import torch

from cl_robust.commands.checkpoint import check_checkpoint_data
from cl_robust.data.cifar import DATASETS
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.image_folder_datamodule import ImageFolderDataModule
from cl_robust.errors import ConfigError

#: ``--data.dataset`` for any ``root/{train,test}/<class>/*`` image tree (``ImageFolderDataModule``).
IMAGE_FOLDER = "image_folder"

#: Device kinds ``evaluate`` and ``analyze`` run on (the attacks and the CKA are tested there).
DEVICE_TYPES = ("cpu", "cuda")


class CommandParser(argparse.ArgumentParser):
    """argparse that raises ConfigError (one line, exit 2 through ``cl-robust``) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog.split()[-1]}: {message} (see --help)")


def add_model_arguments(parser: argparse.ArgumentParser, prefix: str = "", what: str = "the model") -> None:
    """``--[prefix_]model``, ``--[prefix_]model_args``, ``--[prefix_]weights``, ``--[prefix_]normalize``: a model
    from elsewhere instead of a checkpoint."""
    parser.add_argument(f"--{prefix}model", default=None,
                        help=f"{what} from elsewhere instead of a checkpoint: package.module:callable, torchvision:NAME "
                             "or timm:NAME, mapping images in [0, 1] to logits")
    parser.add_argument(f"--{prefix}model_args", default=None,
                        help=f"keyword arguments of --{prefix}model, a JSON or YAML mapping, e.g. '{{\"num_classes\": 10}}'")
    parser.add_argument(f"--{prefix}weights", default=None,
                        help=f"state dict of --{prefix}model (torch.save file; also under state_dict, model_state_dict, "
                             "model or net, 'module.' prefixes removed), loaded strictly")
    parser.add_argument(f"--{prefix}normalize", action="store_true",
                        help=f"--{prefix}model expects inputs normalised with the data's mean and std (--data.mean / "
                             "--data.std, else the data set's own); without it the model gets images in [0, 1]")


def add_common_arguments(parser: argparse.ArgumentParser, default_batch_size: int = 256) -> None:
    """``--checkpoint`` or ``--model``, data, batch size, ``--output``, ``--device``, ``--devices`` and ``--wandb``."""
    parser.add_argument("--checkpoint", default=None, help="a .ckpt written by cl-robust fit (or give --model)")
    add_model_arguments(parser)
    parser.add_argument("--output", required=True, help="folder for the result files (created if missing)")
    parser.add_argument("--data.dataset", dest="dataset", default="cifar10", choices=(*DATASETS, IMAGE_FOLDER),
                        help=f"cifar10, cifar100, or {IMAGE_FOLDER}: --data.root holds train/ and test/ with a "
                             "folder of images a class (default: cifar10)")
    parser.add_argument("--data.root", dest="root", default=None,
                        help="data folder (torchvision CIFAR layout or image folders); default $CL_ROBUST_DATA or ./data")
    parser.add_argument("--data.image_size", dest="image_size", type=_positive_int, default=32,
                        help=f"side of the square images of --data.dataset {IMAGE_FOLDER} (default: 32)")
    parser.add_argument("--data.mean", dest="mean", type=float, nargs="+", default=None,
                        help="per-channel mean for --normalize (default: the data set's own)")
    parser.add_argument("--data.std", dest="std", type=float, nargs="+", default=None,
                        help="per-channel std for --normalize (default: the data set's own)")
    parser.add_argument("--data.test_per_class", dest="test_per_class", type=int, default=None,
                        help="N test images of each class, drawn by --order_seed (default: the whole test set)")
    parser.add_argument("--order_seed", type=_order_seed, default=0,
                        help="seed of the random order of the test images (and of the per-class subsets): batches "
                             "are random samples whatever order the data is stored in; 'none' keeps the "
                             "storage order (class by class) (default: 0)")
    parser.add_argument("--data.download", dest="download", action="store_true", help="download CIFAR if missing")
    parser.add_argument("--data.resize", dest="resize", action="store_true",
                        help="resize image-folder images of another size to --data.image_size (bilinear; announced and "
                             "recorded in the outputs); without it such images are refused")
    parser.add_argument("--batch_size", type=int, default=default_batch_size)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--devices", type=_positive_int, default=1,
                        help="processes to share the test batches between, one per device (gloo on cpu, NCCL "
                             "on cuda with rank r on cuda:r); counts are summed exactly (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random starts and of AutoAttack")
    parser.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (offline mode works)")
    parser.add_argument("--wandb_project", default="cl_robust")


def _order_seed(text: str) -> int | None:
    if text.strip().lower() in ("none", "null"):
        return None
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be an integer >= 0 or none; got {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return int(text)


def build_datamodule(args: argparse.Namespace, per_class: int | None = None) -> CIFARDataModule:
    """The data module of the options, set up (test split in memory, in a fixed order).

    The data must have the class names and image size that ``--checkpoint`` (and ``--compare``) recorded
    when trained on the same data set (ConfigError otherwise; another data set is refused by ``check_fits``).
    """
    if args.batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {args.batch_size}")
    common = {"batch_size": 1, "eval_batch_size": args.batch_size, "per_class": per_class,
              "test_per_class": args.test_per_class, "seed": args.seed, "order_seed": args.order_seed,
              "resize": getattr(args, "resize", False), "mean": args.mean, "std": args.std}
    if args.dataset == IMAGE_FOLDER:
        if args.root is None:
            raise ConfigError(f"--data.dataset {IMAGE_FOLDER} needs --data.root: the folder holding train/ and test/")
        datamodule: CIFARDataModule = ImageFolderDataModule(root=args.root, image_size=args.image_size, **common)
    else:
        datamodule = CIFARDataModule(dataset=args.dataset, root=args.root, download=args.download, **common)
    if args.download:
        datamodule.prepare_data()
    datamodule.setup("test")
    for option in ("checkpoint", "compare"):
        path = getattr(args, option, None)
        if path:
            check_checkpoint_data(path, datamodule.record(), option)
    return datamodule


def check_device_name(name: str) -> torch.device:
    """``name`` as a device of a kind the commands run on (cpu, cuda, cuda:N); ConfigError otherwise."""
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ConfigError(f"device must be cpu, cuda or cuda:N; got {name!r}")
    return device


def resolve_device(name: str) -> torch.device:
    """``name`` as a device, refusing CUDA when there is none."""
    device = check_device_name(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: no CUDA device is available here; use --device cpu")
    return device


def prepare_output_dir(path: str | os.PathLike, option: str = "output") -> Path:
    """Create ``path`` and check that files can be written there, before any work starts."""
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ConfigError(f"{option}: cannot write to {os.fspath(path)!r} ({error.strerror or error})") from None
    return folder
