"""``corrupt``: one of CIFAR-10-C's corruptions at one severity, on a batch of images.

Images are ``[N, 3, 32, 32]``, uint8 or float in [0, 1]; they come back in the same form, dtype
and device. As in the published files, uint8 results are the generator's 0-255 values truncated
(``np.uint8``); float results are those values / 255, not rounded. The severity constants are
CIFAR-10-C's (:mod:`~cl_robust.corruptions.severities`), which are defined for 32 x 32 images,
so other sizes are refused rather than silently given other corruptions.

Random numbers come from ``generator`` (a ``torch.Generator``; the default generator of the
images' device when None): the same generator state gives the same corrupted images, and a
CPU generator gives the same ones on a CPU and on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cl_robust.errors import ConfigError

from .blur import defocus_blur, gaussian_blur, glass_blur, motion_blur, zoom_blur
from .digital import brightness, contrast, jpeg_compression, pixelate, saturate
from .elastic import elastic_transform
from .noise import gaussian_noise, impulse_noise, shot_noise, speckle_noise
from .sampling import Draws
from .severities import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, SEVERITIES
from .spatter import spatter
from .weather import fog, frost, snow

#: (images in [0, 1], severity, random numbers) -> the 0-255 scale, clipped.
Corruption = Callable[[Tensor, int, Draws], Tensor]

REGISTRY: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
    "snow": snow, "frost": frost, "fog": fog, "brightness": brightness,
    "contrast": contrast, "elastic_transform": elastic_transform, "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "speckle_noise": speckle_noise, "gaussian_blur": gaussian_blur, "spatter": spatter, "saturate": saturate,
}
#: The image side the severity constants are defined for.
IMAGE_SIZE = 32


def known_corruptions_text() -> str:
    return f"{', '.join(CORRUPTIONS)} (and the extra {', '.join(EXTRA_CORRUPTIONS)})"


def check_corruption(name: str) -> str:
    """``name`` when it is a known corruption, else ConfigError listing the known ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown corruption {name!r}; known: {known_corruptions_text()}")
    return name


def check_severity(severity: object) -> int:
    """``severity`` as an int in 1-5, else ConfigError."""
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise ConfigError(f"severity must be an integer from 1 to 5 (CIFAR-10-C's five levels); got {severity!r}")
    return severity


def check_images(images: object) -> Tensor:
    """``images`` when they are ``[N, 3, 32, 32]`` uint8 or float in [0, 1], else ConfigError saying what is accepted."""
    if not isinstance(images, Tensor):
        raise ConfigError(f"images must be a torch.Tensor [N, 3, 32, 32]; got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ConfigError(f"images must be [N, 3, H, W] with 3 (RGB) channels; got shape {list(images.shape)}")
    if tuple(images.shape[2:]) != (IMAGE_SIZE, IMAGE_SIZE):
        raise ConfigError(f"images must be 32 x 32: CIFAR-10-C's severity constants are defined for 32 x 32 images; "
                          f"got {images.shape[2]} x {images.shape[3]}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ConfigError(f"images must be uint8 (0-255) or float in [0, 1]; got dtype {images.dtype}")
    if images.is_floating_point() and images.numel() and (images.min() < 0 or images.max() > 1):
        raise ConfigError(f"float images must lie in [0, 1]; got values from {float(images.min()):.4g} "
                          f"to {float(images.max()):.4g}")
    return images


def corrupt(images: Tensor, corruption: str, severity: int, generator: torch.Generator | None = None) -> Tensor:
    """``images`` with ``corruption`` at ``severity`` (1-5), as CIFAR-10-C's generator makes it.

    ``corruption``: one of :data:`~cl_robust.corruptions.severities.ALL_CORRUPTIONS` (the 15 of
    CIFAR-10-C and the 4 extra). Returns the same shape, dtype and device as ``images``.
    """
    check_corruption(corruption)
    check_severity(severity)
    check_images(images)
    if images.shape[0] == 0:
        return images.clone()
    # float64 like the published np.array(x) / 255.; the corruptions that the generator runs in float32 cast down
    work = images.to(torch.float64).div(255) if images.dtype == torch.uint8 else images.to(torch.float64)
    draws = Draws(generator, images.device, torch.float64)
    scaled = REGISTRY[corruption](work, severity, draws)
    if images.dtype == torch.uint8:
        return torch.floor(scaled.clamp(0, 255)).to(torch.uint8)
    return (scaled / 255).to(images.dtype)


assert set(REGISTRY) == set(ALL_CORRUPTIONS)
