"""Noise corruptions of CIFAR-10-C: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle.

Each takes images in [0, 1] (``[N, 3, H, W]``) and returns them on the 0-255 scale, clipped, as
the published generator does before its final ``np.uint8``. Severity constants:
:mod:`~cl_robust.corruptions.severities`.
"""

from __future__ import annotations

from torch import Tensor

from .sampling import Draws
from .severities import GAUSSIAN_NOISE, IMPULSE_NOISE, SHOT_NOISE, SPECKLE_NOISE


def gaussian_noise(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """x + N(0, c^2) per value."""
    sd = GAUSSIAN_NOISE[severity - 1]
    return (x + draws.normal(x.shape, 0.0, sd, x.dtype)).clamp(0, 1) * 255


def shot_noise(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Poisson(x c) / c per value: photon noise with c photons per unit intensity."""
    photons = SHOT_NOISE[severity - 1]
    return (draws.poisson(x * photons) / photons).clamp(0, 1) * 255


def impulse_noise(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """scikit-image's ``random_noise(mode='s&p')``: each value is hit with probability c, and a hit
    value becomes 1 (salt) or 0 (pepper) with probability 1/2 each."""
    amount = IMPULSE_NOISE[severity - 1]
    hit = draws.uniform(x.shape, 0.0, 1.0, x.dtype) < amount
    salt = draws.uniform(x.shape, 0.0, 1.0, x.dtype) < 0.5
    out = x.masked_fill(hit & salt, 1.0).masked_fill(hit & ~salt, 0.0)
    return out.clamp(0, 1) * 255


def speckle_noise(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """x + x N(0, c^2) per value: multiplicative noise."""
    sd = SPECKLE_NOISE[severity - 1]
    return (x + x * draws.normal(x.shape, 0.0, sd, x.dtype)).clamp(0, 1) * 255
