"""Folders a command will write to, checked before any work starts (nothing is created here)."""

from __future__ import annotations

import os
from pathlib import Path

from cl_robust.errors import ConfigError


def check_writable_folder(path: str | os.PathLike, option: str) -> None:
    """ConfigError naming ``option`` unless ``path`` is, or can be created as, a folder we may write in.

    A regular file on the path, or a nearest existing folder without write permission, is refused.
    """
    folder = Path(path).expanduser().absolute()
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == folder else f"goes through {str(existing)!r}, which is a file"
        raise ConfigError(f"{option}: {os.fspath(path)!r} {where}; give a folder (created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: cannot write to {os.fspath(path)!r} ({str(existing)!r} is read-only); "
                          "give a folder you can write to")
