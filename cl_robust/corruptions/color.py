"""RGB <-> HSV of scikit-image, and OpenCV's grey level, on batches ``[N, 3, H, W]``.

CIFAR-10-C's brightness and saturate corruptions go through ``skimage.color.rgb2hsv`` and
``hsv2rgb``; these follow the same operations in the same order (ties between channels resolved
as scikit-image does: blue over green over red), so a pixel that the round trip leaves a hair
below an integer grey level is truncated as in the published files.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """``skimage.color.rgb2hsv`` along dim 1: hue in [0, 1), saturation, value."""
    red, green, blue = rgb.unbind(1)
    value = rgb.amax(1)
    delta = value - rgb.amin(1)
    flat = delta == 0
    saturation = torch.where(flat, torch.zeros_like(delta), delta / torch.where(value == 0, 1, value))
    safe = torch.where(flat, torch.ones_like(delta), delta)
    hue = torch.zeros_like(value)
    hue = torch.where(red == value, (green - blue) / safe, hue)
    hue = torch.where(green == value, 2.0 + (blue - red) / safe, hue)
    hue = torch.where(blue == value, 4.0 + (red - green) / safe, hue)
    hue = torch.remainder(hue / 6.0, 1.0)
    hue = torch.where(flat, torch.zeros_like(hue), hue)
    return torch.stack([hue, saturation, value], 1)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """``skimage.color.hsv2rgb`` along dim 1."""
    hue, saturation, value = hsv.unbind(1)
    sector = torch.floor(hue * 6)
    fraction = hue * 6 - sector
    p = value * (1 - saturation)
    q = value * (1 - fraction * saturation)
    t = value * (1 - (1 - fraction) * saturation)
    sector = sector.to(torch.uint8).remainder(6).long()
    candidates = torch.stack([value, p, q, t], 1)  # [N, 4, H, W]
    # which candidate each channel takes in each of the six sectors (scikit-image's np.choose table)
    choice = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]], device=hsv.device)
    return candidates.gather(1, choice[:, sector].permute(1, 0, 2, 3))


def grey(rgb: Tensor) -> Tensor:
    """OpenCV's ``COLOR_RGB2GRAY`` for float images: 0.299 R + 0.587 G + 0.114 B, as ``[N, 1, H, W]``."""
    red, green, blue = rgb.unbind(1)
    return (0.299 * red + 0.587 * green + 0.114 * blue)[:, None]
