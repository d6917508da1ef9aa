"""Supervised contrastive learning (Khosla et al. 2020), L_out form (scheme ``scl``)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from cl_robust.losses.supcon import SupConLoss
from cl_robust.methods.contrastive import ContrastiveMethod


class SupCon(ContrastiveMethod):
    """Contrastive pretraining where every sample of the same class is a positive."""

    scheme: ClassVar[str] = "scl"
    uses_labels: ClassVar[bool] = True

    def build_criterion(self, temperature: float) -> nn.Module:
        return SupConLoss(temperature=temperature, gather_distributed=True)

    def contrastive_loss(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.criterion(z1, z2, labels)
