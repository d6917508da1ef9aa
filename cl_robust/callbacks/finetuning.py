"""Adversarial fine-tuning of a pretrained encoder (scenarios ``partial_at`` and ``full_at``).

The reference study's loss is ``CE(clean) + CE(PGD adversarial)``, the adversarial images
crafted on the cross-entropy end to end through encoder + new linear head (Madry et al. 2018).
On a linear probe (``FineTune(mode="linear")``, ``partial_at``) the encoder stays frozen and in
eval mode; on full fine-tuning (``mode="full"``, ``full_at``) it is trained. ``loss="trades"``
uses TRADES instead (Zhang et al. 2019).
"""

from __future__ import annotations

import lightning as L
from torch import Tensor

from cl_robust.callbacks.supervised import AdversarialSupervised
from cl_robust.errors import ConfigError
from cl_robust.methods.base import Batch, Views
from cl_robust.methods.finetune import FineTune


class AdversarialFineTuning(AdversarialSupervised):
    """Adversarial linear probe or full fine-tuning on a :class:`FineTune` module.

    Same options as :class:`AdversarialSupervised`; the attacked image is the one the module's
    clean CE sees (its view; the un-augmented image with the default ``views: none``).
    """

    def check_module(self, module: L.LightningModule) -> None:
        if self.attack_view != "x0":
            raise ConfigError("attack_view applies to AdversarialSupervised only; adversarial fine-tuning always "
                              "attacks the view its clean CE sees (leave attack_view unset)")
        if not isinstance(module, FineTune):
            raise ConfigError(f"adversarial fine-tuning needs a pretrained checkpoint: the model is "
                              f"{type(module).__name__}, not cl_robust.methods.FineTune with "
                              "pretrained_checkpoint set (use AdversarialSupervised or AdversarialPretraining "
                              "to train from scratch)")

    def attack_input(self, batch: Batch, views: Views) -> Tensor:
        return views[0]
