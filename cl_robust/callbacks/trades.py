"""The TRADES attack and loss (Zhang et al. 2019, "Theoretically Principled Trade-off between
Robustness and Accuracy").

The attack maximises ``KL(f(x) || f(x_adv))`` over the eps-ball, with f(x) held fixed; the
training loss adds ``beta * KL(f(x) || f(x_adv))`` (batch mean) to CE(f(x), y).

torchattacks has this attack as ``TPGD``, but only for L-inf PGD, always from its own Gaussian
start, and with logits in the autocast dtype; this version follows :class:`AttackConfig`
(L-inf / L2, PGD / FGSM, random start) and computes the KL in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cl_robust.attacks import (
    AttackConfig,
    attack_mode,
    gradients_on,
    project,
    random_start,
    usable_for_autograd,
)
from cl_robust.attacks.contrastive import _pgd_step as pgd_step

#: Standard deviation of TRADES's start around x: at x itself the KL and its gradient are zero.
TRADES_START_STD = 0.001


def trades_kl(clean_logits: Tensor, adversarial_logits: Tensor, reduction: str = "batchmean") -> Tensor:
    """``KL(softmax(clean) || softmax(adversarial))`` in float32."""
    return F.kl_div(F.log_softmax(adversarial_logits.float(), dim=1), F.softmax(clean_logits.float(), dim=1),
                    reduction=reduction)


def trades_attack(model: nn.Module, images: Tensor, config: AttackConfig) -> Tensor:
    """Inputs within eps of ``images`` that maximise ``KL(f(images) || f(x_adv))`` (TRADES's inner problem).

    Starts at a uniform point of the ball with ``config.random_start``, otherwise at
    ``images + 0.001 * N(0, 1)`` as Zhang et al. do. Modes follow ``config.bn_mode`` and are
    restored; gradients are taken with respect to the input only. Returns a detached tensor.
    """
    with gradients_on(), attack_mode(model, config.bn_mode):
        images = usable_for_autograd(images).detach()
        with torch.no_grad():
            clean_logits = model(images).float()
        if config.random_start:
            delta = random_start(images, config.eps, config.norm)
        else:
            delta = project(TRADES_START_STD * torch.randn_like(images), images, config.eps, config.norm)
        for _ in range(config.num_steps):
            delta = delta.detach().requires_grad_(True)
            loss = trades_kl(clean_logits, model(images + delta), reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            delta = project(pgd_step(delta.detach(), grad, config.step, config.norm), images, config.eps, config.norm)
    return (images + delta).detach()
