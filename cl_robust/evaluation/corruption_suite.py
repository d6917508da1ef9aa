"""The ``corruptions`` entry of an evaluation suite: CIFAR-10-C's corruptions in place of an attack.

``corruptions`` asks for the 15 corruptions of CIFAR-10-C at their 5 severities (Hendrycks &
Dietterich 2019), scored like attacks: one accuracy (exact count, 95% Wilson interval) per
corruption and severity. ``corruptions:names=fog,contrast:severities=3,5`` picks corruptions
(any of the 15 or of the 4 extra ones) and severities. The corrupted images are made on the fly
by :func:`cl_robust.corruptions.corrupt`, batch by batch, each from a CPU generator seeded by
the evaluation seed, the batch's index and the corruption: the same images on every run, on any
device and with any number of ranks. Images that lie on the 256 levels of 8-bit pixels (every
CIFAR split) are corrupted as uint8, so they are the 8-bit images the published CIFAR-10-C
files hold; others are corrupted as floats, unrounded (recorded as ``pixels`` in the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from cl_robust.corruptions import CORRUPTIONS, SEVERITIES, check_corruption, corrupt
from cl_robust.errors import ConfigError

CORRUPTIONS_ENTRY = "corruptions"
OPTIONS = ("names", "severities")


@dataclass(frozen=True)
class CorruptionChoice:
    """The corruptions and severities a ``corruptions`` entry asks for."""

    names: tuple[str, ...] = CORRUPTIONS
    severities: tuple[int, ...] = SEVERITIES


def _severities(text: str, value: str) -> tuple[int, ...]:
    chosen = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) not in SEVERITIES:
            raise ConfigError(f"attack {text!r}: severities must be integers from 1 to 5 (CIFAR-10-C's five levels), "
                              f"comma-separated; got {part!r}")
        chosen.append(int(part))
    return tuple(sorted(set(chosen)))


def parse_corruption_options(text: str, options: Sequence[str]) -> CorruptionChoice:
    """The choice written ``corruptions[:names=a,b][:severities=1,2]`` (ConfigError naming what is accepted)."""
    names, severities = CORRUPTIONS, SEVERITIES
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in OPTIONS:
            raise ConfigError(f"attack {text!r}: {CORRUPTIONS_ENTRY} takes the options names=a,b,... and "
                              f"severities=1,...,5; got {option!r}")
        if key == "names":
            try:
                picked = [check_corruption(name.strip()) for name in value.split(",") if name.strip()]
            except ConfigError as error:
                raise ConfigError(f"attack {text!r}: {error}") from None
            if not picked:
                raise ConfigError(f"attack {text!r}: names=... lists no corruption")
            names = tuple(dict.fromkeys(picked))
        else:
            severities = _severities(text, value)
    return CorruptionChoice(names, severities)


#: Largest distance from an 8-bit level (in levels) of a float32 k / 255: its rounding error, far below this.
LEVEL_TOLERANCE = 1e-3


def on_8bit_levels(images: Tensor) -> bool:
    """Whether every value of float ``images`` is k / 255 for an integer k, up to float32 rounding
    (uint8 images converted to float, as every CIFAR split is served)."""
    scaled = images.double() * 255
    return bool((scaled - scaled.round()).abs().max() <= LEVEL_TOLERANCE) if scaled.numel() else True


def corrupted_images(images: Tensor, corruption: str, severity: int, seed: int) -> Tensor:
    """``images`` (float in [0, 1]) corrupted with a CPU generator seeded by ``seed``, as float32 in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    if on_8bit_levels(images):
        pixels = torch.round(images.double() * 255).to(torch.uint8)
        return corrupt(pixels, corruption, severity, generator).to(torch.float32).div_(255)
    return corrupt(images, corruption, severity, generator).to(torch.float32)


def pixels_note(images: Tensor) -> str:
    """What the report says about how the images were corrupted."""
    if on_8bit_levels(images):
        return "uint8: 8-bit images, as the published CIFAR-10-C files"
    return "float: the images are not 8-bit levels, corrupted as floats without rounding"
