"""Batched image augmentations on tensors, on the input's device, pixels in [0, 1].

No per-sample Python: every random parameter is drawn for the whole batch at once and applied
with tensor operations. Normalisation is not done here (it lives inside the model), so attacks
and augmentations share the [0, 1] pixel range. Every module returns a tuple of views.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from cl_robust.data.colour import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    grayscale,
    select_per_sample,
)
from cl_robust.errors import ConfigError, shown

JITTER_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")
#: Values per intermediate tensor when ``ContrastiveViews`` works through a batch on a CPU in
#: chunks: 64 images of 3 x 32 x 32 floats, 768 KiB, which fits a core's L2 cache.
CPU_CHUNK_ELEMENTS = 64 * 3 * 32 * 32


def to_float(images: Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1]; floating-point images pass through unchanged."""
    if images.is_floating_point():
        return images
    return images.to(torch.float32).div_(255.0)


def _uniform(low: float, high: float, size: tuple[int, ...], generator: torch.Generator | None,
             device: torch.device) -> Tensor:
    gen_device = generator.device if generator is not None else device
    draw = torch.rand(size, generator=generator, device=gen_device)
    return (low + (high - low) * draw).to(device)


def _bernoulli(p: float, size: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    return _uniform(0.0, 1.0, size, generator, device) < p


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {shown(value)}")


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ConfigError(f"{name} must be (min, max) with {low} <= min <= max <= {high}, got {shown(value)}")


class ContrastiveViews(nn.Module):
    """Two independent SimCLR views of a batch (Chen et al. 2020, appendix B.9, CIFAR recipe).

    Per view and sample: RandomResizedCrop(``size``, ``scale``, ``ratio``) with torchvision's
    sampling (area fraction uniform in ``scale``, log-uniform aspect ratio, up to 10 tries, then
    a centre crop clipped to ``ratio``), horizontal flip with ``flip_p``, ColorJitter(brightness,
    contrast, saturation, hue) applied with ``jitter_p`` (factors drawn per sample as torchvision
    draws them: uniform in [max(0, 1 - s), 1 + s] and hue uniform in [-h, h]), then
    RandomGrayscale with ``grayscale_p``. ``size`` None (the default) makes views as large as the
    input images (32 for CIFAR, 64 for a 64-pixel image folder). Crop, resize and flip are one
    bilinear ``grid_sample`` (``resized_crop``). The jitter order is a random permutation of the four operations, as in torchvision,
    drawn once per call (per batch) rather than per image.
    """

    def __init__(
        self,
        size: int | None = None,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        num_views: int = 2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_size(size)
        _check_range("scale", tuple(scale), 0.0, 1.0)
        if scale[1] <= 0:
            raise ConfigError(f"scale must have max > 0, got {shown(scale)}")
        _check_range("ratio", tuple(ratio), 1e-6, math.inf)
        for name, value in (("flip_p", flip_p), ("jitter_p", jitter_p), ("grayscale_p", grayscale_p)):
            _check_probability(name, value)
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if value < 0:
                raise ConfigError(f"{name} must be >= 0, got {shown(value)}")
        if not 0.0 <= hue <= 0.5:
            raise ConfigError(f"hue must be in [0, 0.5], got {shown(hue)}")
        if num_views < 1:
            raise ConfigError(f"num_views must be >= 1, got {shown(num_views)}")
        self.size = size
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.flip_p = flip_p
        self.strengths = {"brightness": brightness, "contrast": contrast, "saturation": saturation}
        self.hue = hue
        self.jitter_p = jitter_p
        self.grayscale_p = grayscale_p
        self.num_views = num_views
        self.generator = generator

    def sample_params(self, batch_size: int, device: torch.device | str, height: int = 32,
                      width: int = 32) -> dict[str, Tensor]:
        """Draw every random choice of one view for ``batch_size`` images of ``height`` x ``width``.

        Keys: ``top``, ``left``, ``crop_height``, ``crop_width`` (int64 pixels), ``area_fraction``
        and ``aspect_ratio`` of the chosen box, ``flip``, ``jitter``, ``grayscale`` (bool), the
        four jitter factors (identity where ``jitter`` is False) and ``jitter_order`` (int64 [4],
        indices into ``JITTER_OPS``).
        """
        device = torch.device(device)
        gen = self.generator
        tries = 10
        area = float(height * width)
        target_area = area * _uniform(*self.scale, (batch_size, tries), gen, device)
        log_ratio = _uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), (batch_size, tries), gen, device)
        aspect = torch.exp(log_ratio)
        w = torch.round(torch.sqrt(target_area * aspect))
        h = torch.round(torch.sqrt(target_area / aspect))
        valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = valid.to(torch.int8).argmax(dim=1, keepdim=True)
        found = valid.any(dim=1)
        w = w.gather(1, first).squeeze(1)
        h = h.gather(1, first).squeeze(1)

        # torchvision's fallback: the whole image, clipped to the allowed aspect ratios, centred.
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fallback_w, fallback_h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fallback_w, fallback_h = round(height * self.ratio[1]), height
        else:
            fallback_w, fallback_h = width, height
        w = torch.where(found, w, torch.full_like(w, fallback_w))
        h = torch.where(found, h, torch.full_like(h, fallback_h))
        top_draw = _uniform(0.0, 1.0, (batch_size,), gen, device)
        left_draw = _uniform(0.0, 1.0, (batch_size,), gen, device)
        top = torch.where(found, torch.floor(top_draw * (height - h + 1)), torch.round((height - h) / 2))
        left = torch.where(found, torch.floor(left_draw * (width - w + 1)), torch.round((width - w) / 2))

        jitter = _bernoulli(self.jitter_p, (batch_size,), gen, device)
        params: dict[str, Tensor] = {
            "top": top.long(),
            "left": left.long(),
            "crop_height": h.long(),
            "crop_width": w.long(),
            "area_fraction": (h * w) / area,
            "aspect_ratio": w / h,
            "flip": _bernoulli(self.flip_p, (batch_size,), gen, device),
            "jitter": jitter,
        }
        for name, strength in self.strengths.items():
            factor = _uniform(max(0.0, 1.0 - strength), 1.0 + strength, (batch_size,), gen, device)
            params[name] = torch.where(jitter, factor, torch.ones_like(factor))
        hue = _uniform(-self.hue, self.hue, (batch_size,), gen, device)
        params["hue"] = torch.where(jitter, hue, torch.zeros_like(hue))
        cpu_gen = gen if gen is not None and gen.device.type == "cpu" else None
        params["jitter_order"] = torch.randperm(len(JITTER_OPS), generator=cpu_gen)
        params["grayscale"] = _bernoulli(self.grayscale_p, (batch_size,), gen, device)
        return params

    def apply(self, images: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Apply one view's parameters (from ``sample_params``) to float images in [0, 1].

        On a CPU the batch is processed in chunks of about ``CPU_CHUNK_ELEMENTS`` values per
        intermediate tensor, so that the dozens of element-wise passes of the colour jitter
        read and write the L2 cache rather than main memory (two views of 256 32x32 images
        8-12 % faster, measured); every operation is per sample, so the result is the same.
        """
        if images.device.type != "cpu":
            return self._augment_chunk(images, params)
        size = self.size or images.shape[-2]
        per_image = images.shape[1] * max(images.shape[2] * images.shape[3], size * size)
        chunk = max(1, CPU_CHUNK_ELEMENTS // per_image)
        if images.shape[0] <= chunk:
            return self._augment_chunk(images, params)
        return torch.cat([
            self._augment_chunk(images[start:start + chunk],
                                {name: value if name == "jitter_order" else value[start:start + chunk]
                                 for name, value in params.items()})
            for start in range(0, images.shape[0], chunk)
        ])

    def _augment_chunk(self, images: Tensor, params: dict[str, Tensor]) -> Tensor:
        views = resized_crop(images, params["top"], params["left"], params["crop_height"],
                             params["crop_width"], params["flip"], self.size or images.shape[-2])
        jittered = views
        for op_index in params["jitter_order"].tolist():
            name = JITTER_OPS[op_index]
            if name == "hue":
                if self.hue > 0:
                    jittered = adjust_hue(jittered, params["hue"])
            elif self.strengths[name] > 0:
                jittered = _ADJUST[name](jittered, params[name])
        views = select_per_sample(params["jitter"], jittered, views)
        return select_per_sample(params["grayscale"], grayscale(views), views)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """``num_views`` (default two) independently augmented float views of ``images``."""
        images = to_float(images)
        batch, _, height, width = images.shape
        return tuple(
            self.apply(images, self.sample_params(batch, images.device, height, width))
            for _ in range(self.num_views)
        )


_ADJUST = {"brightness": adjust_brightness, "contrast": adjust_contrast, "saturation": adjust_saturation}


def resized_crop(images: Tensor, top: Tensor, left: Tensor, height: Tensor, width: Tensor,
                 flip: Tensor, size: int) -> Tensor:
    """Crop per-sample boxes, resize them to ``size`` x ``size`` (bilinear) and mirror where ``flip``.

    One ``grid_sample`` for the batch, sampling each box exactly as
    ``F.interpolate(crop, size, mode="bilinear", align_corners=False)`` samples the cropped image
    (sample points clamped to the box), so it equals torchvision's ``resized_crop`` without
    antialiasing; a full-image box at the input size, unflipped, returns the input.
    """
    batch, channels, in_h, in_w = images.shape
    steps = (torch.arange(size, device=images.device, dtype=images.dtype) + 0.5) / size

    def axis(start: Tensor, length: Tensor, extent: int) -> Tensor:
        start = start.to(images.dtype)[:, None]
        length = length.to(images.dtype)[:, None]
        pixels = torch.maximum(start + steps * length - 0.5, start)
        pixels = torch.minimum(pixels, start + length - 1)
        return (2 * pixels + 1) / extent - 1  # grid_sample's align_corners=False coordinates

    xs = axis(left, width, in_w)
    xs = torch.where(flip[:, None], xs.flip(1), xs)
    ys = axis(top, height, in_h)
    grid = torch.stack(
        (xs[:, None, :].expand(batch, size, size), ys[:, :, None].expand(batch, size, size)), dim=-1
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class SupervisedAugment(nn.Module):
    """Standard CIFAR supervised augmentation: zero-pad ``padding``, random ``size`` crop, flip.

    Pure indexing (no resampling), so every output pixel is an input pixel or a zero. ``size``
    None (the default) keeps the input's size; ``padding`` None pads an eighth of it (CIFAR's 4
    pixels at 32, 8 at 64, 12 at 96), so the crop moves as far, relative to the image, at every size.
    """

    def __init__(self, size: int | None = None, padding: int | None = None, flip_p: float = 0.5,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_size(size)
        if padding is not None and padding < 0:
            raise ConfigError(f"padding must be >= 0 or null (an eighth of the image size), got {shown(padding)}")
        _check_probability("flip_p", flip_p)
        self.size = size
        self.padding = padding
        self.flip_p = flip_p
        self.generator = generator

    def sizes(self, height: int) -> tuple[int, int]:
        """``(crop size, padding)`` for images ``height`` pixels high."""
        return self.size or height, default_padding(height) if self.padding is None else self.padding

    def sample_params(self, batch_size: int, device: torch.device | str, height: int = 32,
                      width: int = 32) -> dict[str, Tensor]:
        """Crop corner in the padded image (``top``, ``left``, int64) and ``flip`` (bool)."""
        device = torch.device(device)
        size, padding = self.sizes(height)
        padded_h, padded_w = height + 2 * padding, width + 2 * padding
        if padded_h < size or padded_w < size:
            raise ConfigError(f"size={size} is larger than the padded image ({padded_h}x{padded_w})")
        top = torch.floor(_uniform(0.0, 1.0, (batch_size,), self.generator, device) * (padded_h - size + 1))
        left = torch.floor(_uniform(0.0, 1.0, (batch_size,), self.generator, device) * (padded_w - size + 1))
        return {"top": top.long(), "left": left.long(),
                "flip": _bernoulli(self.flip_p, (batch_size,), self.generator, device)}

    def apply(self, images: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Apply ``sample_params`` output to float images."""
        size, padding = self.sizes(images.shape[-2])
        padded = F.pad(images, [padding] * 4)
        steps = torch.arange(size, device=images.device)
        rows = params["top"][:, None] + steps  # [B, size]
        cols = torch.where(params["flip"][:, None], params["left"][:, None] + size - 1 - steps,
                           params["left"][:, None] + steps)
        batch_index = torch.arange(images.shape[0], device=images.device)[:, None, None]
        crops = padded.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]]
        return crops.permute(0, 3, 1, 2).contiguous()

    def forward(self, images: Tensor) -> tuple[Tensor]:
        """One augmented float view."""
        images = to_float(images)
        batch, _, height, width = images.shape
        return (self.apply(images, self.sample_params(batch, images.device, height, width)),)


def default_padding(image_size: int) -> int:
    """Padding of :class:`SupervisedAugment` for ``image_size``: an eighth of it (4 for CIFAR's 32 pixels)."""
    return max(1, round(image_size / 8))


def _check_size(size: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"size must be an integer >= 1 or null (the input's size), got {shown(size)}")


class NoAugment(nn.Module):
    """No augmentation (fine-tuning and evaluation): the images as float in [0, 1]."""

    def forward(self, images: Tensor) -> tuple[Tensor]:
        """``(to_float(images),)``."""
        return (to_float(images),)


AUGMENTS: dict[str, type[nn.Module]] = {
    "contrastive": ContrastiveViews,
    "supervised": SupervisedAugment,
    "none": NoAugment,
}


def make_augment(name: str, **options: Any) -> nn.Module:
    """Build the augmentation called ``name`` ("contrastive", "supervised" or "none")."""
    if name not in AUGMENTS:
        raise ConfigError(f"augment must be one of {', '.join(map(repr, AUGMENTS))}; got {shown(name)}")
    try:
        return AUGMENTS[name](**options)
    except TypeError as error:
        raise ConfigError(f"augment {name!r} does not accept these options {sorted(options)}: {error}") from error
