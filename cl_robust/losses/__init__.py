"""Losses. NT-Xent comes from lightly (``lightly.loss.NTXentLoss``); SupCon is ours (lightly has none).

Labels < 0 mean "unknown" everywhere (:mod:`cl_robust.losses.masked`): the semi-supervised mixes
never let an unlabelled image's label reach a loss.
"""

from cl_robust.losses.masked import UNKNOWN, masked_cross_entropy, masked_mean
from cl_robust.losses.objectives import CONTRASTIVE_TERMS, ContrastiveObjective
from cl_robust.losses.supcon import SupConLoss

__all__ = ["CONTRASTIVE_TERMS", "UNKNOWN", "ContrastiveObjective", "SupConLoss", "masked_cross_entropy",
           "masked_mean"]
