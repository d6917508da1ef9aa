"""Bootstrap intervals of minibatch CKA over batches: they hold the estimate and shrink with agreement."""
from __future__ import annotations

import pytest
import torch

from cl_robust.analysis.bootstrap import bootstrap_cka
from cl_robust.analysis.cka import MinibatchCKA
from cl_robust.errors import ConfigError


def _layers(x: torch.Tensor, noise: float, generator: torch.Generator) -> list[torch.Tensor]:
    return [x, x @ torch.randn(8, 8, generator=generator) + noise * torch.randn(x.shape, generator=generator),
            torch.randn(x.shape, generator=generator)]


def test_batch_terms_sum_to_the_running_sums_and_interval_holds_the_estimate() -> None:
    generator = torch.Generator().manual_seed(0)
    metric = MinibatchCKA(3, keep_batch_terms=True)
    for _ in range(12):
        metric.update(_layers(torch.randn(32, 8, generator=generator), 2.0, generator))
    xy, xx, yy = metric.batch_terms()
    assert xy.shape == (12, 3, 3) and xx.shape == (12, 3) and yy.shape == (12, 3)
    assert torch.allclose(xy.sum(0), metric.hsic_xy) and torch.allclose(xx.sum(0), metric.hsic_xx)
    estimate = metric.compute()
    interval = bootstrap_cka(metric, resamples=500, seed=1)
    low, high = torch.tensor(interval["cka_low"]), torch.tensor(interval["cka_high"])
    assert torch.all(low <= estimate + 1e-9) and torch.all(estimate <= high + 1e-9)
    assert high[0, 1] - low[0, 1] > 0.01  # noisy layers: a real interval
    mean_all = estimate.mean().item()
    assert interval["mean_all"][0] <= mean_all <= interval["mean_all"][1]
    assert bootstrap_cka(metric, resamples=500, seed=1) == interval  # seeded


def test_identical_batches_give_a_point_interval() -> None:
    generator = torch.Generator().manual_seed(0)
    batch = _layers(torch.randn(16, 8, generator=generator), 1.0, generator)
    metric = MinibatchCKA(3, keep_batch_terms=True)
    for _ in range(5):
        metric.update(batch)
    interval = bootstrap_cka(metric, resamples=50)
    assert torch.allclose(torch.tensor(interval["cka_low"]), torch.tensor(interval["cka_high"]))


def test_bootstrap_needs_kept_terms_and_valid_settings() -> None:
    metric = MinibatchCKA(2)
    metric.update([torch.randn(8, 4), torch.randn(8, 4)])
    with pytest.raises(ConfigError, match="keep_batch_terms"):
        bootstrap_cka(metric)
    with pytest.raises(ConfigError, match="resamples"):
        bootstrap_cka(MinibatchCKA(2, keep_batch_terms=True), resamples=0)
