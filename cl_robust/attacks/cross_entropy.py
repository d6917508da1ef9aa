"""Cross-entropy attacks on a classifier (TM-II: end to end through encoder + linear head).

The attacks themselves come from torchattacks: PGD and PGDL2 (Madry et al. 2018), FGSM
(Goodfellow et al. 2015) and FFGSM, FGSM with a random start (Wong et al. 2020). Two things
are changed around them:

- module modes: torchattacks puts the whole model in eval mode and afterwards calls
  ``.train()`` on the whole model, which would undo a frozen encoder's eval mode. Here the
  attack leaves modes alone and :func:`~cl_robust.attacks.state.attack_mode` sets and restores
  them per submodule, as ``AttackConfig.bn_mode`` asks;
- precision: logits are cast to float32 before the loss, so the attack also works under
  ``torch.autocast`` (bf16 / fp16).

torchattacks takes gradients with ``torch.autograd.grad`` with respect to the inputs only, so
the parameters' ``.grad`` is left as it was.
"""

from __future__ import annotations

from typing import Any

import torch
import torchattacks
from torch import Tensor, nn

from .config import AttackConfig
from .state import attack_mode, gradients_on, usable_for_autograd


class _ModesSetByCaller:
    """torchattacks behaviour with the model's modes left to the caller and float32 logits."""

    def _change_model_mode(self, given_training: bool) -> None:
        """Leave modes as :func:`attack_mode` set them (torchattacks would call ``model.eval()``)."""

    def _recover_model_mode(self, given_training: bool) -> None:
        """Leave modes to :func:`attack_mode` (torchattacks would call ``model.train()``)."""

    def get_logits(self, inputs: Tensor, labels: Tensor | None = None, *args: Any, **kwargs: Any) -> Tensor:
        return super().get_logits(inputs, labels, *args, **kwargs).float()  # type: ignore[misc]


class PGD(_ModesSetByCaller, torchattacks.PGD):
    """L-inf PGD (Madry et al. 2018) with modes set by the caller."""


class PGDL2(_ModesSetByCaller, torchattacks.PGDL2):
    """L2 PGD (Madry et al. 2018) with modes set by the caller."""


class FGSM(_ModesSetByCaller, torchattacks.FGSM):
    """FGSM (Goodfellow et al. 2015) with modes set by the caller."""


class FFGSM(_ModesSetByCaller, torchattacks.FFGSM):
    """FGSM with a random start (Wong et al. 2020) with modes set by the caller."""


def build_cross_entropy_attack(
    model: nn.Module, config: AttackConfig, device: torch.device | str | None = None
) -> torchattacks.Attack:
    """The torchattacks attack that ``config`` describes, on ``device`` (the model's by default).

    L2 FGSM is one step of PGDL2 of size eps (1.25 eps after a random start).
    """
    if config.norm == "l2":
        attack: torchattacks.Attack = PGDL2(
            model, eps=config.eps, alpha=config.step, steps=config.num_steps, random_start=config.random_start
        )
    elif config.method == "fgsm" and config.random_start:
        attack = FFGSM(model, eps=config.eps, alpha=config.step)
    elif config.method == "fgsm":
        attack = FGSM(model, eps=config.eps)
    else:
        attack = PGD(
            model, eps=config.eps, alpha=config.step, steps=config.num_steps, random_start=config.random_start
        )
    if device is not None:
        attack.set_device(torch.device(device))
    return attack


def cross_entropy_attack(model: nn.Module, images: Tensor, labels: Tensor, config: AttackConfig) -> Tensor:
    """Adversarial images that raise the cross-entropy of ``model`` (logits [N, C] from [0, 1] inputs).

    Works inside Lightning's validation/test loops (``torch.inference_mode``) and under
    ``torch.autocast``. Every submodule's train/eval flag, ``requires_grad`` and ``.grad`` is
    as before afterwards. Returns a detached tensor inside the eps-ball around ``images`` and
    inside [0, 1].
    """
    with gradients_on(), attack_mode(model, config.bn_mode):
        attack = build_cross_entropy_attack(model, config, images.device)
        adversarial = attack(usable_for_autograd(images), usable_for_autograd(labels))
    return adversarial.detach()
