"""PGD on contrastive losses: single-input (RoCL / reference pretraining, TM-I) and both views (ACL)."""

from __future__ import annotations

import pytest
import torch
from lightly.loss import NTXentLoss
from torch import Tensor, nn

from cl_robust.attacks import AttackConfig, contrastive_attack, contrastive_attack_pair, project, random_start

from .conftest import (
    ATTACK_CONFIGS,
    TinyNet,
    assert_in_ball,
    assert_same_parameter_state,
    config_id,
    frozen_encoder,
    module_modes,
    parameter_state,
)

_nt_xent = NTXentLoss(temperature=0.5)


def nt_xent(first: Tensor, second: Tensor, labels: Tensor | None) -> Tensor:
    return _nt_xent(first, second)


class Embedder(nn.Module):
    """Encoder + projection head, as attacked in contrastive pretraining."""

    def __init__(self, model: TinyNet) -> None:
        super().__init__()
        self.model = model
        self.projection = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 8))

    def forward(self, images: Tensor) -> Tensor:
        return self.projection(self.model.encoder(images))


@pytest.fixture
def embed(model: TinyNet) -> Embedder:
    return Embedder(model).eval()


def _loss(embed: nn.Module, first: Tensor, second: Tensor) -> float:
    with torch.no_grad():
        return nt_xent(embed(first), embed(second), None).item()


def _views(images: Tensor) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(2)
    noisy = [(images + 0.05 * torch.randn(images.shape, generator=generator)).clamp(0, 1) for _ in range(2)]
    return noisy[0], noisy[1]


@pytest.mark.parametrize("config", ATTACK_CONFIGS, ids=config_id)
def test_single_stays_in_the_ball_and_raises_the_loss(
    embed: Embedder, batch: tuple, config: AttackConfig
) -> None:
    images, _ = batch
    adversarial = contrastive_attack(embed, nt_xent, images, config)
    assert_in_ball(adversarial, images, config.eps, config.norm)
    assert _loss(embed, images, adversarial) > _loss(embed, images, images) + 0.05


@pytest.mark.parametrize("config", ATTACK_CONFIGS, ids=config_id)
def test_pair_stays_in_the_ball_and_raises_the_loss(
    embed: Embedder, batch: tuple, config: AttackConfig
) -> None:
    view1, view2 = _views(batch[0])
    adversarial1, adversarial2 = contrastive_attack_pair(embed, nt_xent, view1, view2, config)
    assert_in_ball(adversarial1, view1, config.eps, config.norm)
    assert_in_ball(adversarial2, view2, config.eps, config.norm)
    assert _loss(embed, adversarial1, adversarial2) > _loss(embed, view1, view2) + 0.05


def test_pair_moves_both_views(embed: Embedder, batch: tuple) -> None:
    view1, view2 = _views(batch[0])
    adversarial1, adversarial2 = contrastive_attack_pair(embed, nt_xent, view1, view2, AttackConfig())
    assert (adversarial1 - view1).abs().amax() > 0.02 and (adversarial2 - view2).abs().amax() > 0.02


def test_more_steps_never_lower_the_loss(embed: Embedder, batch: tuple) -> None:
    images, _ = batch
    losses = [
        _loss(embed, images, contrastive_attack(embed, nt_xent, images, AttackConfig(steps=steps)))
        for steps in (1, 5, 10)
    ]
    assert _loss(embed, images, images) < losses[0] <= losses[1] <= losses[2]


def test_partner_embedding_is_fixed_and_labels_reach_the_loss(embed: Embedder, batch: tuple) -> None:
    images, labels = batch
    partner = images.flip(0)
    calls: list[tuple[Tensor, Tensor | None, bool]] = []

    def recording_loss(first: Tensor, second: Tensor, given: Tensor | None) -> Tensor:
        calls.append((first, given, first.requires_grad))
        return nt_xent(first, second, given)

    contrastive_attack(embed, recording_loss, images, AttackConfig(steps=3), labels=labels, partner=partner)
    assert len(calls) == 3
    with torch.no_grad():
        expected = embed(partner)
    for first, given, requires_grad in calls:
        torch.testing.assert_close(first, expected)
        assert given is not None and torch.equal(given, labels)
        assert not requires_grad


