"""Callbacks that set a run's pace for the tests that interrupt it: ``StepPause`` slows each training
step down, so that a test can kill a run in the middle of an epoch; ``HoldForSignal`` stops the run at
one step until a signal has reached it, so that a signal lands at a known step whatever the load."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class StepPause(Callback):
    """Sleep ``seconds`` after every training batch (changes no number, only the timing)."""

    def __init__(self, seconds: float = 0.3) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args: Any) -> None:
        time.sleep(self.seconds)


class HoldForSignal(Callback):
    """At the end of training step ``step``, write ``marker`` and wait until SLURM's requeue signal
    (``RequeueAtStepEnd`` has seen it) or SIGTERM has reached the run, ``timeout`` seconds at most.

    A test that signals the job once ``marker`` exists knows where the signal lands: at the end of
    ``step`` (the requeue callback runs after this one and saves there). The hold happens once per
    ``marker``: a run started again (requeued, or submitted again after a cancel) goes straight on.
    Under DDP every rank holds and they leave together (a collective decision, as the requeue's).
    Changes no number, only the timing.
    """

    def __init__(self, step: int, marker: str, timeout: float = 600.0) -> None:
        self.step, self.marker, self.timeout = step, Path(marker), timeout
        self.active = False

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.active = not self.marker.exists()  # decided before any rank can write it

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if not self.active or trainer.global_step != self.step:
            return
        self.active = False
        # By name: under ``python -m cl_robust.cli`` the class lives in ``__main__``, not in ``cl_robust.cli``.
        (requeue,) = (callback for callback in trainer.callbacks if type(callback).__name__ == "RequeueAtStepEnd")
        if trainer.is_global_zero:
            self.marker.write_text(f"held at step {self.step}\n")
        deadline = time.monotonic() + self.timeout
        while not trainer.strategy.reduce_boolean_decision(
                requeue.signalled or trainer.received_sigterm or time.monotonic() > deadline, all=False):
            time.sleep(0.05)
