"""Weather corruptions of CIFAR-10-C: snow, frost and fog (brightness, also "weather", is in
:mod:`~cl_robust.corruptions.digital` beside saturate, which shares its HSV conversion).

Images in [0, 1] (``[N, 3, H, W]``) in, the 0-255 scale out (clipped). Each random corruption
has a ``..._with`` form that takes its random numbers.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .color import grey
from .filters import imagemagick_8bit, motion_blur, zoom_sum
from .plasma import plasma_fractal
from .sampling import Draws
from .severities import FOG, FROST, FROST_TEXTURES, SNOW


def fog_with(x: Tensor, severity: int, plasma: Tensor) -> Tensor:
    """Add ``strength`` x the plasma map ``[N, H, W]``, then rescale by max / (max + strength)."""
    strength, _ = FOG[severity - 1]
    x = x.double()
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    hazy = x + strength * plasma[:, None, : x.shape[2], : x.shape[3]].to(x.device)
    return (hazy * peak / (peak + strength)).clamp(0, 1) * 255


def fog(x: Tensor, severity: int, draws: Draws) -> Tensor:
    _, decay = FOG[severity - 1]
    n = x.shape[0]
    plasma = plasma_fractal(n, decay, lambda shape: draws.uniform((n, *shape), -1.0, 1.0, torch.float64),
                            mapsize=32, device=x.device)
    return fog_with(x, severity, plasma)


@lru_cache(maxsize=1)
def frost_textures() -> tuple[Tensor, ...]:
    """The five frost textures (``[3, H, W]`` uint8, RGB), as CIFAR-10-C's generator scales them (see frost/README.md)."""
    folder = resources.files("cl_robust.corruptions") / "frost"
    textures = []
    for number in range(1, FROST_TEXTURES + 1):
        with resources.as_file(folder / f"frost{number}.png") as path, Image.open(path) as image:
            textures.append(torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous())
    return tuple(textures)


def frost_with(x: Tensor, severity: int, texture: Tensor, top: Tensor, left: Tensor) -> Tensor:
    """``image_weight * image + frost_weight * crop`` on the 0-255 scale; ``texture`` [N] picks the
    frost image, ``top`` / ``left`` [N] the corner of its crop."""
    image_weight, frost_weight = FROST[severity - 1]
    textures = frost_textures()
    height = max(t.shape[1] for t in textures)
    width = max(t.shape[2] for t in textures)
    stacked = torch.zeros(len(textures), 3, height, width, dtype=torch.uint8)
    for index, t in enumerate(textures):
        stacked[index, :, : t.shape[1], : t.shape[2]] = t
    stacked = stacked.to(x.device)
    h, w = x.shape[2:]
    rows = (top.to(x.device)[:, None] + torch.arange(h, device=x.device)[None])[:, None, :, None]
    columns = (left.to(x.device)[:, None] + torch.arange(w, device=x.device)[None])[:, None, None, :]
    channels = torch.arange(3, device=x.device)[None, :, None, None]
    crops = stacked[texture.to(x.device)[:, None, None, None], channels, rows, columns].double()
    return (image_weight * (x.double() * 255) + frost_weight * crops).clamp(0, 255)


def frost(x: Tensor, severity: int, draws: Draws) -> Tensor:
    """A random texture of the five, then a random 32 x 32 crop of it (numpy's ``randint`` ranges)."""
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    texture = draws.integers(0, FROST_TEXTURES, (n,))
    sizes = torch.tensor([[t.shape[1], t.shape[2]] for t in frost_textures()], device=texture.device)[texture]
    corner = draws.uniform((n, 2), 0.0, 1.0, torch.float64)
    top = torch.floor(corner[:, 0] * (sizes[:, 0] - h)).long()
    left = torch.floor(corner[:, 1] * (sizes[:, 1] - w)).long()
    return frost_with(x, severity, texture, top, left)


def snow_with(x: Tensor, severity: int, layer: Tensor, angles: Tensor) -> Tensor:
    """Snow from a noise ``layer`` ``[N, 1, H, W]`` (already N(mean, sd)) and one angle per image (degrees).

    The layer is zoomed, thresholded, stored as 8 bits, motion-blurred by ImageMagick (8-bit
    result); the image is whitened towards 1.5 x its grey level + 0.5 and the flakes are added
    with their 180-degree rotation.
    """
    _, _, zoom, threshold, radius, sigma, keep = SNOW[severity - 1]
    layer = zoom_sum(layer.double().to(x.device), [zoom])
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255
    flakes = imagemagick_8bit(motion_blur(layer, radius, sigma, angles) * 255) / 255
    image = x.float()
    whitened = keep * image + (1 - keep) * torch.maximum(image, grey(image) * 1.5 + 0.5)
    return (whitened.double() + flakes + torch.rot90(flakes, 2, dims=(2, 3))).clamp(0, 1) * 255


def snow(x: Tensor, severity: int, draws: Draws) -> Tensor:
    mean, sd = SNOW[severity - 1][:2]
    n, _, h, w = x.shape
    layer = draws.normal((n, 1, h, w), mean, sd, torch.float64)
    return snow_with(x, severity, layer, draws.uniform((n,), -135.0, -45.0, torch.float64))
