"""Adversarial images of one batch for each attack of the suite, under the two threat models of the study.

- TM-II: the attacker maximises the cross-entropy of encoder + linear head end to end: FGSM
  (Goodfellow et al. 2015), PGD (Madry et al. 2018), Square (Andriushchenko et al. 2020,
  "Square Attack: a query-efficient black-box adversarial attack", from ``pyautoattack``) and
  torchattacks' approximation of AutoAttack (``autoattack-fast``). The original AutoAttack
  runs over the whole test split at once (:mod:`cl_robust.evaluation.autoattack`).
- TM-I: the attacker maximises the contrastive loss between f(x) and f(x + delta) through
  encoder + projection head (NT-Xent for ``cl`` without labels, SupCon for ``scl`` with
  labels); accuracy is then read off the linear classifier.

Random numbers come from the generator as the caller seeded it (per batch and attack in
:class:`~cl_robust.evaluation.robustness.RobustnessCounter`); Square and ``autoattack-fast``
re-seed themselves from it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchattacks
from pyautoattack.square import SquareAttack
from torch import Tensor, nn

from cl_robust.attacks import contrastive_attack, cross_entropy_attack, gradients_on, usable_for_autograd
from cl_robust.attacks.state import attack_mode
from cl_robust.errors import ConfigError
from cl_robust.losses.objectives import CONTRASTIVE_TERMS, ContrastiveObjective

from .autoattack import NORMS, FloatLogits
from .corruption_suite import corrupted_images
from .suite import AttackSpec

AUTOATTACK_FAST_NOTE = (
    "autoattack-fast is torchattacks' AutoAttack, version 'standard': APGD-CE, APGD-T, FAB-T and Square (5000 "
    "queries) as in Croce & Hein (2020), but APGD-CE, APGD-T and FAB-T run 10 iterations (the original: 100) "
    "and the targeted attacks use all n_classes - 1 target classes (the original: the top 9). Its robust "
    "accuracy is an upper bound on the original's; report `autoattack` as the field's number."
)

Perturb = Callable[[nn.Module, Tensor, Tensor], Tensor]


class _AutoAttackInEval(torchattacks.AutoAttack):
    """torchattacks' AutoAttack with float32 logits; module modes are left to :func:`attack_mode`."""

    def get_logits(self, inputs: Tensor, labels: Tensor | None = None, *args: object, **kwargs: object) -> Tensor:
        return super().get_logits(inputs, labels, *args, **kwargs).float()


def autoattack_fast(model: nn.Module, images: Tensor, labels: Tensor, spec: AttackSpec, num_classes: int) -> Tensor:
    """torchattacks' AutoAttack on the eval-mode model; see :data:`AUTOATTACK_FAST_NOTE`."""
    with gradients_on(), attack_mode(model, "eval"):
        attack = _AutoAttackInEval(model, norm=NORMS[spec.norm], eps=spec.eps, version="standard",
                                   n_classes=num_classes, seed=torch.initial_seed())
        attack.set_device(images.device)
        adversarial = attack(usable_for_autograd(images), usable_for_autograd(labels))
    return adversarial.detach()


def square(model: nn.Module, images: Tensor, labels: Tensor, spec: AttackSpec) -> Tensor:
    """Square Attack with AutoAttack's settings (p_init 0.8, one restart) and ``spec.queries`` queries."""
    with gradients_on(), attack_mode(model, "eval"), torch.no_grad():
        attack = SquareAttack(FloatLogits(model), p_init=0.8, n_queries=spec.queries, eps=spec.eps,
                              norm=NORMS[spec.norm], n_restarts=1, seed=torch.initial_seed(), verbose=False,
                              device=images.device, resc_schedule=False)
        adversarial = attack.perturb(usable_for_autograd(images), usable_for_autograd(labels))
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
                          "projection head; " + (f"this one comes from {scheme!r}" if scheme else
                                                  "this model records no pretraining (a model from --model)"))
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
    if spec.kind == "corruption":  # seeded by the caller (per batch and corruption), as the attacks' random starts
        return corrupted_images(images, spec.corruption, spec.severity, torch.initial_seed())
    if spec.kind == "autoattack-fast":
        return autoattack_fast(model, images, labels, spec, num_classes)
    if spec.kind == "square":
        return square(model, images, labels, spec)
    if spec.kind == "autoattack":
        raise ValueError("the original AutoAttack runs over the whole split: cl_robust.evaluation.autoattack")
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


__all__ = ["AUTOATTACK_FAST_NOTE", "adversarial_images", "autoattack_fast", "contrastive_loss_for", "square", "supports",
           "threat_model_one", "threat_model_one_objective"]
