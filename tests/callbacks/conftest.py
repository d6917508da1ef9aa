"""Tiny modules and batches for the adversarial-callback tests."""
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from cl_robust.methods import FineTune, SimCLR, SupCon, SupervisedLearning
from cl_robust.methods.base import Batch, RobustMethod

from ..attacks.conftest import _single_thread  # noqa: F401  (autouse: tiny nets run on one thread)

BATCH = 6
SIZE = 16  # small images keep these tests fast; the backbone pools to a vector at any size


def fixed_views(images: Tensor) -> tuple[Tensor, Tensor]:
    """A deterministic stand-in for the random augmentation: a flipped and a darkened copy."""
    return images.flip(3), images * 0.8


class FixedViews(nn.Module):
    """:func:`fixed_views` (two views) or only the flipped view, as an augmentation module."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        return fixed_views(images)[: self.count]


def tiny_finetune(mode: str) -> FineTune:
    """A FineTune module on a freshly initialised tiny encoder (no checkpoint file needed)."""
    return FineTune(pretrained={"scheme": "sl", "backbone": "resnet_tiny", "normalize": True}, mode=mode)


MODULES: dict[str, Callable[[], RobustMethod]] = {
    "simclr": lambda: SimCLR(backbone="resnet_tiny", projection_dim=16),
    "supcon": lambda: SupCon(backbone="resnet_tiny", projection_dim=16),
    "supervised": lambda: SupervisedLearning(backbone="resnet_tiny"),
    "finetune_linear": lambda: tiny_finetune("linear"),
    "finetune_full": lambda: tiny_finetune("full"),
}


def make_module(name: str, deterministic_views: bool = True) -> RobustMethod:
    module = MODULES[name]()
    if deterministic_views and name in ("simclr", "supcon", "supervised"):
        module.augment = FixedViews(1 if name == "supervised" else 2)
    module.train()
    return module


@pytest.fixture
def batch() -> Batch:
    generator = torch.Generator().manual_seed(1)
    return {"x0": torch.rand(BATCH, 3, SIZE, SIZE, generator=generator), "y": torch.arange(BATCH) % 4}


def parameter_grads(module: RobustMethod) -> dict[str, Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}
