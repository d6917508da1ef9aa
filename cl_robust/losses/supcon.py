"""Supervised contrastive loss, L_out form (Khosla et al. 2020, "Supervised Contrastive Learning", Eq. 2).

    L = sum_i  -1/|P(i)|  sum_{p in P(i)}  log( exp(z_i . z_p / tau) / sum_{a != i} exp(z_i . z_a / tau) )

over the 2N anchors of two views, P(i) = all other samples with the label of i. With every
sample its own class, P(i) is the other view only and the loss equals NT-Xent (SimCLR), which
the tests check against ``lightly.loss.NTXentLoss``.

A label < 0 means "unknown" (the unlabelled images of a semi-supervised mix): such a sample is
neither an anchor nor a key, so the loss equals SupCon on the labelled sub-batch and the
unlabelled samples get exactly zero gradient, whatever their label value.

lightly has no SupCon loss and pytorch-metric-learning's does not gather negatives across
ranks; this one gathers embeddings and labels from every rank with gradients (lightly's
``GatherLayer``), like lightly's NT-Xent, so a step on k ranks x batch B equals one on batch kB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightly.utils import dist as lightly_dist
from torch import Tensor, nn

from cl_robust.errors import check_positive
from cl_robust.losses.masked import known, masked_mean


class SupConLoss(nn.Module):
    """SupCon over two views; ``labels=None`` makes every sample its own class (NT-Xent); labels < 0 are unknown."""

    def __init__(self, temperature: float = 0.07, gather_distributed: bool = True) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        batch = z1.shape[0]
        z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        supervised = labels is not None
        if labels is None:  # instance discrimination: a sample's id is its position in the global batch
            labels = torch.arange(batch, device=z1.device) + lightly_dist.rank() * batch
        keys1, keys2, key_labels = z1, z2, labels
        offset = 0
        if self.gather_distributed and lightly_dist.world_size() > 1:
            keys1 = torch.cat(lightly_dist.gather(z1))
            keys2 = torch.cat(lightly_dist.gather(z2))
            key_labels = torch.cat(lightly_dist.gather(labels.contiguous()))
            offset = lightly_dist.rank() * batch
        total = keys1.shape[0]
        anchors = torch.cat([z1, z2])
        keys = torch.cat([keys1, keys2])
        anchor_labels = torch.cat([labels, labels])
        key_labels = torch.cat([key_labels, key_labels])
        local = torch.arange(batch, device=z1.device) + offset
        self_index = torch.cat([local, local + total])  # where each anchor sits among the keys

        logits = anchors @ keys.T / self.temperature
        is_self = torch.zeros_like(logits, dtype=torch.bool)
        is_self[torch.arange(2 * batch, device=z1.device), self_index] = True
        # Unknown keys leave the denominator; a row without any key (an unknown anchor in a batch with
        # no other labelled sample) is filled with zeros instead of -inf, so nothing becomes NaN.
        valid = ~is_self & known(key_labels)[None, :]
        logits = logits.masked_fill(~valid, float("-inf")).masked_fill(~valid.any(1, keepdim=True), 0.0)
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        positive = (anchor_labels[:, None] == key_labels[None, :]) & valid
        mean_log_prob_pos = torch.where(positive, log_prob, 0.0).sum(1) / positive.sum(1).clamp_min(1)
        if not supervised:
            return -mean_log_prob_pos.mean()
        return -masked_mean(mean_log_prob_pos, known(anchor_labels), self.gather_distributed)
