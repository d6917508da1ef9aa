"""Where ``evaluate`` and ``analyze`` get a model: ``--checkpoint`` (cl_robust's) or ``--model`` (anyone's).

Both give a :class:`~cl_robust.commands.checkpoint.LoadedClassifier` checked against the data:
trained for its classes (and image size, when recorded), and mapping images of its size to
logits of its class count. ``analyze --compare`` / ``--compare_model`` take a second model the same
way (``prefix="compare"``), so ours and theirs can be mixed.
"""

from __future__ import annotations

import argparse

from cl_robust.commands.checkpoint import LoadedClassifier, check_fits, load_classifier
from cl_robust.commands.foreign_model import check_logits, load_foreign_classifier, parse_model_args
from cl_robust.commands.options import IMAGE_FOLDER
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.models.foreign import LIBRARIES, import_callable


def _options(args: argparse.Namespace, prefix: str) -> tuple[str | None, str | None, str | None, str | None, bool]:
    """(checkpoint, model, model_args, weights, normalize) of the main model (``prefix`` "") or of ``compare``."""
    start = f"{prefix}_" if prefix else ""
    checkpoint = getattr(args, prefix or "checkpoint")
    return (checkpoint, getattr(args, f"{start}model"), getattr(args, f"{start}model_args"),
            getattr(args, f"{start}weights"), bool(getattr(args, f"{start}normalize")))


def check_model_source(args: argparse.Namespace, prefix: str = "", required: bool = True) -> None:
    """ConfigError unless exactly one of the checkpoint and ``--model`` is given, with only the options that apply."""
    checkpoint, model, model_args, weights, normalize = _options(args, prefix)
    start = f"{prefix}_" if prefix else ""
    checkpoint_option = f"--{prefix or 'checkpoint'}"
    if checkpoint is not None and model is not None:
        raise ConfigError(f"{checkpoint_option} and --{start}model name two models; give one: {checkpoint_option} for a "
                          f".ckpt of cl-robust fit, --{start}model (with --{start}weights) for any other")
    if model is None:
        extra = [name for name, value in ((f"--{start}model_args", model_args), (f"--{start}weights", weights),
                                          (f"--{start}normalize", normalize)) if value]
        if extra:
            raise ConfigError(f"{', '.join(extra)} {'apply' if len(extra) > 1 else 'applies'} to --{start}model (a model from elsewhere); a checkpoint "
                              "records its own architecture, weights and normalisation")
        if checkpoint is None and required:
            raise ConfigError(f"give {checkpoint_option} (a .ckpt written by cl-robust fit) or --{start}model "
                              "(package.module:callable, torchvision:NAME or timm:NAME, with --weights)")
    else:
        parse_model_args(model_args, f"{start}model_args")
        if model.partition(":")[0] not in LIBRARIES:  # an import path: fail before any data is read
            import_callable(model, f"{start}model")
    if not prefix and args.dataset != IMAGE_FOLDER and args.image_size != 32:
        raise ConfigError(f"--data.image_size applies to --data.dataset {IMAGE_FOLDER}; {args.dataset} images are "
                          "32x32")


def given(args: argparse.Namespace, prefix: str) -> bool:
    """Whether a model is given under ``prefix`` (the compared model is optional)."""
    checkpoint, model, *_ = _options(args, prefix)
    return checkpoint is not None or model is not None


def load_model(args: argparse.Namespace, datamodule: CIFARDataModule, prefix: str = "") -> LoadedClassifier:
    """The model of the options (checked with :func:`check_model_source` first), checked against the data."""
    checkpoint, model, model_args, weights, normalize = _options(args, prefix)
    start = f"{prefix}_" if prefix else ""
    size, classes = datamodule.image_size, datamodule.num_classes
    if model is not None:
        return load_foreign_classifier(model, parse_model_args(model_args, f"{start}model_args"), weights,
                                       datamodule.normalization() if normalize else None, size, classes,
                                       option=f"{start}model")
    option = prefix or "checkpoint"
    loaded = load_classifier(checkpoint, option=option)
    check_fits(loaded, args.dataset, classes, option=option, image_size=size)
    check_logits(loaded.model, size, classes, repr(loaded.path), option)
    return loaded


__all__ = ["check_model_source", "given", "load_model"]
