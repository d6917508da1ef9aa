"""Attacks: cross-entropy PGD/FGSM through torchattacks and PGD on contrastive losses."""

from .config import AttackConfig, parse_eps
from .contrastive import contrastive_attack, contrastive_attack_pair, project, random_start
from .cross_entropy import build_cross_entropy_attack, cross_entropy_attack
from .state import attack_mode, gradients_on, usable_for_autograd

__all__ = [
    "AttackConfig",
    "attack_mode",
    "build_cross_entropy_attack",
    "contrastive_attack",
    "contrastive_attack_pair",
    "cross_entropy_attack",
    "gradients_on",
    "parse_eps",
    "project",
    "random_start",
    "usable_for_autograd",
]
