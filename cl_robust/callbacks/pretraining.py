"""Adversarial contrastive pretraining for SimCLR (``cl``) and SupCon (``scl``).

Two ways to attack a contrastive objective:

- ``pair=False`` (the reference study's default; instance-wise attack of Kim et al. 2020,
  "Adversarial Self-Supervised Contrastive Learning" (RoCL)): delta maximises
  ``L_con(f(x0), f(x0 + delta))`` with f(x0) held fixed (SupCon with the true labels), and the
  loss is ``clean_weight * L_con(view1, view2) + adv_weight * L_con(x0, x0 + delta)``;
- ``pair=True`` (Jiang et al. 2020, "Robust Pre-Training by Adversarial Contrastive Learning"
  (ACL)): both augmented views are perturbed jointly to maximise ``L_con(view1 + d1, view2 + d2)``
  and that adversarial pair replaces the clean pair (``clean_weight`` defaults to 0). ACL's
  dual BatchNorm is not modelled here.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from cl_robust.attacks import contrastive_attack, contrastive_attack_pair
from cl_robust.callbacks.base import ADV_TERM, AdversarialTraining
from cl_robust.errors import ConfigError
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.methods.contrastive import ContrastiveMethod


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
        labels = batch["y"] if module.uses_labels else None
        if self.pair:
            first, second = views[:2] if len(views) > 1 else (batch["x0"], views[0])
            adversarial = contrastive_attack_pair(module.embed, module.contrastive_loss, first, second, self.attack,
                                                  labels=labels, module_for_mode=module)
        else:
            first = batch["x0"]
            adversarial = (first, contrastive_attack(module.embed, module.contrastive_loss, first, self.attack,
                                                     labels=labels, module_for_mode=module))
        self.last_adversarial = adversarial if self.pair else adversarial[1]
        features = module.encoder(torch.cat(adversarial))
        z1, z2 = module.projector(features).chunk(2)
        with torch.autocast(device_type=z1.device.type, enabled=False):  # the loss in float32 under AMP
            loss = module.contrastive_loss(z1.float(), z2.float(), labels)
        adversarial_features = features.chunk(2)[1]
        self.log_adversarial_accuracy(module, module.classifier(adversarial_features.detach()), batch["y"])
        return {ADV_TERM: loss}
