"""MinibatchCKA and the full-data reference: properties, agreement, reduction, errors."""
import math

import pytest
import torch

from cl_robust.analysis.cka import MinibatchCKA, cka_diagonal, gram_linear, linear_cka_full, unbiased_hsic
from cl_robust.errors import ConfigError

NUM_SAMPLES = 1000


def correlated_layers(seed: int = 0, num_samples: int = NUM_SAMPLES) -> list[torch.Tensor]:
    """Four 'layers' that share an 8-d latent, with growing noise (CKA from ~0.55 to 1)."""
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(num_samples, 8, generator=gen)
    layers = []
    for noise in (0.1, 0.5, 1.0, 2.0):
        signal = torch.relu(latent @ torch.randn(8, 64, generator=gen))
        layers.append(signal + noise * torch.randn(num_samples, 64, generator=gen))
    return layers


def minibatch_cka(layers: list[torch.Tensor], batch_size: int, other: list[torch.Tensor] | None = None) -> torch.Tensor:
    metric = MinibatchCKA(len(layers), None if other is None else len(other))
    for start in range(0, layers[0].shape[0], batch_size):
        batch_y = None if other is None else [y[start : start + batch_size] for y in other]
        metric.update([x[start : start + batch_size] for x in layers], batch_y)
    return metric.compute()


def test_unbiased_hsic_matches_song_et_al_formula_written_out() -> None:
    n = 30
    x, y = torch.randn(n, 5, dtype=torch.float64), torch.randn(n, 7, dtype=torch.float64)
    k, l_ = x @ x.T, y @ y.T
    k.fill_diagonal_(0)
    l_.fill_diagonal_(0)
    ones = torch.ones(n, 1, dtype=torch.float64)
    expected = (
        torch.trace(k @ l_)
        + (ones.T @ k @ ones).item() * (ones.T @ l_ @ ones).item() / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (ones.T @ k @ l_ @ ones).item()
    ) / (n * (n - 3))
    assert unbiased_hsic(x @ x.T, y @ y.T).item() == pytest.approx(expected.item(), rel=1e-10)


def test_centering_the_features_leaves_hsic_unchanged() -> None:
    x, y = torch.randn(40, 6, dtype=torch.float64) + 5.0, torch.randn(40, 3, dtype=torch.float64) - 2.0
    raw = unbiased_hsic(x @ x.T, y @ y.T)
    assert unbiased_hsic(gram_linear(x), gram_linear(y)).item() == pytest.approx(raw.item(), rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channels_last_features_give_the_same_gram(dtype: torch.dtype) -> None:
    features = torch.randn(12, 5, 6, 7).to(dtype)
    channels_last = features.contiguous(memory_format=torch.channels_last)
    assert not channels_last.is_contiguous()  # the layout the bf16 feature pass records
    torch.testing.assert_close(gram_linear(channels_last), gram_linear(features), rtol=1e-5, atol=1e-4)


def test_layer_with_itself_is_one_and_matrix_is_symmetric() -> None:
    cka = minibatch_cka(correlated_layers(), batch_size=100)
    torch.testing.assert_close(torch.diagonal(cka), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(cka, cka.T)
    assert (cka < 1.0 + 1e-9).all()


def test_invariant_to_orthogonal_transform_and_isotropic_scaling() -> None:
    layers = correlated_layers()
    rotation, _ = torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64))
    transformed = [(3.7 * x.double()) @ rotation for x in layers]
    reference = minibatch_cka(layers, batch_size=100)
    torch.testing.assert_close(minibatch_cka(layers, 100, other=transformed), reference, atol=1e-9, rtol=0)
    assert linear_cka_full(layers[0], transformed[0]).item() == pytest.approx(1.0, abs=1e-9)
    assert linear_cka_full(layers[1], 0.01 * layers[2]).item() == pytest.approx(
        linear_cka_full(layers[1], layers[2]).item(), abs=1e-9
    )


@pytest.fixture(scope="module")
def full_data_cka() -> torch.Tensor:
    layers = correlated_layers()
    return torch.tensor([[linear_cka_full(a, b).item() for b in layers] for a in layers], dtype=torch.float64)


