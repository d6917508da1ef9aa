"""Cross-entropy adversarial training of encoder + linear head (scheme ``sl``, scenario ``at``).

Madry et al. 2018 ("Towards Deep Learning Models Resistant to Adversarial Attacks"): the
adversarial image is crafted end to end through encoder + classifier on the cross-entropy.
The reference study's SL adversarial training sums ``CE(f(PGD(x0)), y)`` and the module's own
``CE(f(augmented x), y)``. With ``loss="trades"`` the adversarial term is instead TRADES's
``KL(f(x) || f(x_adv))`` with its KL attack (Zhang et al. 2019), weighted by beta.
"""

from __future__ import annotations

import lightning as L
import torch.nn.functional as F
from torch import Tensor

from cl_robust.attacks import cross_entropy_attack
from cl_robust.callbacks.base import ADV_TERM, AdversarialTraining
from cl_robust.callbacks.trades import trades_attack, trades_kl
from cl_robust.errors import ConfigError, check_choice
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.methods.contrastive import ContrastiveMethod

LOSSES = ("ce", "trades")
ATTACK_VIEWS = ("x0", "augmented")

#: TRADES's beta (1 / lambda) for CIFAR in Zhang et al. 2019.
TRADES_BETA = 6.0


class AdversarialSupervised(AdversarialTraining):
    """Adds a loss on adversarial inputs to a cross-entropy model (SupervisedLearning or FineTune).

    Args (besides :class:`AdversarialTraining`'s attack options and ``clean_weight``, which
    scales the module's own CE):
        loss: ``"ce"`` (PGD/FGSM on CE, then CE on the adversarial images; Madry et al. 2018) or
            ``"trades"`` (TRADES KL attack and KL term; Zhang et al. 2019).
        adv_weight: weight of the adversarial term; None gives 1 for ``ce`` and beta = 6 for ``trades``.
        attack_view: ``"x0"`` attacks the un-augmented image (the reference study); ``"augmented"``
            attacks the augmented view the module's own CE sees, as Madry et al. (2018) and the
            field's PGD-AT do (with ``clean_weight: 0``, training on adversarial images only).

    Logs ``train/adv_loss`` and ``train/adv_acc``
    (classifier accuracy on the adversarial images).
    """

    clean_term = "ce"

    def __init__(self, eps: float | str = 8 / 255, step_size: float | str = 0.01, steps: int = 5,
                 random_start: bool = False, norm: str = "linf", method: str = "pgd", bn_mode: str = "eval",
                 adv_weight: float | None = None, clean_weight: float = 1.0, loss: str = "ce",
                 attack_view: str = "x0") -> None:
        check_choice("loss", loss, LOSSES)
        check_choice("attack_view", attack_view, ATTACK_VIEWS)
        if adv_weight is None:
            adv_weight = TRADES_BETA if loss == "trades" else 1.0
        super().__init__(eps=eps, step_size=step_size, steps=steps, random_start=random_start, norm=norm,
                         method=method, bn_mode=bn_mode, adv_weight=adv_weight, clean_weight=clean_weight)
        self.loss = loss
        self.attack_view = attack_view

    def check_module(self, module: L.LightningModule) -> None:
        super().check_module(module)
        if isinstance(module, ContrastiveMethod):
            raise ConfigError(f"{type(self).__name__} trains a classifier end to end with cross-entropy, but "
                              f"{type(module).__name__} is contrastive pretraining; use AdversarialPretraining")

    def attack_input(self, batch: Batch, views: Views) -> Tensor:
        """The clean images the attack starts from (``attack_view``)."""
        return views[0] if self.attack_view == "augmented" else batch["x0"]

    def adversarial_losses(self, module: RobustMethod, batch: Batch, views: Views) -> dict[str, Tensor]:
        images, labels = self.attack_input(batch, views), batch["y"]
        if self.loss == "trades":
            adversarial = trades_attack(module, images, self.attack)
            adversarial_logits = module(adversarial)
            loss = trades_kl(module(images), adversarial_logits)
        else:
            adversarial = cross_entropy_attack(module, images, labels, self.attack)
            adversarial_logits = module(adversarial)
            loss = F.cross_entropy(adversarial_logits.float(), labels)
        self.last_adversarial = adversarial
        self.log_adversarial_accuracy(module, adversarial_logits, labels)
        return {ADV_TERM: loss}
