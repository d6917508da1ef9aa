"""Dual BatchNorm: one clean and one adversarial branch per BatchNorm layer (Jiang et al. 2020, ACL).

ACL ("Robust Pre-Training by Adversarial Contrastive Learning", NeurIPS 2020) keeps two
BatchNorms in every layer: clean inputs are normalised with statistics (and affine parameters)
of clean inputs, adversarial inputs with those of adversarial inputs, because the two
distributions differ (as in AdvProp, Xie et al. 2020). The branch is chosen per forward pass:
:func:`bn_branch` sets it for a ``with`` block and restores it, :func:`set_bn_branch` sets it for
good. A layer's default branch is the adversarial one, which ACL fine-tunes and evaluates.

:class:`DualBatchNorm2d` is an ``nn.ModuleDict`` of its two BatchNorms (``clean``,
``adversarial``), so code that lists layers treats it as a container and sees only the branch
that ran, and ``SyncBatchNorm.convert_sync_batchnorm`` converts both branches.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from cl_robust.errors import check_choice

CLEAN, ADVERSARIAL = "clean", "adversarial"
BRANCHES: tuple[str, ...] = (CLEAN, ADVERSARIAL)


class DualBatchNorm2d(nn.ModuleDict):
    """A clean and an adversarial ``BatchNorm2d`` with separate affine parameters and running statistics."""

    def __init__(self, norm: nn.BatchNorm2d) -> None:
        super().__init__({CLEAN: copy.deepcopy(norm), ADVERSARIAL: copy.deepcopy(norm)})
        #: The branch the next forward passes use.
        self.branch = ADVERSARIAL

    def forward(self, x: Tensor) -> Tensor:
        return self[self.branch](x)

    def extra_repr(self) -> str:
        return f"branch={self.branch!r}"


def convert_to_dual_bn(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` inside ``module`` by a :class:`DualBatchNorm2d` (in place); returns it."""
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            setattr(module, name, DualBatchNorm2d(child))
        elif not isinstance(child, DualBatchNorm2d):
            convert_to_dual_bn(child)
    return module


def dual_norms(module: nn.Module) -> list[DualBatchNorm2d]:
    """Every :class:`DualBatchNorm2d` inside ``module``."""
    return [child for child in module.modules() if isinstance(child, DualBatchNorm2d)]


def has_dual_bn(module: nn.Module) -> bool:
    """Whether ``module`` holds dual BatchNorm layers."""
    return bool(dual_norms(module))


def set_bn_branch(module: nn.Module, branch: str) -> None:
    """Make every dual BatchNorm of ``module`` use ``branch`` (``clean`` or ``adversarial``) from now on."""
    check_choice("bn_branch", branch, BRANCHES)
    for norm in dual_norms(module):
        norm.branch = branch


@contextmanager
def bn_branch(module: nn.Module, branch: str) -> Iterator[None]:
    """Forward passes of ``module`` inside the block use ``branch``; each layer's branch is restored after.

    A module without dual BatchNorm is left alone, so callers need not check.
    """
    check_choice("bn_branch", branch, BRANCHES)
    norms = dual_norms(module)
    saved = [norm.branch for norm in norms]
    for norm in norms:
        norm.branch = branch
    try:
        yield
    finally:
        for norm, previous in zip(norms, saved, strict=True):
            norm.branch = previous


__all__ = ["ADVERSARIAL", "BRANCHES", "CLEAN", "DualBatchNorm2d", "bn_branch", "convert_to_dual_bn", "dual_norms",
           "has_dual_bn", "set_bn_branch"]
