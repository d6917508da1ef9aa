"""attack_mode: sets the requested mode and restores every submodule's flag exactly."""

import pytest
import torch

from cl_robust.attacks import attack_mode
from cl_robust.errors import ConfigError

from .conftest import TinyNet, frozen_encoder, module_modes


@pytest.mark.parametrize("bn_mode", ["eval", "train", "keep"])
def test_mode_inside_and_restored_after(bn_mode: str) -> None:
    model = frozen_encoder(TinyNet())
    before = module_modes(model)
    requires_grad = [p.requires_grad for p in model.parameters()]
    with attack_mode(model, bn_mode):
        inside = set(module_modes(model).values())
        if bn_mode == "keep":
            assert module_modes(model) == before
        else:
            assert inside == {bn_mode == "train"}
    assert module_modes(model) == before
    assert [p.requires_grad for p in model.parameters()] == requires_grad


def test_restored_after_an_exception() -> None:
    model = frozen_encoder(TinyNet())
    before = module_modes(model)
    with pytest.raises(RuntimeError), attack_mode(model, "train"):
        raise RuntimeError("inside the attack")
    assert module_modes(model) == before


def test_restores_changes_made_inside() -> None:
    model = frozen_encoder(TinyNet())
    before = module_modes(model)
    with attack_mode(model, "keep"):
        model.train()
        model.head.eval()
    assert module_modes(model) == before


def test_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bn_mode"), attack_mode(torch.nn.Linear(2, 2), "frozen"):
        pass
