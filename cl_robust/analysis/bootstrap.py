"""Bootstrap intervals of minibatch CKA over test batches.

The minibatch estimator (Nguyen, Raghu & Kornblith 2021) is a ratio of sums of per-batch
HSIC_1 terms, so resampling batches with replacement (Efron & Tibshirani 1993, the percentile
bootstrap) only re-weights those sums: no feature is recomputed. The interval covers the
sampling variation of the test images, not the variation between training runs (seeds).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from cl_robust.analysis.cka import MinibatchCKA, cka_from_sums
from cl_robust.errors import ConfigError

RESAMPLES = 1000
LEVEL = 0.95


def _mean_offdiagonal(matrices: Tensor) -> Tensor:
    n = matrices.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=matrices.device)
    return matrices[..., off].mean(dim=-1) if n > 1 else torch.full(matrices.shape[:-2], math.nan)


def bootstrap_cka(metric: MinibatchCKA, resamples: int = RESAMPLES, level: float = LEVEL,
                  seed: int = 0) -> dict[str, Any]:
    """Percentile intervals of a layer x layer CKA matrix and of its redundancy means.

    Returns ``{"level", "resamples", "batches", "cka_low", "cka_high"}`` (matrices as nested
    lists) and, for a square matrix, ``"mean_all"`` and ``"mean_offdiagonal"`` as ``[low, high]``
    (the statistics of :func:`~cl_robust.analysis.redundancy.redundancy_scores`). With a single
    batch there is nothing to resample: the intervals collapse to the estimate.
    """
    if resamples < 1 or not 0 < level < 1:
        raise ConfigError(f"bootstrap needs resamples >= 1 and 0 < level < 1; got {resamples}, {level}")
    xy, xx, yy = (t.double().cpu() for t in metric.batch_terms())
    batches = xy.shape[0]
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, batches, (resamples, batches), generator=generator)
    weights = torch.zeros(resamples, batches, dtype=torch.float64).scatter_add_(
        1, picks, torch.ones(resamples, batches, dtype=torch.float64))
    matrices = cka_from_sums((weights @ xy.flatten(1)).view(resamples, *xy.shape[1:]), weights @ xx, weights @ yy)
    tail = (1 - level) / 2
    quantiles = torch.tensor([tail, 1 - tail], dtype=torch.float64)
    low, high = torch.nanquantile(matrices, quantiles, dim=0)
    result: dict[str, Any] = {"level": level, "resamples": resamples, "batches": batches,
                              "cka_low": low.tolist(), "cka_high": high.tolist()}
    if matrices.shape[-1] == matrices.shape[-2]:
        for name, values in (("mean_all", matrices.mean(dim=(-1, -2))), ("mean_offdiagonal", _mean_offdiagonal(matrices))):
            result[name] = torch.nanquantile(values, quantiles).tolist()
    return result
