"""Adversarial contrastive pretraining for SimCLR (``cl``), SupCon (``scl``) and the semi-supervised mixes.

Two ways to attack a contrastive objective:

- ``pair=False`` (the reference study's default; instance-wise attack of Kim et al. 2020,
  "Adversarial Self-Supervised Contrastive Learning" (RoCL)): delta maximises
  ``L_con(f(x0), f(x0 + delta))`` with f(x0) held fixed (SupCon with the true labels), and the
  loss is ``clean_weight * L_con(view1, view2) + adv_weight * L_con(x0, x0 + delta)``;
- ``pair=True`` (Jiang et al. 2020, "Robust Pre-Training by Adversarial Contrastive Learning"
  (ACL)): both augmented views are perturbed jointly to maximise ``L_con(view1 + d1, view2 + d2)``
  and that adversarial pair replaces the clean pair (``clean_weight`` defaults to 0; ACL's
  "dual stream" keeps it, ``clean_weight > 0``).

``L_con`` is the module's contrastive objective: NT-Xent, SupCon, or the sum of a mix's
contrastive terms (``cl+scl``: NT-Xent + SupCon; ``cl+sl``: NT-Xent; ``scl+sl``: SupCon), with
labels only where the batch's labelled mask allows (:func:`~cl_robust.methods.labels.known_labels`).

With dual BatchNorm (``dual_bn``; ACL) every adversarial input runs through the adversarial
branch and every clean one through the clean branch: the clean pair in the module's own loss,
and in the ``pair=False`` term the clean partner x0 (during the attack and in the loss).
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor

from cl_robust.attacks import contrastive_attack, contrastive_attack_pair
from cl_robust.callbacks.base import ADV_TERM, AdversarialTraining
from cl_robust.errors import ConfigError
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.methods.contrastive import ContrastiveMethod
from cl_robust.methods.labels import known_labels
from cl_robust.models.dual_bn import CLEAN, bn_branch


class AdversarialPretraining(AdversarialTraining):
    """Adds a contrastive loss on adversarial inputs to SimCLR / SupCon pretraining.

    Args (besides :class:`AdversarialTraining`'s attack options and ``adv_weight``):
        pair: perturb both augmented views (ACL) instead of x0 against itself (RoCL / the study).
        clean_weight: weight of the module's clean ``L_con(view1, view2)``; None gives 1 for
            ``pair=False`` and 0 (the adversarial pair replaces it) for ``pair=True``.

    Logs ``train/adv_loss`` (the adversarial contrastive loss) and ``train/adv_acc`` (the online
    probe's accuracy on the adversarial images).
    """

    clean_term = "contrastive"

    def clean_terms(self, module: RobustMethod) -> tuple[str, ...]:
        """The module's contrastive terms (the adversarial term mirrors them)."""
        return module.contrastive_terms if isinstance(module, ContrastiveMethod) else (self.clean_term,)

    def __init__(self, eps: float | str = 8 / 255, step_size: float | str = 0.01, steps: int = 5,
                 random_start: bool = False, norm: str = "linf", method: str = "pgd", bn_mode: str = "eval",
                 adv_weight: float = 1.0, clean_weight: float | None = None, pair: bool = False) -> None:
        if clean_weight is None:
            clean_weight = 0.0 if pair else 1.0
        super().__init__(eps=eps, step_size=step_size, steps=steps, random_start=random_start, norm=norm,
                         method=method, bn_mode=bn_mode, adv_weight=adv_weight, clean_weight=clean_weight)
        self.pair = bool(pair)

    def check_module(self, module: L.LightningModule) -> None:
        if not isinstance(module, ContrastiveMethod):
            raise ConfigError(f"{type(self).__name__} attacks a contrastive loss, but {type(module).__name__} has "
                              "no contrastive objective (embed + contrastive_loss); use it with SimCLR or SupCon, "
                              "AdversarialSupervised or AdversarialFineTuning for cross-entropy models")

    def adversarial_losses(self, module: RobustMethod, batch: Batch, views: Views) -> dict[str, Tensor]:
        assert isinstance(module, ContrastiveMethod)
        labels = known_labels(batch) if module.uses_labels else None
        if self.pair:
            first, second = views[:2] if len(views) > 1 else (batch["x0"], views[0])
            adversarial = contrastive_attack_pair(module.embed, module.contrastive_loss, first, second, self.attack,
                                                  labels=labels, module_for_mode=module)
        else:
            first = batch["x0"]
            embed = clean_partner_embed(module, first) if module.trains_both_branches else module.embed
            adversarial = (first, contrastive_attack(embed, module.contrastive_loss, first, self.attack,
                                                     labels=labels, module_for_mode=module))
        self.last_adversarial = adversarial if self.pair else adversarial[1]
        first_features, adversarial_features = self._features(module, *adversarial, clean_first=not self.pair)
        z1, z2 = module.projector(torch.cat((first_features, adversarial_features))).chunk(2)
        with torch.autocast(device_type=z1.device.type, enabled=False):  # the loss in float32 under AMP
            loss = module.contrastive_loss(z1.float(), z2.float(), labels)
        probe_labels = batch["y"] if labels is None else labels
        self.log_adversarial_accuracy(module, module.classifier(adversarial_features.detach()), probe_labels)
        return {ADV_TERM: loss}

    @staticmethod
    def _features(module: ContrastiveMethod, first: Tensor, second: Tensor, clean_first: bool) -> tuple[Tensor, Tensor]:
        """Encoder features of both inputs; a clean ``first`` runs through the clean branch of a dual-BN encoder."""
        if clean_first and module.trains_both_branches:
            with bn_branch(module.encoder, CLEAN):
                clean = module.encoder(first)
            return clean, module.encoder(second)
        first_features, second_features = module.encoder(torch.cat((first, second))).chunk(2)
        return first_features, second_features


def clean_partner_embed(module: ContrastiveMethod, clean: Tensor) -> Callable[[Tensor], Tensor]:
    """``module.embed`` that runs the clean partner ``clean`` (this very tensor) through the clean BatchNorm
    branch and every other input (the perturbed ones) through the current, adversarial, branch."""

    def embed(images: Tensor) -> Tensor:
        if images is not clean:
            return module.embed(images)
        with bn_branch(module.encoder, CLEAN):
            return module.embed(images)

    return embed
