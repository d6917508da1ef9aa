"""Cross-entropy attacks through torchattacks: threat model, strength, side effects."""

from __future__ import annotations

import pytest
import torch
import torchattacks
from torch import Tensor, nn
from torch.nn.functional import cross_entropy

from cl_robust.attacks import AttackConfig, build_cross_entropy_attack, cross_entropy_attack

from .conftest import (
    ATTACK_CONFIGS,
    TinyNet,
    assert_in_ball,
    assert_same_parameter_state,
    config_id,
    frozen_encoder,
    give_some_gradients,
    module_modes,
    parameter_state,
)


def _loss(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return cross_entropy(model(images), labels).item()


@pytest.mark.parametrize("config", ATTACK_CONFIGS, ids=config_id)
def test_stays_in_the_ball_and_raises_the_loss(model: TinyNet, batch: tuple, config: AttackConfig) -> None:
    images, labels = batch
    adversarial = cross_entropy_attack(model, images, labels, config)
    assert adversarial.shape == images.shape
    assert_in_ball(adversarial, images, config.eps, config.norm)
    assert _loss(model, adversarial, labels) > _loss(model, images, labels) + 0.1


def test_more_steps_never_lower_the_loss(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    losses = [
        _loss(model, cross_entropy_attack(model, images, labels, AttackConfig(steps=steps)), labels)
        for steps in (1, 5, 10)
    ]
    assert _loss(model, images, labels) < losses[0] <= losses[1] <= losses[2]


def test_fgsm_is_one_signed_gradient_step_of_eps(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    config = AttackConfig(method="fgsm", eps=4 / 255)
    inputs = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(cross_entropy(model(inputs), labels), inputs)
    expected = (images + config.eps * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(cross_entropy_attack(model, images, labels, config), expected)


def test_attack_on_the_device_of_the_images(model: TinyNet) -> None:
    attack = build_cross_entropy_attack(model, AttackConfig(), device="cpu")
    assert attack.device == torch.device("cpu")
    assert isinstance(attack, torchattacks.PGD)


@pytest.mark.parametrize("bn_mode", ["eval", "train", "keep"])
def test_modes_requires_grad_and_grads_unchanged(model: TinyNet, batch: tuple, bn_mode: str) -> None:
    images, labels = batch
    model = frozen_encoder(model)
    give_some_gradients(model, images, labels)
    modes, parameters = module_modes(model), parameter_state(model)
    cross_entropy_attack(model, images, labels, AttackConfig(bn_mode=bn_mode))
    assert module_modes(model) == modes
    assert_same_parameter_state(parameters, parameter_state(model))


def test_attacks_in_eval_mode_by_default(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    seen: list[bool] = []
    model.encoder[1].register_forward_hook(lambda module, inputs, output: seen.append(module.training))
    model.train()
    cross_entropy_attack(model, images, labels, AttackConfig(steps=2))
    assert seen == [False, False]
    assert model.training and model.encoder[1].training


def test_plain_torchattacks_would_unfreeze_the_encoder(model: TinyNet, batch: tuple) -> None:
    """Why the modes are restored here: torchattacks calls .train() on the whole model afterwards."""
    images, labels = batch
    model = frozen_encoder(model)
    torchattacks.PGD(model, steps=1)(images, labels)
    assert model.encoder.training


def test_works_under_inference_mode(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    expected = cross_entropy_attack(model, images, labels, AttackConfig())
    with torch.inference_mode():
        adversarial = cross_entropy_attack(model, images.clone(), labels.clone(), AttackConfig())
    torch.testing.assert_close(adversarial, expected)


def test_works_under_bf16_autocast(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    config = AttackConfig()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        adversarial = cross_entropy_attack(model, images, labels, config)
    assert adversarial.dtype == images.dtype
    assert_in_ball(adversarial, images, config.eps, config.norm)
    assert _loss(model, adversarial, labels) > _loss(model, images, labels) + 0.1
