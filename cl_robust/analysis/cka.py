"""Linear CKA between layer representations, full-data and minibatch.

Centered Kernel Alignment (Kornblith et al. 2019) compares two representations of the same
examples through their Gram matrices. For data sets too large for one n x n Gram, Nguyen,
Raghu & Kornblith (2021, "Do wide and deep networks learn the same things?", Sec. 3.1)
average the unbiased HSIC estimator HSIC_1 of Song et al. (2012) over minibatches:

    CKA(K, L) = sum_b HSIC_1(K_b, L_b) / sqrt(sum_b HSIC_1(K_b, K_b) * sum_b HSIC_1(L_b, L_b))

with K_b = X_b X_b^T the linear-kernel Gram of minibatch b. Because HSIC_1 is unbiased, the
sum over batches estimates the same quantity as the full-data unbiased CKA, while memory stays
one B x B Gram per layer per batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from cl_robust.errors import ConfigError, shown

MIN_BATCH_SIZE = 4
"""HSIC_1 divides by n (n - 3): batches need at least four examples."""


def gram_linear(features: Tensor) -> Tensor:
    """Linear-kernel Gram matrix X X^T of ``features`` [n, ...] (flattened), returned in float64.

    Features are centered first (column means removed). HSIC_1 is unchanged by this
    (its U-centering removes any additive row and column terms), and the smaller entries
    make the Gram accurate: the product runs in float32 for float32 (or lower-precision)
    features, about three times faster than float64 on a CPU, and changed ResNet-18 CKA
    matrices by under 1e-8; float64 features stay in float64. The HSIC sums, where large
    terms cancel, are always float64. Channels_last features are read in memory order.
    """
    compute_dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
    if features.dim() == 4 and features.is_contiguous(memory_format=torch.channels_last):
        # Columns in memory order (a view, no copy): X X^T does not depend on the order of the columns.
        features = features.permute(0, 2, 3, 1)
    x = features.detach().flatten(1).to(compute_dtype, copy=True)
    x -= x.mean(dim=0, keepdim=True)
    return (x @ x.T).to(torch.float64)


def _hsic1(grams_k: Tensor, grams_l: Tensor, pairwise: bool = True) -> Tensor:
    """HSIC_1 of stacked Grams [a, n, n] and [b, n, n].

    Song et al. (2012), Eq. (5), with K~, L~ the Grams with zeroed diagonals:
    HSIC_1 = [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n (n-3)).
    ``pairwise=True`` returns every pair, [a, b]; ``False`` pairs them in order (a == b), [a].
    """
    n = grams_k.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=grams_k.device)
    k = grams_k.masked_fill(eye, 0.0)
    l_t = grams_l.masked_fill(eye, 0.0).transpose(-1, -2)
    col_sums_k, row_sums_l = k.sum(dim=-2), l_t.sum(dim=-2)
    sum_k, sum_l = col_sums_k.sum(dim=-1), row_sums_l.sum(dim=-1)
    if pairwise:
        trace_kl = k.flatten(1) @ l_t.flatten(1).T
        sums_product = torch.outer(sum_k, sum_l)
        ones_kl_ones = col_sums_k @ row_sums_l.T
    else:
        trace_kl = (k * l_t).sum(dim=(-1, -2))
        sums_product = sum_k * sum_l
        ones_kl_ones = (col_sums_k * row_sums_l).sum(dim=-1)
    total = trace_kl + sums_product / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_kl_ones
    return total / (n * (n - 3))


def _check_batch_size(n: int) -> None:
    if n < MIN_BATCH_SIZE:
        raise ConfigError(
            f"batch size must be >= {MIN_BATCH_SIZE} for the unbiased HSIC estimator "
            f"(it divides by n - 3); got {n}"
        )


def unbiased_hsic(gram_k: Tensor, gram_l: Tensor) -> Tensor:
    """Unbiased HSIC_1 (Song et al. 2012, Eq. 5) of two n x n Grams; diagonals are ignored."""
    if gram_k.shape != gram_l.shape or gram_k.ndim != 2 or gram_k.shape[0] != gram_k.shape[1]:
        raise ConfigError(
            f"unbiased_hsic needs two square Grams of equal size; got {tuple(gram_k.shape)} "
            f"and {tuple(gram_l.shape)}"
        )
    _check_batch_size(gram_k.shape[0])
    k = gram_k.to(torch.float64)[None]
    l_ = gram_l.to(torch.float64)[None]
    return _hsic1(k, l_)[0, 0]


def _biased_hsic(gram_k: Tensor, gram_l: Tensor) -> Tensor:
    """HSIC_0 = tr(K H L H) / (n - 1)^2 (Gretton et al. 2005), H the centering matrix."""
    n = gram_k.shape[0]
    center = torch.eye(n, dtype=gram_k.dtype, device=gram_k.device) - 1.0 / n
    return torch.trace(gram_k @ center @ gram_l @ center) / (n - 1) ** 2


def linear_cka_full(x: Tensor, y: Tensor, unbiased: bool = True) -> Tensor:
    """Linear CKA of ``x`` [n, ...] and ``y`` [n, ...] from full-data Grams (float64 scalar).

    ``unbiased=True`` uses HSIC_1 (the quantity the minibatch estimate targets,
    Nguyen et al. 2021); ``False`` gives the original CKA of Kornblith et al. (2019).
    """
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"x and y need the same number of examples; got {x.shape[0]} and {y.shape[0]}")
    gram_x, gram_y = gram_linear(x), gram_linear(y)
    hsic = unbiased_hsic if unbiased else _biased_hsic
    return hsic(gram_x, gram_y) / torch.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))


class MinibatchCKA(Metric):
    """Layer x layer minibatch CKA (Nguyen, Raghu & Kornblith 2021, Sec. 3.1).

    ``update`` takes one batch of features per layer ([B, ...] each, flattened), builds one
    B x B linear Gram per layer and adds HSIC_1 of every pair of layers to running sums.
    ``compute`` returns the [num_layers_x, num_layers_y] float64 matrix
    CKA[i, j] = sum HSIC_1(K_i, L_j) / sqrt(sum HSIC_1(K_i, K_i) * sum HSIC_1(L_j, L_j)).

    Without ``features_y`` the matrix compares the x layers with themselves (within one
    model). States are sums reduced with ``"sum"``, so DDP gives the same result as one
    process seeing every batch. Batches need B >= 4. The estimator accepts unequal batch
    sizes between updates, but the published procedure uses equal sizes (drop the last
    partial batch to match it). A layer with constant output gives NaN (0 / 0).

    ``keep_batch_terms=True`` also keeps each batch's HSIC terms (a few numbers per layer pair),
    gathered across ranks, so :meth:`batch_terms` can resample batches for a bootstrap interval
    (:mod:`cl_robust.analysis.bootstrap`).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    hsic_xy: Tensor
    hsic_xx: Tensor
    hsic_yy: Tensor
    num_batches: Tensor

    def __init__(self, num_layers_x: int, num_layers_y: int | None = None, keep_batch_terms: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in (("num_layers_x", num_layers_x), ("num_layers_y", num_layers_y)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer; got {shown(value)}")
        self.num_layers_x = num_layers_x
        self.num_layers_y = num_layers_x if num_layers_y is None else num_layers_y
        f64 = torch.float64
        self.add_state("hsic_xy", torch.zeros(num_layers_x, self.num_layers_y, dtype=f64), "sum")
        self.add_state("hsic_xx", torch.zeros(num_layers_x, dtype=f64), "sum")
        self.add_state("hsic_yy", torch.zeros(self.num_layers_y, dtype=f64), "sum")
        self.add_state("num_batches", torch.zeros((), dtype=torch.long), "sum")
        self.keep_batch_terms = keep_batch_terms
        if keep_batch_terms:
            for name in ("batch_xy", "batch_xx", "batch_yy"):
                self.add_state(name, [], "cat")

    def _stacked_grams(self, features: Sequence[Tensor], expected: int, name: str) -> Tensor:
        if len(features) != expected:
            raise ConfigError(f"{name} must hold {expected} layer tensors (one per layer); got {len(features)}")
        sizes = {int(f.shape[0]) for f in features}
        if len(sizes) != 1:
            raise ConfigError(f"{name}: every layer needs the same batch size; got sizes {sorted(sizes)}")
        _check_batch_size(sizes.pop())
        return torch.stack([gram_linear(f) for f in features])

    def update(self, features_x: Sequence[Tensor], features_y: Sequence[Tensor] | None = None) -> None:
        """Add one batch: ``features_x`` (and ``features_y``) hold one [B, ...] tensor per layer."""
        grams_x = self._stacked_grams(features_x, self.num_layers_x, "features_x")
        if features_y is None:
            if self.num_layers_y != self.num_layers_x:
                raise ConfigError(
                    f"features_y is required: the metric was built with num_layers_y={self.num_layers_y}"
                )
            hsic_xy = _hsic1(grams_x, grams_x)
            hsic_xx = hsic_yy = torch.diagonal(hsic_xy)
        else:
            grams_y = self._stacked_grams(features_y, self.num_layers_y, "features_y")
            if grams_y.shape[-1] != grams_x.shape[-1]:
                raise ConfigError(
                    f"features_x and features_y need the same batch size; got {grams_x.shape[-1]} "
                    f"and {grams_y.shape[-1]}"
                )
            hsic_xy = _hsic1(grams_x, grams_y)
            hsic_xx = _hsic1(grams_x, grams_x, pairwise=False)
            hsic_yy = _hsic1(grams_y, grams_y, pairwise=False)
        device = self.hsic_xy.device
        self.hsic_xy += hsic_xy.to(device)
        self.hsic_xx += hsic_xx.to(device)
        self.hsic_yy += hsic_yy.to(device)
        self.num_batches += 1
        if self.keep_batch_terms:
            self.batch_xy.append(hsic_xy.to(device)[None])
            self.batch_xx.append(hsic_xx.to(device)[None])
            self.batch_yy.append(hsic_yy.to(device)[None])

    def compute(self) -> Tensor:
        """The [num_layers_x, num_layers_y] CKA matrix (float64)."""
        return cka_from_sums(self.hsic_xy, self.hsic_xx, self.hsic_yy)

    def batch_terms(self) -> tuple[Tensor, Tensor, Tensor]:
        """Each batch's HSIC_1 terms: ``xy`` [B, Lx, Ly], ``xx`` [B, Lx], ``yy`` [B, Ly] (every rank's batches)."""
        if not self.keep_batch_terms:
            raise ConfigError("batch_terms needs MinibatchCKA(..., keep_batch_terms=True)")
        with self.sync_context(should_sync=True, should_unsync=True):
            terms = [getattr(self, name) for name in ("batch_xy", "batch_xx", "batch_yy")]
            stacked = [torch.cat(t) if isinstance(t, list) and t else t for t in terms]
        if any(isinstance(t, list) for t in stacked):
            raise ConfigError("batch_terms: no batch was added (call update first)")
        return stacked[0].clone(), stacked[1].clone(), stacked[2].clone()


def cka_from_sums(hsic_xy: Tensor, hsic_xx: Tensor, hsic_yy: Tensor) -> Tensor:
    """CKA = sum HSIC(K, L) / sqrt(sum HSIC(K, K) * sum HSIC(L, L)); batched over leading dimensions."""
    return hsic_xy / torch.sqrt(hsic_xx.unsqueeze(-1) * hsic_yy.unsqueeze(-2))


def cka_diagonal(metric_result: Tensor) -> Tensor:
    """CKA of each layer with its counterpart (e.g. clean vs adversarial inputs): the diagonal."""
    if metric_result.ndim != 2 or metric_result.shape[0] != metric_result.shape[1]:
        raise ConfigError(
            f"cka_diagonal needs a square layer x layer matrix; got shape {tuple(metric_result.shape)}"
        )
    return torch.diagonal(metric_result).clone()
