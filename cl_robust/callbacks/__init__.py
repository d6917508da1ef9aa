"""Callbacks: adversarial examples injected into pretraining and fine-tuning; a non-finite loss guard;
checkpoints after chosen epochs."""

from .base import ADV_TERM, AdversarialTraining
from .epoch_checkpoints import EpochCheckpoints, epoch_checkpoint_name
from .finetuning import AdversarialFineTuning
from .nan_guard import NonFiniteLossError, NonFiniteLossGuard
from .pretraining import AdversarialPretraining
from .supervised import AdversarialSupervised
from .trades import trades_attack, trades_kl

__all__ = [
    "ADV_TERM",
    "AdversarialFineTuning",
    "AdversarialPretraining",
    "AdversarialSupervised",
    "AdversarialTraining",
    "EpochCheckpoints",
    "NonFiniteLossError",
    "NonFiniteLossGuard",
    "epoch_checkpoint_name",
    "trades_attack",
    "trades_kl",
]
