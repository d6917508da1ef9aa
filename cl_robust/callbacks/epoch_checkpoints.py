"""Keep the weights after chosen epochs, so one run gives several training lengths.

A study that asks how a quantity changes with the length of fine-tuning evaluates the
checkpoints of one run after 1, 2, ... epochs instead of training one run per length. With a
constant learning rate the first k epochs of a longer run are the k-epoch run (same seed,
same batches); with a schedule that depends on the run's length (cosine), they are not.
Lightning's ``ModelCheckpoint`` names files by the 0-based epoch index and keeps every epoch
or the best few; this callback writes exactly ``epoch<k>.ckpt`` after the k-th finished epoch.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from cl_robust.errors import ConfigError


def epoch_checkpoint_name(epochs: int) -> str:
    """The file written after ``epochs`` finished epochs."""
    return f"epoch{epochs}.ckpt"


class EpochCheckpoints(Callback):
    """Save ``<dirpath>/epoch<k>.ckpt`` at the end of each epoch ``k`` in ``epochs`` (counted from 1).

    Args:
        epochs: finished-epoch counts to keep, e.g. ``[1, 2, 5]``; each must be reachable
            (at most ``trainer.max_epochs``), checked when fitting starts.
        dirpath: folder of the files; ``None``: the folder of the run's ``ModelCheckpoint``.
    """

    def __init__(self, epochs: list[int], dirpath: str | None = None) -> None:
        values = list(epochs) if isinstance(epochs, (list, tuple)) else None
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values) \
                or values != sorted(set(values)):
            raise ConfigError(f"epochs must be an increasing list of distinct integers >= 1 (finished epochs "
                              f"after which to keep a checkpoint, e.g. [1, 2, 5]); got {epochs!r}")
        self.epochs = values
        self.dirpath = dirpath

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.max_epochs is not None and trainer.max_epochs >= 0 and self.epochs[-1] > trainer.max_epochs:
            raise ConfigError(f"epoch checkpoints: epoch {self.epochs[-1]} is never reached with "
                              f"trainer.max_epochs {trainer.max_epochs}; raise max_epochs or drop it from epochs")

    def _folder(self, trainer: L.Trainer) -> Path:
        if self.dirpath is not None:
            return Path(self.dirpath)
        callback = trainer.checkpoint_callback
        folder = getattr(callback, "dirpath", None)
        if folder is None:
            raise ConfigError("epoch checkpoints need dirpath, or a ModelCheckpoint with a dirpath in the run")
        return Path(folder)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        finished = trainer.current_epoch + 1
        if finished in self.epochs:
            trainer.save_checkpoint(self._folder(trainer) / epoch_checkpoint_name(finished))
