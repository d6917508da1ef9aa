"""Digital corruptions of CIFAR-10-C (contrast, pixelate, JPEG, and saturate) and brightness.

Images in [0, 1] (``[N, 3, H, W]``) in, the 0-255 scale out (clipped). Contrast, brightness
and saturate are computed in float64 on the whole batch, following numpy / scikit-image's
operations, so that their 8-bit results agree with the published files to the last bit
wherever float rounding allows. Pixelate and JPEG go through Pillow one image at a time, as
the published generator does: JPEG has no tensor implementation that matches libjpeg's
output, and Pillow's box resampling rounds to 8 bits between its horizontal and vertical passes.
Both need 8-bit images: float images are rounded to the nearest of the 256 levels first.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .color import hsv_to_rgb, rgb_to_hsv
from .sampling import Draws
from .severities import BRIGHTNESS, CONTRAST, JPEG_QUALITY, PIXELATE, SATURATE


def numpy_pairwise_sum(x: Tensor) -> Tensor:
    """The sum over the last dim (length 128 x a power of two) in numpy's pairwise order.

    numpy sums a contiguous run of up to 128 values with 8 running sums (value i goes to sum i mod 8),
    combined as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), and longer runs by halving
    recursively. The contrast of a flat patch lands on an exact grey level, where the last bit of
    the mean decides the 8-bit truncation: summing in numpy's order keeps the published result.
    """
    length = x.shape[-1]
    blocks = length // 128
    if length % 128 or blocks & (blocks - 1):
        return x.sum(-1)
    lanes = x.reshape(*x.shape[:-1], blocks, 16, 8).cumsum(-2)[..., -1, :]  # each lane: 16 values in sequence
    sums = ((lanes[..., 0] + lanes[..., 1]) + (lanes[..., 2] + lanes[..., 3])) + (
        (lanes[..., 4] + lanes[..., 5]) + (lanes[..., 6] + lanes[..., 7]))
    while sums.shape[-1] > 1:
        sums = sums[..., 0::2] + sums[..., 1::2]
    return sums[..., 0]


def contrast(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Each channel's distance from its mean over the image, scaled by c."""
    factor = CONTRAST[severity - 1]
    x = x.double()
    n, c, h, w = x.shape
    means = (numpy_pairwise_sum(x.reshape(n, c, h * w)) / (h * w)).reshape(n, c, 1, 1)
    return ((x - means) * factor + means).clamp(0, 1) * 255


def brightness(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """HSV value + c, clipped to 1 (scikit-image's RGB -> HSV -> RGB)."""
    hsv = rgb_to_hsv(x.double())
    hsv[:, 2] = (hsv[:, 2] + BRIGHTNESS[severity - 1]).clamp(0, 1)
    return hsv_to_rgb(hsv).clamp(0, 1) * 255


def saturate(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """HSV saturation x factor + offset, clipped to [0, 1]."""
    factor, offset = SATURATE[severity - 1]
    hsv = rgb_to_hsv(x.double())
    hsv[:, 1] = (hsv[:, 1] * factor + offset).clamp(0, 1)
    return hsv_to_rgb(hsv).clamp(0, 1) * 255


def _pillow_each(x: Tensor, change) -> Tensor:  # type: ignore[no-untyped-def]
    """Apply ``change`` (PIL image -> PIL image) to every image as 8-bit RGB; the 0-255 scale back."""
    pixels = torch.round(x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([np.asarray(change(Image.fromarray(image)).convert("RGB")) for image in pixels])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, torch.float64)


def pixelate(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Pillow box resampling down to int(size c) pixels a side and back up."""
    height, width = x.shape[2:]
    factor = PIXELATE[severity - 1]
    small = (int(width * factor), int(height * factor))
    return _pillow_each(x, lambda image: image.resize(small, Image.BOX).resize((width, height), Image.BOX))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def jpeg_compression(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Pillow's JPEG at quality c (its default 4:2:0 chroma subsampling), decoded again."""
    quality = JPEG_QUALITY[severity - 1]
    return _pillow_each(x, lambda image: _jpeg(image, quality))
