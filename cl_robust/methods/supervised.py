"""Supervised learning: cross-entropy through encoder + linear head, trained end to end (scheme ``sl``)."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from cl_robust.methods.base import Batch, RobustMethod, Views


class SupervisedLearning(RobustMethod):
    """CE on the augmented image (pad-4 crop + flip by default), the study's SL baseline."""

    scheme: ClassVar[str] = "sl"
    default_views: ClassVar[str] = "supervised"

    def training_losses(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        logits = self(views[0])
        self.log_classifier_accuracy(logits, batch["y"])
        return {"ce": F.cross_entropy(logits.float(), batch["y"])}
