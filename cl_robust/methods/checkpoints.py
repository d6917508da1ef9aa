"""Reading pretraining checkpoints written by any cl_robust method, with clear errors."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from cl_robust.errors import ConfigError

CHECKPOINT_KEY = "cl_robust"
#: The run record (seed, library versions, command line) ``cl-robust fit`` adds to its checkpoints.
RUN_RECORD_KEY = "cl_robust_run"
PRETRAINING_SCHEMES = ("sl", "cl", "scl", "cl+scl", "cl+sl", "scl+sl")


def read_checkpoint(path: str | os.PathLike, option: str = "checkpoint") -> dict[str, Any]:
    """Load a Lightning checkpoint written by cl_robust; ConfigError names ``option`` when it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigError(f"{option}: no such file {path!r} (give the path of a .ckpt written by cl-robust fit)")
    if os.path.isdir(path):
        raise ConfigError(f"{option}: {path!r} is a folder; give the path of a .ckpt file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # truncated, corrupt or not a torch file at all
        raise ConfigError(f"{option}: {path!r} is not a readable checkpoint ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise ConfigError(f"{option}: {path!r} was not written by a cl_robust module "
                          "(no cl_robust metadata); pretrain with cl-robust fit first")
    return checkpoint


def submodule_state(state_dict: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state_dict`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {key[len(start):]: value for key, value in state_dict.items() if key.startswith(start)}
