"""Redundancy numbers from a layer x layer CKA matrix.

The paper shows CKA heatmaps only; these numbers summarise them. A block of consecutive
layers with high mutual CKA means those layers transform the representation little.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from cl_robust.errors import ConfigError, shown


def _largest_block(similar: Tensor) -> tuple[int, int]:
    """Longest run [start, end] of consecutive layers with ``similar[i, j]`` for all i != j in it.

    Ties go to the earliest start. A single layer is always a block of size 1.
    """
    n = similar.shape[0]
    best_start, best_end = 0, 0
    for start in range(n):
        end = start
        while end + 1 < n and bool(similar[start : end + 1, end + 1].all() and similar[end + 1, start : end + 1].all()):
            end += 1
        if end - start > best_end - best_start:
            best_start, best_end = start, end
    return best_start, best_end


def redundancy_scores(cka: Tensor, threshold: float = 0.9) -> dict[str, float]:
    """Summaries of a square layer x layer CKA matrix ``cka`` (n layers, in forward order).

    - ``mean_offdiagonal``: mean of the n (n - 1) entries with i != j (NaN when n == 1).
    - ``mean_all``: mean of all n^2 entries, diagonal included (comparable to the
      whole-matrix means computed from the reference's published matrices).
    - ``largest_block``: size of the largest set of consecutive layers i..j whose pairwise
      CKA (every entry [a, b] with a != b, both orders) exceeds ``threshold``; at least 1.
    - ``largest_block_fraction``: ``largest_block / n``.
    - ``block_start`` / ``block_end``: first and last layer index (inclusive) of that block;
      the earliest block when several have the largest size.
    """
    if cka.ndim != 2 or cka.shape[0] != cka.shape[1] or cka.shape[0] == 0:
        raise ConfigError(f"cka must be a non-empty square layer x layer matrix; got shape {tuple(cka.shape)}")
    if not torch.isfinite(cka).all():
        raise ConfigError("cka contains NaN or inf (a layer with constant output?); cannot score redundancy")
    if not math.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number; got {shown(threshold)}")
    values = cka.detach().to(torch.float64).cpu()
    n = values.shape[0]
    off_diagonal = values[~torch.eye(n, dtype=torch.bool)]
    start, end = _largest_block(values > threshold)
    size = end - start + 1
    return {
        "mean_offdiagonal": off_diagonal.mean().item() if n > 1 else math.nan,
        "mean_all": values.mean().item(),
        "largest_block": float(size),
        "largest_block_fraction": size / n,
        "block_start": float(start),
        "block_end": float(end),
    }
