"""Versions of the software that produced a result file."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def versions() -> dict[str, str | None]:
    """The libraries of a training run's record (:func:`cl_robust.cli.library_versions`) and ``pyautoattack``."""
    from cl_robust.cli import library_versions

    found = library_versions()
    try:
        found["pyautoattack"] = version("pyautoattack")
    except PackageNotFoundError:
        found["pyautoattack"] = None
    return found
