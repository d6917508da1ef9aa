"""Batched linear filters with the border rules of the libraries CIFAR-10-C was made with.

CIFAR-10-C's generator filters one image at a time with scikit-image / SciPy (Gaussian blurs,
zooms), OpenCV (the defocus disk) and ImageMagick (motion blur). These are the same filters on
a batch ``[N, C, H, W]`` of float tensors, on any device, each with its library's border rule:

- ``nearest``: edge pixels repeat (SciPy ``nearest``, ImageMagick's default "edge" virtual pixels);
- ``reflect``: half-sample symmetric, ``d c b a | a b c d`` (SciPy ``reflect``);
- ``mirror``: whole-sample symmetric, ``d c b | a b c d`` (SciPy ``mirror``, OpenCV ``BORDER_REFLECT_101``).

Written here rather than taken from kornia or torchvision because those pad with other rules
(zeros, or only ``mirror``), compute kernel widths differently, and have no ImageMagick motion blur.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

BORDERS = ("nearest", "reflect", "mirror")


def fold_index(index: Tensor, size: int, border: str) -> Tensor:
    """Integer positions (any value) mapped into ``[0, size)`` by a border rule (see the module docstring)."""
    if border == "nearest":
        return index.clamp(0, size - 1)
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * size if border == "reflect" else 2 * size - 2
    folded = index.remainder(period)
    if border == "reflect":
        return torch.where(folded < size, folded, period - 1 - folded)
    return torch.where(folded < size, folded, period - folded)


def border_indices(size: int, before: int, after: int, border: str, device: torch.device) -> Tensor:
    """Indices into an axis of ``size`` samples that extend it by ``before`` and ``after`` samples."""
    return fold_index(torch.arange(-before, size + after, device=device), size, border)


def sample_bilinear(x: Tensor, rows: Tensor, columns: Tensor, row_fraction: Tensor, column_fraction: Tensor,
                    border: str, opencv_order: bool = False) -> Tensor:
    """Bilinear samples of each image of ``x`` ``[N, C, H, W]`` at per-pixel positions ``[N, H', W']``.

    ``rows`` / ``columns``: integer parts (long), ``*_fraction``: the rest in [0, 1); neighbours
    outside the image are folded in by ``border``. The four terms are summed in the order, and
    with the products, of OpenCV's ``remap`` (``opencv_order``: value x 2-D weight) or of SciPy's
    ``map_coordinates`` (value x row weight x column weight), so that rounding matches theirs.
    """
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    top, bottom = fold_index(rows, h, border), fold_index(rows + 1, h, border)
    left, right = fold_index(columns, w, border), fold_index(columns + 1, w, border)
    size = rows.shape[1:]

    def at(r: Tensor, col: Tensor) -> Tensor:
        index = (r * w + col).reshape(n, 1, -1).expand(n, c, -1)
        return flat.gather(2, index).reshape(n, c, *size)

    fr, fc = row_fraction[:, None].to(x.dtype), column_fraction[:, None].to(x.dtype)
    if opencv_order:
        return (at(top, left) * ((1 - fr) * (1 - fc)) + at(top, right) * ((1 - fr) * fc)
                + at(bottom, left) * (fr * (1 - fc)) + at(bottom, right) * (fr * fc))
    above, below, before, after = 1 - fr, fr, 1 - fc, fc
    return (at(top, left) * above * before + at(top, right) * above * after
            + at(bottom, left) * below * before + at(bottom, right) * below * after)


def correlate_axis(x: Tensor, weights: Tensor, dim: int, border: str) -> Tensor:
    """Correlate ``x`` along ``dim`` (2: rows, 3: columns) with an odd-length 1-D kernel ``weights``."""
    radius = (weights.numel() - 1) // 2
    if radius == 0:
        return x * weights[0]
    index = border_indices(x.shape[dim], radius, radius, border, x.device)
    padded = x.index_select(dim, index)
    n, c, h, w = padded.shape
    flat = padded.reshape(n * c, 1, h, w)
    kernel = weights.to(x.dtype).view(1, 1, -1, 1) if dim == 2 else weights.to(x.dtype).view(1, 1, 1, -1)
    out = F.conv2d(flat, kernel)
    return out.reshape(n, c, *out.shape[2:])


def scipy_gaussian_weights(sigma: float, truncate: float) -> Tensor:
    """SciPy's ``gaussian_filter1d`` kernel: radius ``int(truncate * sigma + 0.5)``, normalised to sum 1."""
    radius = int(truncate * sigma + 0.5)
    positions = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / (sigma * sigma) * positions**2)
    return torch.from_numpy(weights / weights.sum())


