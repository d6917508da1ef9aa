"""Losses over the labelled part of a batch, with labels < 0 meaning "unknown" (semi-supervised mixes).

A mean over the labelled samples of a batch needs care under DDP: ranks hold different numbers
of labelled samples, and DDP averages the ranks' gradients. :func:`masked_mean` therefore divides
each rank's sum by the labelled count of the *global* batch (all-reduced) times the world size,
so that k ranks x batch B give the loss and gradients of one batch kB, as the contrastive losses
do. A batch without a labelled sample gives 0, not NaN.
"""

from __future__ import annotations

import torch.distributed as dist
import torch.nn.functional as F
from lightly.utils import dist as lightly_dist
from torch import Tensor

#: The label the data module serves for an image whose label the scheme may not use.
UNKNOWN = -1


def masked_mean(values: Tensor, mask: Tensor, gather_distributed: bool = True) -> Tensor:
    """Mean of ``values`` where ``mask`` is True, over every rank's batch (0 when nothing is selected).

    Masked-out values get exactly zero gradient. With ``gather_distributed`` and several ranks,
    each rank returns ``world_size * sum_local / count_global``: DDP's gradient average then equals
    the gradient of the mean over the whole global batch.
    """
    total = values.masked_fill(~mask, 0.0).sum()
    count = mask.sum().to(values.dtype)
    world_size = lightly_dist.world_size() if gather_distributed else 1
    if world_size > 1:
        count = count.detach().clone()
        dist.all_reduce(count)
    return total * world_size / count.clamp_min(1.0)


def known(labels: Tensor) -> Tensor:
    """Which labels are known (``labels >= 0``)."""
    return labels >= 0


def masked_cross_entropy(logits: Tensor, labels: Tensor, gather_distributed: bool = True) -> Tensor:
    """Cross-entropy (float32) averaged over the samples with a known label (``labels >= 0``)."""
    losses = F.cross_entropy(logits.float(), labels, ignore_index=UNKNOWN, reduction="none")
    return masked_mean(losses, known(labels), gather_distributed)


__all__ = ["UNKNOWN", "known", "masked_cross_entropy", "masked_mean"]
