"""A callback that slows each training step down, so a test can kill a run in the middle of an epoch."""
from __future__ import annotations

import time
from typing import Any

from lightning.pytorch.callbacks import Callback


class StepPause(Callback):
    """Sleep ``seconds`` after every training batch (changes no number, only the timing)."""

    def __init__(self, seconds: float = 0.3) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args: Any) -> None:
        time.sleep(self.seconds)
