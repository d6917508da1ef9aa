"""Per-class subsets of a split: the images a data module keeps, holds out for validation, or labels.

Every subset is class-balanced and taken in the split's order, which ``order_seed`` makes a
seeded random order independent of how the images are stored (:mod:`cl_robust.data.order`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from cl_robust.errors import ConfigError, shown

#: A labelled fraction may come out at most this many times larger (or smaller) than asked.
LABELED_TOLERANCE = 2.0


def rank_within_class(labels: Tensor) -> Tensor:
    """Position of each sample among the samples of its class, in data order (0, 1, ...)."""
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    ranks = torch.empty_like(labels)
    ranks[order] = torch.arange(len(labels)) - starts[labels[order]]
    return ranks


def first_per_class(labels: Tensor, per_class: int, split_name: str, option: str) -> Tensor:
    """Indices of the first ``per_class`` samples of every class; ConfigError if a class has fewer."""
    counts = torch.bincount(labels)
    present = counts[counts > 0]
    if len(present) and int(present.min()) < per_class:
        raise ConfigError(
            f"{option}={per_class} but the {split_name} split has only {int(present.min())} images "
            f"in its smallest class; use {option} <= {int(present.min())}"
        )
    return torch.nonzero(rank_within_class(labels) < per_class).flatten()


def hold_out_last_per_class(labels: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """Split indices into (kept, held out): the last ``count`` samples of every class are held out."""
    ranks = rank_within_class(labels)
    class_sizes = torch.bincount(labels)[labels]
    held_out = ranks >= class_sizes - count
    return torch.nonzero(~held_out).flatten(), torch.nonzero(held_out).flatten()


def check_labeled_fraction(fraction: float) -> float:
    """A labelled fraction: a number in (0, 1]; ConfigError otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ConfigError(f"labeled_fraction must be a number in (0, 1] (the share of training images whose label "
                          f"the scheme may use; 1: every label); got {shown(fraction)}")
    return float(fraction)


def labeled_per_class(class_sizes: Tensor, fraction: float) -> Tensor:
    """Labelled images of each class: ``round(fraction * n_c)``, at least 1 (every class keeps a label)."""
    return torch.floor(class_sizes.double() * fraction + 0.5).clamp_min(1).long()


def labeled_mask(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Class-balanced labelled subset: ``round(fraction * n_c)`` (at least 1) random images of each class c.

    The draw is fixed by ``seed`` (its own generator: the shuffle is not disturbed) and by the
    split's order, which ``order_seed`` makes independent of how the images are stored.
    """
    fraction = check_labeled_fraction(fraction)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    ranks = torch.empty_like(labels)
    ranks[order] = rank_within_class(labels[order])
    wanted = labeled_per_class(torch.bincount(labels), fraction)
    return ranks < wanted[labels]


@dataclass(frozen=True)
class LabeledCount:
    """What a labelled fraction came to on a training set: the count actually used, per class and in all."""

    asked: float
    labeled: int
    images: int
    per_class: tuple[int, ...]
    class_sizes: tuple[int, ...]

    @property
    def fraction(self) -> float:
        return self.labeled / self.images

    def record(self) -> dict[str, Any]:
        """The entry of the data record (checkpoint metadata): asked, used, and the counts behind it."""
        return {"asked": self.asked, "fraction": round(self.fraction, 6), "labeled_images": self.labeled,
                "images": self.images, "labeled_per_class": list(self.per_class)}

    def line(self) -> str:
        """One line saying how many labels the scheme may use."""
        low, high = min(self.per_class), max(self.per_class)
        each = f"{low} a class" if low == high else f"{low} to {high} a class"
        return (f"labeled_fraction {self.asked:g}: {self.labeled:,} of {self.images:,} training images labelled "
                f"({each}; fraction used {self.fraction:.4g})")


def count_labeled(labels: Tensor, fraction: float) -> LabeledCount:
    """The labelled count :func:`labeled_mask` gives on ``labels``; ConfigError when it strays from what was asked.

    Rounding per class (and keeping one label a class) can turn a small fraction of a small set into
    a much larger one (0.01 of 5 images a class labels 1 of 5, 20%). A result more than
    :data:`LABELED_TOLERANCE` times larger or smaller than ``fraction`` is refused with the nearest
    fractions this training set allows.
    """
    fraction = check_labeled_fraction(fraction)
    sizes = torch.bincount(labels)
    sizes = sizes[sizes > 0]
    per_class = labeled_per_class(sizes, fraction)
    count = LabeledCount(fraction, int(per_class.sum()), int(sizes.sum()), tuple(per_class.tolist()),
                         tuple(sizes.tolist()))
    ratio = count.fraction / fraction
    if 1 / LABELED_TOLERANCE <= ratio <= LABELED_TOLERANCE:
        return count
    smallest = int(sizes.min())
    nearest = _nearest_fractions(sizes, fraction)
    needed = math.ceil(1 / (LABELED_TOLERANCE * fraction))
    raise ConfigError(
        f"labeled_fraction {fraction:g} would label {count.labeled} of {count.images} training images "
        f"({count.fraction:.3g}, {ratio:.3g} times what was asked: each class labels round(fraction x its images), "
        f"at least 1); with {smallest} images in the smallest class the nearest possible "
        f"{'values are' if len(nearest) > 1 else 'value is'} {' and '.join(f'{value:.3g}' for value in nearest)}; "
        f"ask for {'one of them' if len(nearest) > 1 else 'it'}, or train on at least {needed} images a class "
        f"(per_class) for {fraction:g}")


def check_labeled_subset(num_classes: int, images_per_class: int, fraction: float) -> None:
    """:func:`count_labeled` on a training set of ``images_per_class`` images in each of ``num_classes`` classes
    (a grid's ``per_class``), before any image is read."""
    count_labeled(torch.arange(num_classes).repeat_interleave(images_per_class), fraction)


def _nearest_fractions(sizes: Tensor, fraction: float) -> list[float]:
    """The (at most two) labelled fractions nearest to ``fraction`` that ``sizes`` allow, in increasing order.

    Asked fractions are tried at every class's steps ``k / n_c`` (and near 0: one label a class).
    """
    asked = {1e-9} | {k / n for n in set(sizes.tolist()) for k in range(1, min(n, 1000) + 1)}
    possible = sorted({float(labeled_per_class(sizes, value).sum()) / float(sizes.sum()) for value in asked})
    below = [value for value in possible if value <= fraction]
    above = [value for value in possible if value > fraction]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])
