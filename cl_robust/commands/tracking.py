"""An optional Weights & Biases run for the evaluate and analyze commands."""

from __future__ import annotations

import warnings
from typing import Any


def open_wandb_run(project: str, name: str, config: dict[str, Any], job_type: str) -> Any | None:
    """A W&B run, or None (with a warning) when wandb cannot start one; ``WANDB_MODE=offline`` works."""
    try:
        import wandb

        run = wandb.init(project=project, name=name, config=config, job_type=job_type, reinit="finish_previous")
    except Exception as error:  # no wandb, no login and no offline mode, disabled service, ...
        warnings.warn(f"W&B logging skipped: {type(error).__name__}: {error}", stacklevel=2)
        return None
    return run