def pad_rows(x: Tensor, radius: int, border: str) -> Tensor:
    """``x`` ``[N, C, H, W]`` extended by ``radius`` rows above and below by a border rule (contiguous)."""
    size = x.shape[2]
    if radius == 0:
        return x.contiguous()
    if radius >= size:  # folds more than once: take the rows by index
        return x.index_select(2, border_indices(size, radius, radius, border, x.device))
    if border == "nearest":
        before, after = x[:, :, :1].expand(-1, -1, radius, -1), x[:, :, -1:].expand(-1, -1, radius, -1)
    elif border == "reflect":
        before, after = x[:, :, :radius].flip(2), x[:, :, -radius:].flip(2)
    else:
        before, after = x[:, :, 1: radius + 1].flip(2), x[:, :, -radius - 1: -1].flip(2)
    return torch.cat([before, x, after], 2)


def correlate_symmetric(x: Tensor, weights: Tensor, dim: int, border: str) -> Tensor:
    """Correlate along ``dim`` (2: rows, 3: columns) with a symmetric odd kernel, summing in SciPy's order.

    SciPy's ``correlate1d`` computes ``x[i] w[0] + sum_j (x[i - j] + x[i + j]) w[j]`` for j from
    the radius down to 1; the same order here gives the same float64 rounding, which decides
    the 8-bit truncation of flat areas (a grey level times weights summing to 1). Columns are
    filtered as rows of the transposed images, where the shifted slices are contiguous blocks.
    """
    if dim == 3:
        return correlate_symmetric(x.transpose(2, 3).contiguous(), weights, 2, border).transpose(2, 3).contiguous()
    radius = (weights.numel() - 1) // 2
    size = x.shape[2]
    padded = pad_rows(x, radius, border)
    values = weights.tolist()
    out = padded[:, :, radius: radius + size] * values[radius]
    for j in range(radius, 0, -1):
        out += (padded[:, :, radius - j: radius - j + size] + padded[:, :, radius + j: radius + j + size]) * values[radius + j]
    return out


def gaussian_filter(x: Tensor, sigma: float, border: str = "nearest", truncate: float = 4.0) -> Tensor:
    """``skimage.filters.gaussian`` on each image and channel (SciPy's ``gaussian_filter`` over rows, then columns).

    scikit-image's defaults: border ``nearest``, kernel truncated at 4 sigma. Sigma 0 leaves ``x`` as it is.
    """
    if sigma <= 1e-15:
        return x
    weights = scipy_gaussian_weights(sigma, truncate)
    return correlate_symmetric(correlate_symmetric(x, weights, 2, border), weights, 3, border)


def gaussian_matrix(size: int, sigma: float, border: str, truncate: float = 4.0) -> Tensor:
    """SciPy's 1-D Gaussian filter of an axis of ``size`` samples as a ``size x size`` matrix (float64).

    ``G X G^T`` filters the rows and columns of ``X``: two small matrix products, cheaper than
    shifted sums for wide kernels. Its rounding differs from SciPy's order of summation (at 1e-16).
    """
    if sigma <= 1e-15:
        return torch.eye(size, dtype=torch.float64)
    weights = scipy_gaussian_weights(sigma, truncate)
    radius = (weights.numel() - 1) // 2
    columns = fold_index(torch.arange(size)[:, None] + torch.arange(-radius, radius + 1)[None], size, border)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.scatter_add_(1, columns, weights[None].expand(size, -1).contiguous())
    return matrix