@pytest.mark.parametrize("batch_size", [50, 100, 250])
def test_minibatch_estimate_agrees_with_full_data_unbiased_cka(batch_size: int, full_data_cka: torch.Tensor) -> None:
    # Tolerance 0.03. Both numbers estimate the same population CKA with unbiased HSIC_1;
    # the minibatch one only drops the cross-batch pairs, so they differ by sampling noise
    # of order 1/sqrt(N) = 0.03 for N = 1000 examples. Measured over 10 seeds: at most
    # 0.011 (B = 50), 0.006 (B = 100), 0.005 (B = 250).
    torch.testing.assert_close(minibatch_cka(correlated_layers(), batch_size), full_data_cka, atol=0.03, rtol=0)


def test_full_data_cka_is_near_biased_cka_for_many_samples() -> None:
    x, y = correlated_layers()[:2]
    assert linear_cka_full(x, y).item() == pytest.approx(linear_cka_full(x, y, unbiased=False).item(), abs=0.05)


@pytest.mark.parametrize("batch_size", [4, 5, 8])
def test_small_batches_down_to_the_minimum_give_finite_values(batch_size: int) -> None:
    layers = [x[:40] for x in correlated_layers()]
    cka = minibatch_cka(layers, batch_size)
    assert torch.isfinite(cka).all()
    torch.testing.assert_close(torch.diagonal(cka), torch.ones(4, dtype=torch.float64))


def test_batch_below_minimum_is_a_clear_error() -> None:
    metric = MinibatchCKA(1)
    with pytest.raises(ConfigError, match=r"batch size must be >= 4.*got 3"):
        metric.update([torch.randn(3, 10)])


def test_wrong_number_of_layers_and_mismatched_batches_are_errors() -> None:
    with pytest.raises(ConfigError, match="features_x must hold 2"):
        MinibatchCKA(2).update([torch.randn(8, 3)])
    with pytest.raises(ConfigError, match="same batch size"):
        MinibatchCKA(2).update([torch.randn(8, 3), torch.randn(9, 3)])
    with pytest.raises(ConfigError, match="features_y is required"):
        MinibatchCKA(1, 2).update([torch.randn(8, 3)])
    with pytest.raises(ConfigError, match="num_layers_x"):
        MinibatchCKA(0)


def test_cross_model_matrix_has_shape_x_by_y() -> None:
    layers = correlated_layers()
    cka = minibatch_cka(layers[:3], 100, other=layers[1:])
    assert cka.shape == (3, 3)
    torch.testing.assert_close(cka[1, 0], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(cka_diagonal(cka), torch.stack([cka[i, i] for i in range(3)]))
    with pytest.raises(ConfigError, match="square"):
        cka_diagonal(cka[:2])


@pytest.mark.filterwarnings("ignore:The ..compute.. method:UserWarning")
def test_merged_states_equal_one_metric_on_all_batches() -> None:
    """What DDP's sum reduction does: two ranks' states added equal one process's state."""
    layers = correlated_layers()
    batches = [[x[s : s + 100] for x in layers] for s in range(0, NUM_SAMPLES, 100)]
    whole, rank0, rank1 = MinibatchCKA(4), MinibatchCKA(4), MinibatchCKA(4)
    for i, batch in enumerate(batches):
        whole.update(batch)
        (rank0 if i % 2 == 0 else rank1).update(batch)
    summed = MinibatchCKA(4)
    for name in ("hsic_xy", "hsic_xx", "hsic_yy", "num_batches"):
        setattr(summed, name, getattr(rank0, name) + getattr(rank1, name))
    torch.testing.assert_close(summed.compute(), whole.compute(), atol=1e-12, rtol=0)
    rank0.merge_state(rank1)
    torch.testing.assert_close(rank0.compute(), whole.compute(), atol=1e-12, rtol=0)
    assert int(rank0.num_batches) == len(batches)


def test_constant_layer_gives_nan_not_an_exception() -> None:
    metric = MinibatchCKA(2)
    metric.update([torch.randn(10, 4), torch.ones(10, 4)])
    assert math.isnan(metric.compute()[1, 1].item())
