"""Losses. NT-Xent comes from lightly (``lightly.loss.NTXentLoss``); SupCon is ours (lightly has none)."""

from cl_robust.losses.supcon import SupConLoss

__all__ = ["SupConLoss"]
