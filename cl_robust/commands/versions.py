"""Versions of the software that produced a result file: a training run's record and evaluate's or analyze's."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

VERSIONED_PACKAGES = ("cl_robust", "torch", "lightning", "lightly", "torchattacks", "torchmetrics", "torchvision",
                      "timm")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that decide a run's numbers (None when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            versions[name] = None
    return versions


def versions() -> dict[str, str | None]:
    """The libraries of a training run's record (:func:`library_versions`) and ``pyautoattack``."""
    found = library_versions()
    try:
        found["pyautoattack"] = version("pyautoattack")
    except PackageNotFoundError:
        found["pyautoattack"] = None
    return found
