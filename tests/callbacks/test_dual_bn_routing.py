"""Dual BatchNorm (ACL) in adversarial pretraining: clean inputs run through the clean branch, adversarial
inputs through the adversarial branch, so each branch's running statistics are those of its inputs only."""
import copy

import pytest
import torch
from torch import Tensor, nn

from cl_robust.callbacks import AdversarialPretraining, AdversarialSupervised
from cl_robust.errors import ConfigError
from cl_robust.methods import SimCLR, SupervisedLearning
from cl_robust.methods.base import Batch, RobustMethod
from cl_robust.models.dual_bn import ADVERSARIAL, CLEAN, bn_branch

from .conftest import FixedViews, fixed_views

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")

ATTACK = {"eps": "8/255", "step_size": 0.01, "steps": 2}


def dual_simclr() -> SimCLR:
    module = SimCLR(backbone="resnet_tiny", projection_dim=16, dual_bn=True)
    module.augment = FixedViews(2)
    return module.train()


def running_stats(module: RobustMethod) -> dict[str, Tensor]:
    return {name: value.clone() for name, value in module.encoder.state_dict().items() if "running" in name
            or "num_batches" in name}


def replay(module: RobustMethod, forward_passes: list[tuple[str, Tensor]]) -> dict[str, Tensor]:
    """Running statistics after the given train-mode forward passes, each through its branch."""
    with torch.no_grad():
        for branch, images in forward_passes:
            with bn_branch(module.encoder, branch):
                module.encoder(images)
    return running_stats(module)


class BranchCalls:
    """How often the stem's clean and adversarial BatchNorm ran."""

    def __init__(self, module: RobustMethod) -> None:
        self.calls = {CLEAN: 0, ADVERSARIAL: 0}
        for branch in self.calls:
            module.encoder.bn1[branch].register_forward_hook(lambda *_, branch=branch: self._count(branch))

    def _count(self, branch: str) -> None:
        self.calls[branch] += 1


def assert_same_stats(got: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_acl_pair_clean_pair_in_clean_branch_adversarial_pair_in_adversarial_branch(batch: Batch) -> None:
    module = dual_simclr()
    callback = AdversarialPretraining(**ATTACK, pair=True, clean_weight=0.5, adv_weight=0.5)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    before = copy.deepcopy(module)
    calls = BranchCalls(module)
    module.training_step(batch, 0)
    assert calls.calls == {CLEAN: 1, ADVERSARIAL: 2 * 2 + 1}, "clean pair once; 2 views x 2 steps + the pair"
    expected = replay(before, [(CLEAN, torch.cat(fixed_views(batch["x0"]))),
                               (ADVERSARIAL, torch.cat(callback.last_adversarial))])
    assert_same_stats(running_stats(module), expected)
    assert module.loss_weights == {"contrastive": 0.5, "adv_loss": 0.5}


def test_rocl_term_keeps_its_clean_partner_in_the_clean_branch(batch: Batch) -> None:
    module = dual_simclr()
    callback = AdversarialPretraining(**ATTACK)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    before = copy.deepcopy(module)
    calls = BranchCalls(module)
    module.training_step(batch, 0)
    # clean: the clean pair, x0 as the attack's fixed partner, x0 in the loss; adversarial: 2 steps + the loss
    assert calls.calls == {CLEAN: 3, ADVERSARIAL: 3}
    expected = replay(before, [(CLEAN, torch.cat(fixed_views(batch["x0"]))), (CLEAN, batch["x0"]),
                               (ADVERSARIAL, callback.last_adversarial)])
    assert_same_stats(running_stats(module), expected)


def test_without_dual_bn_nothing_is_routed(batch: Batch) -> None:
    module = SimCLR(backbone="resnet_tiny", projection_dim=16)
    module.augment = FixedViews(2)
    callback = AdversarialPretraining(**ATTACK)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    assert not module.trains_both_branches
    assert torch.isfinite(module.training_step(batch, 0))


def test_dual_bn_supervised_training_routes_the_adversarial_term_too(batch: Batch) -> None:
    module = SupervisedLearning(backbone="resnet_tiny", dual_bn=True).train()
    module.augment = FixedViews(1)
    callback = AdversarialSupervised(**ATTACK)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    calls = BranchCalls(module)
    module.training_step(batch, 0)
    assert calls.calls == {CLEAN: 1, ADVERSARIAL: 2 + 1}


def test_dual_bn_without_adversarial_training_is_refused() -> None:
    module = dual_simclr()
    with pytest.raises(ConfigError, match="dual_bn: true needs adversarial training"):
        module.setup("fit")
    module.setup("test")  # evaluation needs no adversarial term


def test_dual_bn_encoders_keep_modes_and_gradients_clean(batch: Batch) -> None:
    module = dual_simclr()
    AdversarialPretraining(**ATTACK, pair=True, clean_weight=1.0).setup(None, module, "fit")  # type: ignore[arg-type]
    modes = {name: sub.training for name, sub in module.named_modules()}
    module.training_step(batch, 0).backward()
    assert modes == {name: sub.training for name, sub in module.named_modules()}
    norms = [m for m in module.encoder.modules() if isinstance(m, nn.ModuleDict)]
    assert norms and all(m.branch == ADVERSARIAL for m in norms), "the default branch is restored"
    assert module.encoder.bn1[CLEAN].weight.grad is not None and module.encoder.bn1[ADVERSARIAL].weight.grad is not None
