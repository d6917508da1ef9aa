"""Optimisers and learning-rate schedules shared by every method.

Adam at 3e-4 is the reference study's setting; SGD or LARS (You et al. 2017, via lightly)
with cosine decay after a linear warm-up is what SimCLR and most of the field use. ``piecewise``
is the schedule of supervised PGD adversarial training (Madry et al. 2018; Rice et al. 2020,
"Overfitting in adversarially robust deep learning"): the learning rate divided by 10 at half
and at three quarters of training (epochs 100 and 150 of 200), after the optional warm-up.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from lightly.utils.lars import LARS
from lightly.utils.scheduler import CosineWarmupScheduler
from torch import nn

from cl_robust.errors import ConfigError, check_choice, check_number, check_positive, shown

OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
SCHEDULERS = ("none", "cosine", "piecewise")
#: Where ``piecewise`` divides the learning rate by 10, as fractions of the whole schedule.
PIECEWISE_MILESTONES = (0.5, 0.75)


def validate_optimization(optimizer: str, lr: float, weight_decay: float, momentum: float,
                          scheduler: str, warmup_epochs: float, lr_milestones: list[float] | None = None) -> None:
    """Check optimisation options up front, before any training starts."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("scheduler", scheduler, SCHEDULERS)
    check_positive("lr", lr)
    for name, value in (("weight_decay", weight_decay), ("momentum", momentum), ("warmup_epochs", warmup_epochs)):
        check_number(name, value)
    if weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {shown(weight_decay)}")
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {shown(momentum)}")
    if warmup_epochs < 0:
        raise ConfigError(f"warmup_epochs must be >= 0, got {shown(warmup_epochs)}")
    if lr_milestones is not None:
        if scheduler != "piecewise":
            raise ConfigError(f"lr_milestones apply to scheduler 'piecewise' only; got scheduler {scheduler!r}")
        values = list(lr_milestones) if isinstance(lr_milestones, (list, tuple)) else None
        if (not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in values)
                or values != sorted(set(values))):
            raise ConfigError("lr_milestones must be a non-empty increasing list of epochs > 0 (e.g. [100, 105]) "
                              f"or null (half and three quarters of training); got {shown(lr_milestones)}")


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
                    steps_per_epoch: int, milestones: list[float] | None = None,
                    total_steps: int | None = None) -> dict | None:
    """A per-step schedule after ``warmup_epochs`` of linear warm-up (``cosine`` or ``piecewise``), or None.

    ``milestones``: epochs at which ``piecewise`` divides the rate by 10 (default: half and three
    quarters of the schedule). ``total_steps``: the schedule's length in steps (default
    ``max_epochs * steps_per_epoch``; shorter when ``max_steps`` ends the run first).
    """
    if name == "none":
        return None
    total = max(1, int(total_steps if total_steps is not None else max_epochs * steps_per_epoch))
    warmup = int(warmup_epochs * steps_per_epoch)
    if name == "piecewise":
        steps = ([int(epoch * steps_per_epoch) for epoch in milestones] if milestones
                 else [int(fraction * total) for fraction in PIECEWISE_MILESTONES])

        def factor(step: int) -> float:
            ramp = (step + 1) / warmup if step < warmup else 1.0
            return ramp * 0.1 ** sum(step >= milestone for milestone in steps)

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
    return {"scheduler": CosineWarmupScheduler(optimizer, warmup_epochs=warmup, max_epochs=total),
            "interval": "step"}
