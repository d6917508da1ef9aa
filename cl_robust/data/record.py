"""What a data module served, as recorded in the outputs, and the check that later data is the same kind.

A checkpoint records the record of the data it was trained on (``checkpoint["cl_robust"]["data"]``):
the data set, its class names in label order, the image size, and what the data module changed
on request (images resized, the labelled count of a semi-supervised fraction). ``evaluate``,
``analyze`` and ``test`` compare the data they are given with it (:func:`check_same_data`): a class
folder named differently would shift labels, another image size would be resized or mis-read.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cl_robust.errors import ConfigError

#: Class names a message lists before it abbreviates.
SHOWN_CLASSES = 4


def data_record(datamodule: Any) -> dict[str, Any]:
    """The record of a set-up cl_robust data module (see the module docstring)."""
    labeled = getattr(datamodule, "labeled_count", None)
    val_per_class = getattr(datamodule, "val_per_class", 0)
    return {
        "dataset": datamodule.dataset,
        "classes": list(datamodule.classes),
        "image_size": int(datamodule.image_size),
        "resize": bool(getattr(datamodule, "resize", False)),
        "resized": {split: dict(sizes) for split, sizes in getattr(datamodule, "resized", {}).items()},
        "validation": "test split" if getattr(datamodule, "validates_on_test", False)
        else f"held out of the training images, {val_per_class} a class",
        "labeled": labeled.record() if labeled is not None else None,
    }


def resize_line(resized: Mapping[str, Mapping[str, int]], image_size: int) -> str:
    """One line saying which images were resized to ``image_size`` square (``resized``: split -> size -> count)."""
    parts = [f"{sum(sizes.values())} {split} images ({', '.join(sorted(sizes))})" for split, sizes in resized.items()]
    return (f"resize: resized {' and '.join(parts)} to {image_size}x{image_size} (bilinear); recorded in the "
            "checkpoint and result files")


def _classes_text(classes: list[str]) -> str:
    shown = ", ".join(classes[:SHOWN_CLASSES])
    return shown + (f", ... ({len(classes)} classes)" if len(classes) > SHOWN_CLASSES else "")


def check_same_data(recorded: Mapping[str, Any] | None, served: Mapping[str, Any], where: str) -> None:
    """ConfigError when ``served`` (a :func:`data_record`) has other class names or another image size than
    ``recorded`` (a checkpoint's); ``where`` names the checkpoint. Nothing is checked that was not recorded."""
    if not recorded:
        return
    trained, given = list(recorded.get("classes") or []), list(served.get("classes") or [])
    if trained and given and trained != given:
        if len(trained) != len(given):
            detail = f"{len(given)} classes, not {len(trained)}"
        else:
            label, was, now = next((i, a, b) for i, (a, b) in enumerate(zip(trained, given, strict=True)) if a != b)
            detail = f"label {label} is {now!r} in the data but {was!r} in the checkpoint"
        raise ConfigError(f"{where} was trained on the classes {_classes_text(trained)}, but the data's classes differ "
                          f"({detail}), so its labels would mean other classes; give data whose class folders carry "
                          "the checkpoint's class names")
    size, given_size = recorded.get("image_size"), served.get("image_size")
    if size and given_size and int(size) != int(given_size):
        raise ConfigError(f"{where} was trained on {size}x{size} images but the data serves {given_size}x{given_size}; "
                          f"give {size}x{size} images (image folders: image_size {size}, and resize: true for files "
                          "of another size)")
