"""Optimisers and learning-rate schedules shared by every method.

Adam at 3e-4 is the reference study's setting; SGD or LARS (You et al. 2017, via lightly)
with cosine decay after a linear warm-up is what SimCLR and most of the field use.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from lightly.utils.lars import LARS
from lightly.utils.scheduler import CosineWarmupScheduler
from torch import nn

from cl_robust.errors import ConfigError, check_choice, check_positive

OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
SCHEDULERS = ("none", "cosine")


def validate_optimization(optimizer: str, lr: float, weight_decay: float, momentum: float,
                          scheduler: str, warmup_epochs: float) -> None:
    """Check optimisation options up front, before any training starts."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("scheduler", scheduler, SCHEDULERS)
    check_positive("lr", lr)
    if weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
    if warmup_epochs < 0:
        raise ConfigError(f"warmup_epochs must be >= 0, got {warmup_epochs!r}")


def build_optimizer(params: Iterable[nn.Parameter], name: str, lr: float, weight_decay: float,
                    momentum: float) -> torch.optim.Optimizer:
    """The optimiser called ``name`` over ``params``."""
    params = list(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    return LARS(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, warmup_epochs: float, max_epochs: int,
                    steps_per_epoch: int) -> dict | None:
    """A per-step cosine schedule after ``warmup_epochs`` of linear warm-up, or None."""
    if name == "none":
        return None
    total = max(1, int(max_epochs * steps_per_epoch))
    warmup = int(warmup_epochs * steps_per_epoch)
    return {"scheduler": CosineWarmupScheduler(optimizer, warmup_epochs=warmup, max_epochs=total),
            "interval": "step"}
