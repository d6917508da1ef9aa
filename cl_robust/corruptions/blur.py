"""Blur corruptions of CIFAR-10-C: defocus, glass, motion, zoom and Gaussian blur.

Images in [0, 1] (``[N, 3, H, W]``) in, the 0-255 scale out (clipped), as the published
generator returns them before its final ``np.uint8``. The random ones have a ``..._with``
form that takes the random numbers, so a measurement can feed them the published generator's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .filters import correlate_2d, defocus_kernel, gaussian_filter, imagemagick_8bit, zoom_sum
from .filters import motion_blur as imagemagick_motion_blur
from .sampling import Draws
from .severities import DEFOCUS_BLUR, GAUSSIAN_BLUR, GLASS_BLUR, MOTION_BLUR, ZOOM_BLUR_END, ZOOM_BLUR_STEP


def gaussian_blur(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """scikit-image's Gaussian filter of sigma c."""
    return gaussian_filter(x, GAUSSIAN_BLUR[severity - 1]).clamp(0, 1) * 255


def defocus_blur(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Correlation with an anti-aliased disk (OpenCV ``filter2D``, border ``BORDER_REFLECT_101``)."""
    radius, alias_blur = DEFOCUS_BLUR[severity - 1]
    return correlate_2d(x, defocus_kernel(radius, alias_blur), "mirror").clamp(0, 1) * 255


def zoom_factors(severity: int) -> list[float]:
    """1, 1.01, ... below the severity's bound, computed as ``np.arange`` computes them."""
    return [float(f) for f in np.arange(1, ZOOM_BLUR_END[severity - 1], ZOOM_BLUR_STEP)]


def zoom_blur(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """The mean of the image and its centre zooms by each factor (linear interpolation), in float32 as published."""
    factors = zoom_factors(severity)
    x = x.float()
    return ((x + zoom_sum(x, factors)) / (len(factors) + 1)).clamp(0, 1) * 255


def glass_offsets(n: int, severity: int, draws: Draws, size: int) -> Tensor:
    """The displacements of glass blur: ``[N, rounds, P, P, 2]`` as (column, row) pairs, in the
    published loop order (rows from the bottom, columns from the right), each in [-delta, delta)."""
    _, delta, rounds = GLASS_BLUR[severity - 1]
    positions = len(range(size - delta, delta, -1))
    return draws.integers(-delta, delta, (n, rounds, positions, positions, 2))


def glass_blur_with(x: Tensor, severity: int, offsets: Tensor) -> Tensor:
    """Blur, truncate to 8 bits, displace pixels locally ``rounds`` times, blur again.

    The published loop writes ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy row views,
    which copies pixel (h', w') into (h, w) and leaves (h', w') as it was (the tuple holds views,
    not copies). Since (h', w') lies up or left of (h, w) by at most one pixel, and the loop walks
    from the bottom-right corner, the source is always still unvisited: one round is the gather
    ``out[h, w] = in[h + dy, w + dx]`` for every visited (h, w) at once.
    """
    sigma, delta, rounds = GLASS_BLUR[severity - 1]
    if delta != 1:
        raise ValueError("the one-gather form of glass blur holds for displacements of at most one pixel")
    n, c, h, w = x.shape
    pixels = torch.floor(gaussian_filter(x, sigma).clamp(0, 1) * 255)  # np.uint8 of the first blur
    first, stop = delta + 1, h - delta + 1  # visited rows / columns: 2 .. 31 for 32 pixels
    rows = torch.arange(h, device=x.device)[:, None].expand(h, w)
    columns = torch.arange(w, device=x.device)[None, :].expand(h, w)
    for round_index in range(rounds):
        step = offsets[:, round_index].to(x.device).flip(1, 2)  # ascending rows and columns
        source_rows = rows[None].repeat(n, 1, 1)
        source_columns = columns[None].repeat(n, 1, 1)
        source_rows[:, first:stop, first:stop] += step[..., 1]
        source_columns[:, first:stop, first:stop] += step[..., 0]
        index = (source_rows * w + source_columns).reshape(n, 1, h * w).expand(n, c, h * w)
        pixels = pixels.reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)
    return gaussian_filter(pixels / 255, sigma).clamp(0, 1) * 255


def glass_blur(x: Tensor, severity: int, draws: Draws) -> Tensor:
    return glass_blur_with(x, severity, glass_offsets(x.shape[0], severity, draws, x.shape[-1]))


def motion_blur_with(x: Tensor, severity: int, angles: Tensor) -> Tensor:
    """ImageMagick's motion blur with ``(radius, sigma)`` of the severity, one angle (degrees) per image;
    8-bit like ImageMagick's result."""
    radius, sigma = MOTION_BLUR[severity - 1]
    return imagemagick_8bit(imagemagick_motion_blur(x, radius, sigma, angles) * 255).clamp(0, 255)


def motion_blur(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Angles uniform in [-45, 45) degrees."""
    return motion_blur_with(x, severity, draws.uniform((x.shape[0],), -45.0, 45.0, torch.float64))