def test_fgsm_single_is_one_signed_step_of_eps(embed: Embedder, batch: tuple) -> None:
    images, _ = batch
    config = AttackConfig(method="fgsm", eps=4 / 255)
    with torch.no_grad():
        reference = embed(images)
    inputs = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nt_xent(reference, embed(inputs), None), inputs)
    expected = (images + config.eps * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(contrastive_attack(embed, nt_xent, images, config), expected)


@pytest.mark.parametrize("bn_mode", ["eval", "train", "keep"])
def test_modes_requires_grad_and_grads_unchanged(model: TinyNet, batch: tuple, bn_mode: str) -> None:
    images, labels = batch
    embed = Embedder(frozen_encoder(model)).train()
    embed.model.encoder.eval()
    embed.projection[0].weight.grad = torch.ones_like(embed.projection[0].weight)
    modes, parameters = module_modes(embed), parameter_state(embed)
    config = AttackConfig(bn_mode=bn_mode)
    contrastive_attack(embed, nt_xent, images, config, module_for_mode=embed)
    contrastive_attack_pair(embed, nt_xent, *_views(images), config, module_for_mode=embed)
    assert module_modes(embed) == modes
    assert_same_parameter_state(parameters, parameter_state(embed))


def test_bn_mode_applies_to_the_given_module(embed: Embedder, batch: tuple) -> None:
    seen: list[bool] = []
    embed.model.encoder[1].register_forward_hook(lambda module, inputs, output: seen.append(module.training))
    contrastive_attack(
        embed, nt_xent, batch[0], AttackConfig(steps=2, bn_mode="train"), module_for_mode=embed
    )
    assert seen == [True, True, True]
    assert not embed.model.encoder[1].training


def test_works_under_inference_mode(embed: Embedder, batch: tuple) -> None:
    images, labels = batch
    view1, view2 = _views(images)
    expected = contrastive_attack(embed, nt_xent, images, AttackConfig(), labels=labels)
    expected_pair = contrastive_attack_pair(embed, nt_xent, view1, view2, AttackConfig())
    with torch.inference_mode():
        adversarial = contrastive_attack(
            embed, nt_xent, images.clone(), AttackConfig(), labels=labels.clone()
        )
        pair = contrastive_attack_pair(embed, nt_xent, view1.clone(), view2.clone(), AttackConfig())
    torch.testing.assert_close(adversarial, expected)
    torch.testing.assert_close(pair, expected_pair)


def test_loss_in_float32_under_bf16_autocast(embed: Embedder, batch: tuple) -> None:
    images, _ = batch
    dtypes: list[tuple[torch.dtype, torch.dtype, bool]] = []

    def recording_loss(first: Tensor, second: Tensor, labels: Tensor | None) -> Tensor:
        dtypes.append((first.dtype, second.dtype, torch.is_autocast_enabled("cpu")))
        return nt_xent(first, second, labels)

    config = AttackConfig()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        adversarial = contrastive_attack(embed, recording_loss, images, config)
    assert set(dtypes) == {(torch.float32, torch.float32, False)}
    assert adversarial.dtype == torch.float32
    assert_in_ball(adversarial, images, config.eps, config.norm)
    assert _loss(embed, images, adversarial) > _loss(embed, images, images) + 0.05


@pytest.mark.parametrize(("norm", "eps"), [("linf", 0.1), ("l2", 0.5)])
def test_project_and_random_start_respect_the_ball_and_the_box(norm: str, eps: float) -> None:
    images = torch.rand(16, 3, 8, 8)
    projected = project(torch.randn(16, 3, 8, 8), images, eps, norm)
    assert_in_ball(images + projected, images, eps, norm)
    start = random_start(images, eps, norm)
    assert_in_ball(images + start, images, eps, norm)
    assert start.abs().amax() > 0


def test_l2_projection_scales_onto_the_sphere() -> None:
    images = torch.full((2, 3, 4, 4), 0.5)
    delta = torch.full((2, 3, 4, 4), 0.01)
    delta[0] *= 10
    projected = project(delta, images, 0.2, "l2")
    torch.testing.assert_close(projected.flatten(1).norm(dim=1), torch.tensor([0.2, delta[1].norm().item()]))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_no_host_synchronisation_inside_the_loop(
    embed: Embedder, batch: tuple, norm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a tensor's value on the host (.item(), bool(), .tolist()) would stall a GPU every step."""

    def cosine_loss(first: Tensor, second: Tensor, labels: Tensor | None) -> Tensor:
        return -nn.functional.cosine_similarity(first, second).mean()

    def refuse(*args: object) -> None:
        raise AssertionError("host synchronisation inside the attack loop")

    view1, view2 = _views(batch[0])
    config = AttackConfig(norm=norm, eps=0.5 if norm == "l2" else 8 / 255, random_start=True, steps=3)
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(Tensor, name, refuse)
    contrastive_attack(embed, cosine_loss, batch[0], config, module_for_mode=embed)
    contrastive_attack_pair(embed, cosine_loss, view1, view2, config, module_for_mode=embed)
