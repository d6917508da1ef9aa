"""Dual BatchNorm (ACL): two branches per layer with their own statistics, chosen per forward pass."""
from pathlib import Path

import lightning
import pytest
import torch
from torch import nn

from cl_robust.errors import ConfigError
from cl_robust.methods import SimCLR
from cl_robust.models import DualBatchNorm2d, bn_branch, build_backbone, has_dual_bn, set_bn_branch
from cl_robust.models.dual_bn import ADVERSARIAL, CLEAN, dual_norms


def branch_stats(model: nn.Module, branch: str) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()
            if f".{branch}.running_" in name}


def test_every_batchnorm_becomes_dual_and_the_default_branch_is_adversarial() -> None:
    plain, dual = build_backbone("resnet_tiny"), build_backbone("resnet_tiny", dual_bn=True)
    plain_norms = [name for name, module in plain.named_modules() if isinstance(module, nn.BatchNorm2d)]
    dual_layers = [name for name, module in dual.named_modules() if isinstance(module, DualBatchNorm2d)]
    assert dual_layers == plain_norms and len(dual_layers) == 12
    assert {norm.branch for norm in dual_norms(dual)} == {ADVERSARIAL}
    assert has_dual_bn(dual) and not has_dual_bn(plain) and dual.block_names() == plain.block_names()
    assert sum(p.numel() for p in dual.parameters()) > sum(p.numel() for p in plain.parameters())


def test_the_two_branches_keep_separate_running_statistics() -> None:
    model = build_backbone("resnet_tiny", dual_bn=True).train()
    clean_before, adversarial_before = branch_stats(model, CLEAN), branch_stats(model, ADVERSARIAL)
    with bn_branch(model, CLEAN):
        model(torch.rand(4, 3, 8, 8))
    clean_after = branch_stats(model, CLEAN)
    assert all(torch.equal(adversarial_before[k], v) for k, v in branch_stats(model, ADVERSARIAL).items())
    assert any(not torch.equal(clean_before[k], v) for k, v in clean_after.items() if "mean" in k)
    model(torch.rand(4, 3, 8, 8) * 0.1)  # the default (adversarial) branch
    assert all(torch.equal(clean_after[k], v) for k, v in branch_stats(model, CLEAN).items())
    adversarial_after = branch_stats(model, ADVERSARIAL)
    assert any(not torch.equal(adversarial_before[k], v) for k, v in adversarial_after.items() if "mean" in k)


def test_branch_context_restores_and_permanent_choice_sticks() -> None:
    model = build_backbone("resnet_tiny", dual_bn=True)
    set_bn_branch(model.layer1, CLEAN)
    with bn_branch(model, ADVERSARIAL):
        assert {norm.branch for norm in dual_norms(model)} == {ADVERSARIAL}
    assert {norm.branch for norm in dual_norms(model.layer1)} == {CLEAN}
    assert model.bn1.branch == ADVERSARIAL
    with pytest.raises(ConfigError, match="bn_branch must be one of 'clean', 'adversarial'; got 'pgd'"):
        set_bn_branch(model, "pgd")


def test_the_branches_give_different_outputs_once_their_statistics_differ() -> None:
    model = build_backbone("resnet_tiny", dual_bn=True).train()
    with bn_branch(model, CLEAN):
        model(torch.rand(8, 3, 8, 8))
    model(torch.rand(8, 3, 8, 8) * 0.2 + 0.8)
    model.eval()
    images = torch.rand(2, 3, 8, 8)
    with bn_branch(model, CLEAN):
        clean = model(images)
    assert not torch.allclose(clean, model(images))


def test_a_dual_bn_checkpoint_round_trips(tmp_path: Path) -> None:
    module = SimCLR(backbone="resnet_tiny", projection_dim=8, dual_bn=True).train()
    with bn_branch(module.encoder, CLEAN):
        module.encoder(torch.rand(6, 3, 8, 8))
    module.encoder(torch.rand(6, 3, 8, 8) * 0.3)
    path = tmp_path / "dual.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    loaded = SimCLR.load_from_checkpoint(path).eval()
    module.eval()
    assert loaded.hparams.dual_bn and module.checkpoint_metadata()["dual_bn"] is True
    images = torch.rand(3, 3, 8, 8)
    for branch in (CLEAN, ADVERSARIAL):
        with bn_branch(module, branch), bn_branch(loaded, branch):
            torch.testing.assert_close(loaded.embed(images), module.embed(images), rtol=0, atol=0)
    plain = SimCLR(backbone="resnet_tiny", projection_dim=8)
    with pytest.raises(RuntimeError, match="clean"):
        plain.load_state_dict(module.state_dict())
