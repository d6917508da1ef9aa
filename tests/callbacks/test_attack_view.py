"""Supervised adversarial training attacks x0 (the reference) or the augmented view (Madry et al.'s PGD-AT)."""
import pytest
import torch

from cl_robust.callbacks import AdversarialFineTuning, AdversarialSupervised
from cl_robust.errors import ConfigError
from cl_robust.methods import SupervisedLearning


def test_attack_view_picks_the_image_the_attack_starts_from() -> None:
    batch = {"x0": torch.zeros(2, 3, 4, 4), "y": torch.tensor([0, 1])}
    views = (torch.ones(2, 3, 4, 4),)
    assert torch.equal(AdversarialSupervised().attack_input(batch, views), batch["x0"])
    assert torch.equal(AdversarialSupervised(attack_view="augmented").attack_input(batch, views), views[0])
    with pytest.raises(ConfigError, match="attack_view"):
        AdversarialSupervised(attack_view="both")


def test_fine_tuning_refuses_an_attack_view_it_would_ignore() -> None:
    with pytest.raises(ConfigError, match="attack_view"):
        AdversarialFineTuning(attack_view="augmented").check_module(SupervisedLearning(backbone="resnet_tiny"))
