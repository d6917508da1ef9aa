"""Stop training at the first NaN or infinite loss, before it reaches the weights or a checkpoint.

Lightning's own tools do not do this job: ``Trainer(detect_anomaly=True)`` (autograd anomaly
mode) is slow and reports NaNs born inside backward with a traceback, not a NaN loss;
``EarlyStopping(check_finite=True)`` looks at a monitored metric only at validation or epoch
end, after the optimiser has already stepped on NaN gradients and a checkpoint may have saved
the ruined weights. This callback checks the loss in ``on_before_backward``: the bad step
never updates the weights, so nothing written after it exists and the last checkpoint holds
the last good weights.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message is one line for the user."""


class NonFiniteLossGuard(Callback):
    """Raise :class:`NonFiniteLossError` naming the step when the training loss is not finite.

    Args:
        enabled: check every training step (the ``cl-robust`` command line turns it on by default;
            ``--nan_guard.enabled false`` turns it off).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        if not self.enabled or bool(torch.isfinite(loss.detach()).all()):
            return
        raise NonFiniteLossError(self.describe(trainer, pl_module, loss))

    @staticmethod
    def describe(trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> str:
        """One line: which loss, at which step, what was kept, what to try."""
        value = "nan" if bool(torch.isnan(loss.detach()).any()) else "inf"
        checkpoint = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
        return (f"training loss is {value} at step {trainer.global_step} (epoch {trainer.current_epoch}, "
                f"batch {trainer.fit_loop.epoch_loop.batch_idx}); stopped before the weights were updated; "
                f"last good checkpoint: {checkpoint}; lower the learning rate (model.init_args.lr) or check the "
                "data and loss options")

