"""Per-channel mean and std of a data set: what the model's input normalisation uses.

Pixels stay in [0, 1] everywhere (attacks and eps-balls live there); the first layer of the
encoder computes ``(x - mean) / std``. The statistics belong to the data, not to CIFAR-10:

- CIFAR-10 and CIFAR-100: the mean and std over every pixel of their full training sets (the
  published values, which :func:`channel_statistics` reproduces from the images);
- an image folder: computed from its training split as loaded;
- or given by the user (``mean`` and ``std`` of the data module), e.g. a model trained with
  ImageNet's statistics.

The data module reports them with where they came from (:class:`Normalization`), the model
records them in its checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from cl_robust.errors import ConfigError

#: Mean and std over every pixel of the full training set, per channel (R, G, B), pixels in [0, 1].
DATASET_STATISTICS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

#: Images a chunk when summing pixels (bounds the float64 copy: 1024 x 3 x 96 x 96 values, 226 MB at most).
_CHUNK = 1024


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean`` and ``std`` of pixels in [0, 1], and where they came from (``source``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str

    def record(self) -> dict[str, Any]:
        """As plain lists and a string (JSON, checkpoint metadata)."""
        entry = asdict(self)
        return {"mean": list(entry["mean"]), "std": list(entry["std"]), "source": entry["source"]}


def check_statistics(mean: Sequence[float] | None, std: Sequence[float] | None,
                     option: str = "data") -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Given ``mean`` and ``std``: one finite mean and one std > 0 a channel, both or neither; None when neither."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise ConfigError(f"{option}: give both mean and std (one value a channel, pixels in [0, 1]) or neither "
                          f"(the data's own statistics); got mean={mean!r}, std={std!r}")
    try:
        mean_values, std_values = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: mean and std must be lists of numbers, got mean={mean!r}, std={std!r}") from None
    if (not mean_values or len(mean_values) != len(std_values) or not all(map(math.isfinite, mean_values))
            or not all(math.isfinite(v) and v > 0 for v in std_values)):
        raise ConfigError(f"{option}: mean and std need one value a channel each (std > 0, pixels in [0, 1], e.g. "
                          f"mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]); got mean={mean!r}, std={std!r}")
    return mean_values, std_values


def channel_statistics(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and (population) std of every pixel, per channel, of uint8 ``[N, C, H, W]`` images (or floats in [0, 1]).

    Sums in float64 chunk by chunk, so the whole split never exists as floats at once.
    """
    if images.dim() != 4 or images.shape[0] == 0:
        raise ConfigError(f"channel statistics need images [N, C, H, W] with N > 0; got shape {list(images.shape)}")
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start:start + _CHUNK].to(torch.float64).div_(scale).transpose(0, 1).reshape(channels, -1)
        total += chunk.sum(dim=1)
        squares += chunk.square().sum(dim=1)
    count = images.numel() // channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def dataset_normalization(dataset: str, train_images: Tensor | None, given: Sequence[float] | None = None,
                          given_std: Sequence[float] | None = None) -> Normalization:
    """The statistics of a data set: given ones first, then the published ones of CIFAR, else computed."""
    checked = check_statistics(given, given_std)
    if checked is not None:
        return Normalization(*checked, source="given (data mean and std)")
    if dataset in DATASET_STATISTICS:
        mean, std = DATASET_STATISTICS[dataset]
        return Normalization(mean, std, source=f"{dataset}: the full training set's published statistics")
    if train_images is None:
        raise ConfigError("the data's mean and std are computed from its training images: set the data module up "
                          "first (setup()), or give mean and std")
    mean, std = channel_statistics(train_images)
    if min(std) <= 0:
        raise ConfigError(f"the training images have a constant channel (std {list(std)}); give mean and std")
    rounded = tuple(round(v, 6) for v in mean), tuple(round(v, 6) for v in std)
    return Normalization(*rounded, source=f"computed from the {train_images.shape[0]} training images")


__all__ = ["DATASET_STATISTICS", "Normalization", "channel_statistics", "check_statistics", "dataset_normalization"]
