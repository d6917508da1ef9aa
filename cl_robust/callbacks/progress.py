"""Lightning's rich progress bar, with an epoch counter that reads what ends the run.

Lightning writes ``Epoch {e}/{max_epochs - 1}``: a run bounded by ``max_steps`` alone (``max_epochs``
left at -1) shows ``Epoch 0/-2``, and ``max_epochs: 200`` with ``max_steps: 3`` shows ``Epoch 0/199``
for a run that stops after three steps. Here the counter names the limit that comes first.
"""
from __future__ import annotations

import math

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar


def epoch_description(trainer: Trainer, current_epoch: int) -> str:
    """``Epoch 3/199`` when the epochs end the run, ``Epoch 0 (ends at step 3)`` when ``max_steps`` does first."""
    max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
    epochs_bound = max_epochs is not None and max_epochs >= 1
    if max_steps is not None and max_steps >= 0:
        batches = trainer.num_training_batches
        steps_per_epoch = math.ceil(batches / max(1, trainer.accumulate_grad_batches)) if math.isfinite(batches) else None
        if not epochs_bound or steps_per_epoch is None or max_steps < max_epochs * steps_per_epoch:
            return f"Epoch {current_epoch} (ends at step {max_steps})"
    return f"Epoch {current_epoch}/{max_epochs - 1}" if epochs_bound else f"Epoch {current_epoch}"


class RunProgressBar(RichProgressBar):
    """:class:`~lightning.pytorch.callbacks.RichProgressBar` whose epoch reads :func:`epoch_description`."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = epoch_description(self.trainer, current_epoch)
        if len(self.validation_description) > len(description):  # as Lightning: no flicker between the bars
            description = f"{description:{len(self.validation_description)}}"
        return description


def default_progress_bar(trainer_config: dict) -> list[RunProgressBar]:
    """``[RunProgressBar()]`` where Lightning would add its own rich bar (bar enabled, none configured, rich
    installed), else ``[]``."""
    from lightning.pytorch.callbacks import ProgressBar
    from lightning.pytorch.callbacks.progress.rich_progress import _RICH_AVAILABLE

    configured = trainer_config.get("callbacks") or []
    configured = configured if isinstance(configured, list) else [configured]
    if trainer_config.get("enable_progress_bar") is False or not _RICH_AVAILABLE:
        return []
    if any(isinstance(callback, ProgressBar) for callback in configured):
        return []
    return [RunProgressBar()]
