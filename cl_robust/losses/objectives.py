"""The contrastive part of each pretraining scheme's objective, term by term.

- ``nt_xent``: NT-Xent over the two views of every image (Chen et al. 2020, SimCLR; lightly's
  ``NTXentLoss``), label-free;
- ``supcon``: SupCon over the images with a known label (Khosla et al. 2020; labels < 0 are
  unknown and take no part, see :class:`~cl_robust.losses.supcon.SupConLoss`).

``cl`` is NT-Xent, ``scl`` SupCon; the semi-supervised mixes of the reference study sum them:
``cl+scl`` both, ``cl+sl`` NT-Xent (its cross-entropy is not contrastive), ``scl+sl`` SupCon.
Adversarial pretraining maximises, and threat model I attacks, this sum.
"""

from __future__ import annotations

from lightly.loss import NTXentLoss
from torch import Tensor, nn

from cl_robust.errors import ConfigError
from cl_robust.losses.supcon import SupConLoss

#: Contrastive terms of each scheme that has a projection head.
CONTRASTIVE_TERMS: dict[str, tuple[str, ...]] = {
    "cl": ("nt_xent",),
    "scl": ("supcon",),
    "cl+scl": ("nt_xent", "supcon"),
    "cl+sl": ("nt_xent",),
    "scl+sl": ("supcon",),
}


class ContrastiveObjective(nn.Module):
    """Sum of a scheme's contrastive terms between two batches of embeddings.

    Args:
        scheme: a key of :data:`CONTRASTIVE_TERMS`.
        temperature: softmax temperature of every term.
        gather_distributed: take negatives (and labelled counts) from every rank under DDP.
    """

    def __init__(self, scheme: str, temperature: float, gather_distributed: bool = True) -> None:
        super().__init__()
        if scheme not in CONTRASTIVE_TERMS:
            raise ConfigError(f"scheme {scheme!r} has no contrastive objective; schemes with one: "
                              f"{', '.join(CONTRASTIVE_TERMS)}")
        self.names = CONTRASTIVE_TERMS[scheme]
        self.parts = nn.ModuleDict()
        if "nt_xent" in self.names:
            self.parts["nt_xent"] = NTXentLoss(temperature=temperature, gather_distributed=gather_distributed)
        if "supcon" in self.names:
            self.parts["supcon"] = SupConLoss(temperature=temperature, gather_distributed=gather_distributed)

    @property
    def uses_labels(self) -> bool:
        return "supcon" in self.names

    def terms(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """``{term: loss}`` in float32; SupCon reads ``labels`` (< 0: unknown), NT-Xent never does."""
        z1, z2 = z1.float(), z2.float()
        losses = {}
        if "nt_xent" in self.parts:
            losses["nt_xent"] = self.parts["nt_xent"](z1, z2)
        if "supcon" in self.parts:
            if labels is None:
                raise ConfigError("the SupCon term needs labels (labels < 0 mark unknown ones)")
            losses["supcon"] = self.parts["supcon"](z1, z2, labels)
        return losses

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        return sum(self.terms(z1, z2, labels).values())  # type: ignore[return-value]
