"""Resuming ``cl-robust fit``: checking the checkpoint it resumes from, and logging on where it left off.

``fit`` resumes by itself from the run's ``last.ckpt`` (``--ckpt_path last``, see
:func:`cl_robust.commands.lightning_cli.with_resume_default`); a resumed run logs into the folder of
the run it resumes (:func:`continue_in_log_folder`).
"""

from __future__ import annotations

import csv
import os
import zipfile
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from cl_robust.errors import ConfigError
from cl_robust.methods.checkpoints import RUN_RECORD_KEY


@rank_zero_only
def resume_notice(message: str) -> None:
    """Print ``cl-robust: <message>`` on stdout (rank 0): where a run resumes from, or that it starts fresh
    or was requeued."""
    print(f"cl-robust: {message}", flush=True)


def continue_in_log_folder(trainer: Trainer, ckpt_path: str) -> None:
    """A resumed run logs into the folder of the run it resumes, not into a new ``version_N``.

    Applies to CSV and TensorBoard loggers whose version the config leaves unset; the checkpoint
    records the version it was written under. CSV metrics are appended to the same ``metrics.csv``.
    """
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # checked by check_resume_checkpoint already; nothing to continue here
        return
    version = (checkpoint.get(RUN_RECORD_KEY) or {}).get("log_version")
    if version is None:
        return
    for logger in trainer.loggers:
        if isinstance(logger, (CSVLogger, TensorBoardLogger)) and logger._version is None:
            logger._version = version
            if isinstance(logger, CSVLogger):
                _keep_earlier_metrics(logger, int(checkpoint.get("global_step", 0)))


@rank_zero_only
def _keep_earlier_metrics(logger: CSVLogger, resumed_step: int) -> None:
    """Lightning's CSV writer deletes an existing ``metrics.csv``: hand its rows before ``resumed_step``
    (the later ones are logged again by the resumed run) to the new writer, which saves them first."""
    path = os.path.join(logger.log_dir, "metrics.csv")
    if not os.path.isfile(path):
        return
    with open(path, newline="") as file:
        rows = [{key: value for key, value in row.items() if value != ""} for row in csv.DictReader(file)]
    earlier = [row for row in rows if int(float(row.get("step", 0))) < resumed_step]
    writer = logger.experiment  # created now: the old file is gone, its rows are kept here
    writer.metrics = [*earlier, *writer.metrics]


def check_resume_checkpoint(path: str, model: Any = None) -> None:
    """ConfigError unless ``path`` is a complete training checkpoint (of ``model``'s architecture when given).

    A kill while copying a checkpoint across file systems can truncate it; a foreign file gives
    Lightning's long tracebacks. The file is memory-mapped, so checking costs little.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"ckpt_path: no such file {path!r}; give a .ckpt written by cl-robust fit, "
                          "'last' or null (start over)")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"ckpt_path: {path!r} is truncated or not a checkpoint (a run killed while writing it "
                          "can leave this); delete or rename it to resume from another checkpoint in "
                          f"{os.path.dirname(path) or '.'!r}, or pass --ckpt_path null to start over")
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:
        raise ConfigError(f"ckpt_path: {path!r} cannot be read ({type(error).__name__}); give a .ckpt written by "
                          "cl-robust fit or pass --ckpt_path null to start over") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise ConfigError(f"ckpt_path: {path!r} is not a training checkpoint (no state_dict / loop state); "
                          "to start from pretrained weights use the fine-tuning config's pretrained_checkpoint")
    if model is not None:
        expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
        found = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items()}
        if expected != found:
            different = sorted(set(expected) ^ set(found)) or [n for n in expected if expected[n] != found[n]]
            raise ConfigError(f"ckpt_path: {path!r} holds another model ({len(different)} tensors differ, e.g. "
                              f"{different[0]!r}); resume with the options it was trained with, or pass "
                              "--ckpt_path null to start over")


def hpc_checkpoint(trainer: Trainer) -> str | None:
    """Lightning's SLURM requeue checkpoint (``hpc_ckpt_<n>.ckpt`` in ``default_root_dir``), if any: under
    SLURM, ``Trainer.fit(ckpt_path=None)`` loads it by itself."""
    return trainer._checkpoint_connector._hpc_resume_path
