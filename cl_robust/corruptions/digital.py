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


def contrast(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """Each channel's distance from its mean over the image, scaled by c."""
    factor = CONTRAST[severity - 1]
    x = x.double()
    means = x.mean(dim=(2, 3), keepdim=True)
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
