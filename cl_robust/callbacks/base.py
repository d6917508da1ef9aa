"""Shared machinery of the adversarial-training callbacks.

An adversarial callback is a Lightning ``Callback`` that, in ``setup``, checks the module it is
given and registers one loss term on it (:meth:`RobustMethod.register_loss_term`). Every
training step then crafts adversarial inputs from the step's batch and adds the loss on them
to the scheme's own objective:

    loss = clean_weight * (scheme's own term) + adv_weight * adv_loss

The weights live in ``module.loss_weights`` (the callback multiplies the weights the module
already has, 1 by default); a term weighted 0 is logged but not back-propagated. With dual
BatchNorm (``dual_bn``, ACL) the adversarial term runs through the adversarial branch. The callback always attacks the LightningModule it is handed (under DDP
Lightning hands callbacks the unwrapped module, and the loss term receives the module
itself), never the DDP wrapper. Attack losses are computed in float32, also under autocast.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from cl_robust.attacks import AttackConfig
from cl_robust.errors import ConfigError, shown
from cl_robust.losses.masked import known
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.models.dual_bn import ADVERSARIAL, bn_branch

#: Name of the adversarial term in the loss dictionary (logged as ``train/adv_loss``).
ADV_TERM = "adv_loss"


def check_weight(name: str, value: float) -> float:
    """A loss weight: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a number >= 0; got {shown(value)}")
    return float(value)


class AdversarialTraining(Callback):
    """Base of the adversarial callbacks: attack settings, loss weights, registration, logging.

    The attack is L-inf or L2 PGD (Madry et al. 2018) or FGSM (Goodfellow et al. 2015; with a
    random start, Wong et al. 2020). Defaults are the reference study's training attack:
    L-inf PGD, eps 8/255, 5 steps of 0.01, no random start, inputs in [0, 1].

    Args:
        eps: radius of the perturbation ball, a number or a fraction such as ``"8/255"``.
        step_size: PGD step (same units as eps; a fraction is accepted).
        steps: PGD steps (FGSM takes one).
        random_start: start from a random point in the ball.
        norm: ``"linf"`` or ``"l2"``.
        method: ``"pgd"`` or ``"fgsm"``.
        bn_mode: module modes while attacking: ``"eval"`` (BatchNorm uses and keeps its running
            statistics), ``"train"`` or ``"keep"``; every module's flag is restored afterwards.
        adv_weight: weight of the adversarial term.
        clean_weight: weight of the scheme's own (clean) term.
    """

    #: Name of the scheme's own term that ``clean_weight`` scales.
    clean_term: ClassVar[str] = "ce"

    def clean_terms(self, module: RobustMethod) -> tuple[str, ...]:
        """The module's own terms that ``clean_weight`` scales."""
        return (self.clean_term,)

    def __init__(self, eps: float | str = 8 / 255, step_size: float | str = 0.01, steps: int = 5,
                 random_start: bool = False, norm: str = "linf", method: str = "pgd", bn_mode: str = "eval",
                 adv_weight: float = 1.0, clean_weight: float = 1.0) -> None:
        super().__init__()
        self.attack = AttackConfig(method=method, norm=norm, eps=eps, step_size=step_size, steps=steps,
                                   random_start=random_start, bn_mode=bn_mode)
        self.adv_weight = check_weight("adv_weight", adv_weight)
        self.clean_weight = check_weight("clean_weight", clean_weight)
        if self.adv_weight == 0 and self.clean_weight == 0:
            raise ConfigError("adv_weight and clean_weight are both 0: nothing would be trained")
        #: The adversarial inputs of the latest training step (detached), for inspection and tests.
        self.last_adversarial: Tensor | tuple[Tensor, ...] | None = None
        self._saved_weights: dict[str, float | None] = {}

    # ------------------------------------------------------------ lifecycle
    def check_module(self, module: L.LightningModule) -> None:
        """Raise ConfigError (one line) when this callback cannot train ``module``."""
        if not isinstance(module, RobustMethod):
            raise ConfigError(f"{type(self).__name__} trains cl_robust methods (RobustMethod); "
                              f"got {type(module).__name__}")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Check the module and register the adversarial term, before any training step."""
        if stage != "fit":
            return
        self.check_module(pl_module)
        assert isinstance(pl_module, RobustMethod)
        pl_module.register_loss_term(ADV_TERM, self.routed_losses)
        weights = [(name, self.clean_weight) for name in self.clean_terms(pl_module)] + [(ADV_TERM, self.adv_weight)]
        for name, weight in weights:
            saved = pl_module.loss_weights.get(name)
            self._saved_weights[name] = saved
            pl_module.loss_weights[name] = weight * (1.0 if saved is None else saved)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Remove the term and put the module's loss weights back as they were."""
        if stage != "fit" or not isinstance(pl_module, RobustMethod):
            return
        pl_module.unregister_loss_term(ADV_TERM)
        for name, weight in self._saved_weights.items():
            if weight is None:
                pl_module.loss_weights.pop(name, None)
            else:
                pl_module.loss_weights[name] = weight
        self._saved_weights.clear()

    # ------------------------------------------------------------- training
    def routed_losses(self, module: RobustMethod, batch: Batch, views: Views) -> dict[str, Tensor]:
        """:meth:`adversarial_losses`, through the adversarial BatchNorm branch when the module has two."""
        if not module.trains_both_branches:
            return self.adversarial_losses(module, batch, views)
        with bn_branch(module.encoder, ADVERSARIAL):
            return self.adversarial_losses(module, batch, views)

    def adversarial_losses(self, module: RobustMethod, batch: Batch, views: Views) -> dict[str, Tensor]:
        """The loss term: ``{"adv_loss": loss on adversarial inputs}`` (unweighted)."""
        raise NotImplementedError

    @staticmethod
    def log_adversarial_accuracy(module: RobustMethod, logits: Tensor, labels: Tensor) -> None:
        """Log ``train/adv_acc`` (classifier accuracy on adversarial inputs) without a host sync.

        Images with an unknown label (-1, semi-supervised schemes) are left out.
        """
        with torch.no_grad():
            labelled = known(labels)
            correct = (logits.argmax(dim=1) == labels) & labelled
            accuracy = correct.sum() / labelled.sum().clamp_min(1)
        module.log("train/adv_acc", accuracy, on_step=True, on_epoch=True, prog_bar=True,
                   batch_size=labels.shape[0])

    def state_dict(self) -> dict[str, Any]:
        """Attack settings are saved with the checkpoint so a run records how it was trained."""
        return {"attack": vars(self.attack).copy(), "adv_weight": self.adv_weight, "clean_weight": self.clean_weight}
