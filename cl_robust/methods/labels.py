"""Label hygiene for semi-supervised training: the labels a scheme may use, and no others.

A data module serving a labelled fraction adds ``batch["labeled"]`` (True for the images whose
label may be used). :func:`known_labels` is the only way the semi-supervised schemes and the
adversarial callbacks read labels: the label of every other image is replaced by
:data:`~cl_robust.losses.masked.UNKNOWN` (-1) whatever the batch holds, so it can reach no loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cl_robust.losses.masked import UNKNOWN

#: Key of the labelled mask in a batch dictionary.
LABELED = "labeled"


def known_labels(batch: dict[str, Tensor]) -> Tensor:
    """``batch["y"]`` with every image outside ``batch["labeled"]`` set to -1 (all of it when there is no mask)."""
    labels = batch["y"]
    mask = batch.get(LABELED)
    if mask is None:
        return labels
    return torch.where(mask.to(torch.bool), labels, torch.full_like(labels, UNKNOWN))


__all__ = ["LABELED", "known_labels"]
