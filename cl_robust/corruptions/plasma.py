"""The plasma fractal of CIFAR-10-C's fog: diamond-square midpoint displacement, batched.

CIFAR-10-C's ``plasma_fractal`` (a modification of github.com/FLHerne/mapgen's diamondsquare.py)
fills a ``mapsize x mapsize`` periodic height map: each square's centre is the mean of its
corners plus noise, then each diamond's centre likewise, halving the step and dividing the
noise scale ("wibble", starting at 100) by ``decay`` each round; the map is finally scaled to
[0, 1]. The noise added to a mean is ``wibble * U(-wibble, wibble)``, so its scale falls as
wibble squared: kept as published. This computes the same map for ``n`` images at once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: ``uniform(shape)`` -> values uniform in [-1, 1) of shape ``[n, *shape]``.
UniformSource = Callable[[tuple[int, ...]], Tensor]


def plasma_fractal(n: int, decay: float, uniform: UniformSource, mapsize: int = 32,
                   device: torch.device | str = "cpu") -> Tensor:
    """``[n, mapsize, mapsize]`` float64 height maps in [0, 1]; ``mapsize`` a power of two."""
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    field = torch.zeros(n, mapsize, mapsize, dtype=torch.float64, device=device)
    step, wibble = mapsize, 100.0

    def displaced_mean(sums: Tensor) -> Tensor:
        noise = uniform(tuple(sums.shape[1:])).to(device, torch.float64) * wibble
        return sums / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corners = field[:, 0:mapsize:step, 0:mapsize:step]
        squares = corners + torch.roll(corners, -1, dims=1)
        squares = squares + torch.roll(squares, -1, dims=2)
        field[:, half:mapsize:step, half:mapsize:step] = displaced_mean(squares)
        centres = field[:, half:mapsize:step, half:mapsize:step]
        corners = field[:, 0:mapsize:step, 0:mapsize:step]
        left_top = (centres + torch.roll(centres, 1, dims=1)) + (corners + torch.roll(corners, -1, dims=2))
        field[:, 0:mapsize:step, half:mapsize:step] = displaced_mean(left_top)
        top_left = (centres + torch.roll(centres, 1, dims=2)) + (corners + torch.roll(corners, -1, dims=1))
        field[:, half:mapsize:step, 0:mapsize:step] = displaced_mean(top_left)
        step //= 2
        wibble /= decay
    field = field - field.amin(dim=(1, 2), keepdim=True)
    return field / field.amax(dim=(1, 2), keepdim=True)
