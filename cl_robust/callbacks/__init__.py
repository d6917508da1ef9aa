"""Callbacks: adversarial examples injected into pretraining and fine-tuning; a non-finite loss guard."""

from .base import ADV_TERM, AdversarialTraining
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
    "NonFiniteLossError",
    "NonFiniteLossGuard",
    "trades_attack",
    "trades_kl",
]
