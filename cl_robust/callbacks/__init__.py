"""Callbacks that inject adversarial examples into pretraining and fine-tuning."""

from .base import ADV_TERM, AdversarialTraining
from .finetuning import AdversarialFineTuning
from .pretraining import AdversarialPretraining
from .supervised import AdversarialSupervised
from .trades import trades_attack, trades_kl

__all__ = [
    "ADV_TERM",
    "AdversarialFineTuning",
    "AdversarialPretraining",
    "AdversarialSupervised",
    "AdversarialTraining",
    "trades_attack",
    "trades_kl",
]
