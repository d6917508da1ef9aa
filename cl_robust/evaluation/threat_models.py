"""Adversarial images for each attack of the suite, under the two threat models of the study.

- TM-II: the attacker maximises the cross-entropy of encoder + linear head end to end: FGSM
  (Goodfellow et al. 2015), PGD (Madry et al. 2018) and AutoAttack (Croce & Hein 2020,
  "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
  attacks").
- TM-I: the attacker maximises the contrastive loss between f(x) and f(x + delta) through
  encoder + projection head (NT-Xent for ``cl`` without labels, SupCon for ``scl`` with
  labels); accuracy is then read off the linear classifier.

AutoAttack comes from torchattacks (``version="standard"``). It runs the same four attacks as
the original (APGD-CE, APGD-T, FAB-T, Square with 5000 queries, one restart each, each attack
only on the points still classified correctly) but with torchattacks' defaults of **10
iterations** for APGD-CE, APGD-T and FAB-T where the original runs 100, and with
``n_classes - 1`` target classes for APGD-T and FAB-T where the original uses the 9 classes of
highest logit (the same for CIFAR-10; 99 instead of 9 for CIFAR-100). Its numbers are
therefore an upper bound on the original AutoAttack's robust accuracy for CIFAR-10.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchattacks
from torch import Tensor, nn

from cl_robust.attacks import contrastive_attack, cross_entropy_attack, gradients_on, usable_for_autograd
from cl_robust.attacks.state import attack_mode
from cl_robust.errors import ConfigError
from cl_robust.losses.objectives import CONTRASTIVE_TERMS, ContrastiveObjective

from .suite import AttackSpec

AUTOATTACK_NOTE = (
    "AutoAttack from torchattacks, version 'standard': APGD-CE, APGD-T, FAB-T and Square (5000 queries), "
    "one restart each, each attack run on the points the previous ones did not break, as in Croce & Hein (2020); "
    "but APGD-CE, APGD-T and FAB-T run 10 iterations (the original: 100) and the targeted attacks use all "
    "n_classes - 1 target classes (the original: the top 9). Robust accuracy is an upper bound on the original's."
)

Perturb = Callable[[nn.Module, Tensor, Tensor], Tensor]


class _AutoAttackInEval(torchattacks.AutoAttack):
    """torchattacks' AutoAttack with float32 logits; module modes are left to :func:`attack_mode`."""

    def get_logits(self, inputs: Tensor, labels: Tensor | None = None, *args: object, **kwargs: object) -> Tensor:
        return super().get_logits(inputs, labels, *args, **kwargs).float()


def autoattack(model: nn.Module, images: Tensor, labels: Tensor, spec: AttackSpec, num_classes: int,
               seed: int = 0) -> Tensor:
    """AutoAttack (standard version) on the eval-mode model; see :data:`AUTOATTACK_NOTE`."""
    norm = {"linf": "Linf", "l2": "L2"}[spec.norm]
    with gradients_on(), attack_mode(model, "eval"):
        attack = _AutoAttackInEval(model, norm=norm, eps=spec.eps, version="standard", n_classes=num_classes,
                                   seed=seed)
        attack.set_device(images.device)
        adversarial = attack(usable_for_autograd(images), usable_for_autograd(labels))
    return adversarial.detach()


def contrastive_loss_for(metadata: dict[str, object]) -> tuple[Callable[[Tensor, Tensor, Tensor | None], Tensor], bool]:
    """The pretraining contrastive loss of a checkpoint (``cl``, ``scl`` or a mix: the sum of its
    contrastive terms, :class:`~cl_robust.losses.objectives.ContrastiveObjective`) and whether it takes labels.

    The loss is computed per process (no cross-rank negatives): each rank attacks its own batch.
    """
    scheme = metadata.get("pretrained_scheme", metadata.get("scheme"))
    temperature = metadata.get("temperature")
    if scheme not in CONTRASTIVE_TERMS or not isinstance(temperature, (int, float)):
        raise ConfigError(f"threat model I needs a checkpoint pretrained with cl or scl, or a mix with a contrastive "
                          f"term ({', '.join(CONTRASTIVE_TERMS)}): it attacks the contrastive loss through the "
                          f"projection head; this one comes from {scheme!r}")
    objective = ContrastiveObjective(str(scheme), float(temperature), gather_distributed=False)
    return objective, objective.uses_labels


def _embed_of(model: nn.Module) -> Callable[[Tensor], Tensor]:
    embed = getattr(model, "embed", None)
    if embed is None:
        raise ConfigError("threat model I needs a model with a projection head (an embed method)")
    return embed


def threat_model_one(model: nn.Module, images: Tensor, labels: Tensor, spec: AttackSpec,
                     metadata: dict[str, object]) -> Tensor:
    """TM-I: PGD on the pretraining contrastive loss through ``model.embed`` (encoder + projection head).

    The attack ascends ``L_con(g(f(x)), g(f(x + delta)))`` with the clean embedding held fixed
    and the model in eval mode. Its negatives are the other images of the batch, so its strength
    depends on the batch's size and composition: batches should be random samples of the classes
    (``order_seed`` of the data module), or same-class negatives pull each image toward its class.
    """
    loss_fn, uses_labels = contrastive_loss_for(metadata)
    return contrastive_attack(_embed_of(model), loss_fn, images, spec.attack_config(),
                              labels=labels if uses_labels else None, module_for_mode=model)


def threat_model_one_objective(model: nn.Module, images: Tensor, perturbed: Tensor, labels: Tensor,
                               metadata: dict[str, object]) -> Tensor:
    """The TM-I objective ``L_con(g(f(images)), g(f(perturbed)))`` (float32 scalar, eval mode, no gradients)."""
    loss_fn, uses_labels = contrastive_loss_for(metadata)
    embed = _embed_of(model)
    with torch.no_grad(), attack_mode(model, "eval"), torch.autocast(images.device.type, enabled=False):
        return loss_fn(embed(images).float(), embed(perturbed).float(), labels if uses_labels else None)


def adversarial_images(model: nn.Module, images: Tensor, labels: Tensor, spec: AttackSpec,
                       num_classes: int, metadata: dict[str, object]) -> Tensor:
    """The inputs the classifier is scored on for ``spec`` (the clean images for ``clean``)."""
    if spec.kind == "clean":
        return images
    if spec.kind == "autoattack":
        return autoattack(model, images, labels, spec, num_classes)
    if spec.kind == "tm1":
        return threat_model_one(model, images, labels, spec, metadata)
    return cross_entropy_attack(model, images, labels, spec.attack_config())


def supports(spec: AttackSpec, metadata: dict[str, object]) -> str | None:
    """Why ``spec`` cannot run on a checkpoint with ``metadata`` (None when it can)."""
    if spec.kind != "tm1":
        return None
    try:
        contrastive_loss_for(metadata)
    except ConfigError as error:
        return str(error)
    return None


__all__ = ["AUTOATTACK_NOTE", "adversarial_images", "autoattack", "contrastive_loss_for", "supports",
           "threat_model_one", "threat_model_one_objective"]