def opencv_gaussian_weights(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(size, sigma)`` for sigma > 0, as float32 (the type of the disk it blurs)."""
    positions = np.arange(size, dtype=np.float64) - (size - 1) * 0.5
    weights = np.exp(-0.5 / (sigma * sigma) * positions**2)
    return (weights / weights.sum()).astype(np.float32)


def defocus_kernel(radius: float, alias_blur: float) -> Tensor:
    """The defocus disk of CIFAR-10-C: a 17 x 17 (radius <= 8) aliased disk of the given radius,
    normalised, then smoothed by OpenCV's 3 x 3 Gaussian of sigma ``alias_blur``; cut to its non-zero part."""
    half = 8 if radius <= 8 else int(math.ceil(radius))
    grid = np.arange(-half, half + 1, dtype=np.float32)
    rows, cols = np.meshgrid(grid, grid)
    disk = ((rows**2 + cols**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    weights = opencv_gaussian_weights(3 if radius <= 8 else 5, alias_blur)
    smooth = torch.from_numpy(disk)[None, None]
    vector = torch.from_numpy(weights)
    smooth = correlate_axis(correlate_axis(smooth, vector, 2, "mirror"), vector, 3, "mirror")[0, 0]
    support = int(torch.nonzero(smooth).sub(half).abs().max()) if bool((smooth != 0).any()) else 0
    return smooth[half - support: half + support + 1, half - support: half + support + 1].double()


def correlation_operator(kernel: Tensor, size: int, border: str) -> Tensor:
    """The ``size^2 x size^2`` matrix of correlating a ``size x size`` image with an odd square ``kernel``
    (row-major flattening, neighbours outside the image folded in by ``border``)."""
    radius = (kernel.shape[-1] - 1) // 2
    offsets = torch.arange(-radius, radius + 1)
    positions = torch.arange(size)
    folded = fold_index(positions[:, None] + offsets[None], size, border)  # [size, taps]
    rows = folded[:, None, :, None].expand(size, size, 2 * radius + 1, 2 * radius + 1)
    columns = folded[None, :, None, :].expand(size, size, 2 * radius + 1, 2 * radius + 1)
    operator = torch.zeros(size * size, size * size, dtype=torch.float64)
    targets = torch.arange(size * size).reshape(size, size, 1, 1).expand_as(rows)
    weights = kernel.double()[None, None].expand(size, size, -1, -1)
    operator.index_put_((targets.reshape(-1), (rows * size + columns).reshape(-1)), weights.reshape(-1), accumulate=True)
    return operator


def correlate_2d(x: Tensor, kernel: Tensor, border: str) -> Tensor:
    """Correlate every channel of ``x`` (``[N, C, S, S]``) with an odd square ``kernel`` (OpenCV ``filter2D``),
    as one product of the flattened images with :func:`correlation_operator`."""
    n, c, h, w = x.shape
    operator = correlation_operator(kernel, w, border).to(x.device, x.dtype)
    return (x.reshape(n * c, h * w) @ operator.T).reshape(n, c, h, w)


def zoom_matrix(size: int, factor: float) -> np.ndarray:
    """CIFAR-10-C's ``clipped_zoom`` along one axis as a ``size x size`` matrix (float64).

    The centre ``ceil(size / factor)`` samples are zoomed by ``factor`` with SciPy's
    ``ndimage.zoom`` (order 1: linear interpolation, output length ``round(crop * factor)``,
    output sample o taken at input position o (crop - 1) / (length - 1)) and the centre
    ``size`` samples of the result kept.
    """
    crop = int(np.ceil(size / factor))
    top = (size - crop) // 2
    length = int(round(crop * factor))
    trim = (length - size) // 2
    matrix = np.zeros((size, size), dtype=np.float64)
    scale = (crop - 1) / (length - 1) if length > 1 else 0.0
    for row in range(size):
        position = (trim + row) * scale
        low = min(int(np.floor(position)), crop - 1)
        fraction = position - low
        matrix[row, top + low] += 1.0 - fraction
        if fraction > 0:
            matrix[row, top + low + 1] += fraction
    return matrix


@lru_cache(maxsize=16)
def _zoom_operator(size: int, factors: tuple[float, ...]) -> Tensor:
    """``sum_z A_z (x) A_z`` (Kronecker), the sum of the zooms as one ``size^2 x size^2`` matrix (float64)."""
    total = np.zeros((size * size, size * size), dtype=np.float64)
    for factor in factors:
        matrix = zoom_matrix(size, factor)
        total += np.kron(matrix, matrix)
    return torch.from_numpy(total)


def zoom_sum(x: Tensor, factors: list[float]) -> Tensor:
    """Sum over ``factors`` of the clipped zoom of each image and channel of ``x`` (``[N, C, S, S]``).

    The zoom by ``A`` is ``A X A^T``, i.e. ``(A (x) A) vec(X)`` on the row-major flattened image,
    so the whole sum is one product with a ``S^2 x S^2`` matrix: one large matrix product for the
    batch instead of two small ones per factor.
    """
    n, c, h, w = x.shape
    operator = _zoom_operator(w, tuple(factors)).to(x.device, x.dtype)
    return (x.reshape(n * c, h * w) @ operator.T).reshape(n, c, h, w)


def motion_blur_weights(radius: float, sigma: float) -> Tensor:
    """ImageMagick 6's motion-blur kernel: ``2 ceil(radius) + 1`` one-sided Gaussian taps, normalised."""
    width = int(2 * math.ceil(radius) + 1)
    taps = np.arange(width, dtype=np.float64)
    weights = np.exp(-(taps**2) / (2.0 * sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)
    return torch.from_numpy(weights / weights.sum())


def motion_offsets(width: int, angles: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column offset of each tap for each angle (degrees), as ImageMagick rounds them: ``[N, width]``."""
    radians = angles.double().cpu() * (math.pi / 180.0)
    along_x, along_y = width * torch.sin(radians), width * torch.cos(radians)
    length = torch.hypot(along_x, along_y)
    taps = torch.arange(width, dtype=torch.float64)
    column = torch.ceil(taps[None] * along_y[:, None] / length[:, None] - 0.5).long()
    row = torch.ceil(taps[None] * along_x[:, None] / length[:, None] - 0.5).long()
    return row, column


def motion_blur(x: Tensor, radius: float, sigma: float, angles: Tensor) -> Tensor:
    """ImageMagick 6's ``MotionBlurImage`` on each image of ``x`` with its own angle (degrees).

    Output pixel (r, c) = sum_i w_i x(r + dr_i, c + dc_i), the offsets walking ``i`` pixels along
    the angle, edge pixels repeated outside the image.
    """
    weights = motion_blur_weights(radius, sigma)
    rows, columns = motion_offsets(weights.numel(), angles)
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    row_base, column_base = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    out = torch.zeros_like(flat)
    for tap, weight in enumerate(weights.tolist()):
        source_rows = (row_base + rows[:, tap, None, None]).clamp(0, h - 1)
        source_columns = (column_base + columns[:, tap, None, None]).clamp(0, w - 1)
        index = (source_rows * w + source_columns).reshape(n, 1, h * w).to(x.device)
        out.add_(flat.gather(2, index.expand(n, c, h * w)), alpha=weight)
    return out.reshape(n, c, h, w)


def imagemagick_8bit(values: Tensor) -> Tensor:
    """ImageMagick's 8-bit result of a filter whose exact value is ``values`` (0-255 scale).

    Measured on ImageMagick 6.9 (Q16) through Wand: the value is rounded to a 16-bit quantum
    (255 -> 65535) and written to 8 bits by truncation, so 84.81 gives 84 and a flat area keeps its level.
    """
    return torch.floor(torch.round(values * 257) / 257)
