"""A tiny classifier trained on synthetic colour images, so attacks have something to break."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import Tensor, nn

from cl_robust.attacks import AttackConfig

NUM_CLASSES = 3

#: Every threat model: PGD and FGSM, L-inf and L2, with and without a random start.
ATTACK_CONFIGS = [
    AttackConfig(method=method, norm=norm, eps=eps, random_start=random_start, step_size=step_size)
    for method, (norm, eps, step_size), random_start in itertools.product(
        ["pgd", "fgsm"], [("linf", 8 / 255, 0.01), ("l2", 0.5, 0.2)], [False, True]
    )
]


class TinyNet(nn.Module):
    """Conv + BatchNorm encoder, dropout + linear head: logits [N, 3] from 3x8x8 images in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(32, 16),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(16, NUM_CLASSES))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.encoder(images))


def synthetic_batch(size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Images whose dominant colour channel is the label, plus noise, in [0, 1]."""
    labels = torch.randint(0, NUM_CLASSES, (size,), generator=generator)
    images = 0.35 + 0.15 * torch.randn(size, 3, 8, 8, generator=generator)
    images[torch.arange(size), labels] += 0.06
    return images.clamp(0, 1), labels


@contextmanager
def _one_thread() -> Iterator[None]:
    """These nets are too small to gain from threads, and busy machines slow them many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    with _one_thread():
        yield


@pytest.fixture(scope="session")
def _trained_tiny_net() -> TinyNet:
    with _one_thread():
        return _train_tiny_net()


def _train_tiny_net() -> TinyNet:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = TinyNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        images, labels = synthetic_batch(64, generator)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture
def model(_trained_tiny_net: TinyNet) -> TinyNet:
    """A fresh copy of the trained net (tests may change its modes and gradients)."""
    return copy.deepcopy(_trained_tiny_net)


@pytest.fixture
def batch() -> tuple[Tensor, Tensor]:
    return synthetic_batch(32, torch.Generator().manual_seed(1))


def module_modes(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def frozen_encoder(model: TinyNet) -> TinyNet:
    """The linear-probe setting: encoder in eval mode without gradients, head in train mode."""
    model.train()
    model.encoder.eval()
    model.encoder.requires_grad_(False)
    return model


def parameter_state(model: nn.Module) -> dict[str, tuple[bool, Tensor | None]]:
    return {
        name: (p.requires_grad, None if p.grad is None else p.grad.clone())
        for name, p in model.named_parameters()
    }


def give_some_gradients(model: nn.Module, images: Tensor, labels: Tensor) -> None:
    """Leave a gradient on the head's parameters only (the encoder's stay None)."""
    loss = nn.functional.cross_entropy(model(images), labels)
    head = [p for name, p in model.named_parameters() if name.startswith("head")]
    for p, grad in zip(head, torch.autograd.grad(loss, head), strict=True):
        p.grad = grad


def assert_same_parameter_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for name, (requires_grad, grad) in before.items():
        assert after[name][0] == requires_grad, name
        if grad is None:
            assert after[name][1] is None, name
        else:
            assert torch.equal(after[name][1], grad), name


def assert_in_ball(adversarial: Tensor, images: Tensor, eps: float, norm: str) -> None:
    delta = (adversarial - images).flatten(1)
    if norm == "linf":
        assert delta.abs().max() <= eps + 1e-6
    else:
        assert delta.norm(dim=1).max() <= eps + 1e-5
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert not adversarial.requires_grad


def config_id(config: AttackConfig) -> str:
    """Short test id such as ``pgd-linf-random``."""
    start = "random" if config.random_start else "clean"
    return f"{config.method}-{config.norm}-{start}"
