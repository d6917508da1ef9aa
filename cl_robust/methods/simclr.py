"""SimCLR (Chen et al. 2020): NT-Xent over two augmented views, no labels (scheme ``cl``).

The loss is lightly's ``NTXentLoss``; with ``gather_distributed=True`` it takes negatives
from every rank with gradients under DDP.
"""

from __future__ import annotations

from typing import ClassVar

from lightly.loss import NTXentLoss
from torch import Tensor, nn

from cl_robust.methods.contrastive import ContrastiveMethod


class SimCLR(ContrastiveMethod):
    """Label-free contrastive pretraining; labels only feed the online probe."""

    scheme: ClassVar[str] = "cl"
    uses_labels: ClassVar[bool] = False

    def build_criterion(self, temperature: float) -> nn.Module:
        return NTXentLoss(temperature=temperature, gather_distributed=True)

    def contrastive_loss(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.criterion(z1.float(), z2.float())
