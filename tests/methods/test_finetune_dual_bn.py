"""Fine-tuning a dual-BN (ACL) encoder: one branch, adversarial unless chosen, recorded in the checkpoint,
kept by evaluation's and analysis's rebuilds; a branch asked of a checkpoint without dual BN is refused."""
from pathlib import Path

import pytest
import torch

from cl_robust.analysis.baseline import untrained_copy
from cl_robust.errors import ConfigError
from cl_robust.methods import FineTune, SimCLR
from cl_robust.models.dual_bn import ADVERSARIAL, CLEAN, dual_norms

from .test_finetune import save_pretrained as save

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")


@pytest.fixture
def dual_checkpoint(tmp_path: Path) -> Path:
    return save(SimCLR(backbone="resnet_tiny", projection_dim=16, dual_bn=True), tmp_path / "acl.ckpt")


def branches(module: FineTune) -> set[str]:
    return {norm.branch for norm in dual_norms(module.encoder)}


def test_the_adversarial_branch_is_the_default_and_is_recorded(dual_checkpoint: Path, tmp_path: Path) -> None:
    module = FineTune(pretrained_checkpoint=str(dual_checkpoint), mode="linear")
    assert branches(module) == {ADVERSARIAL} and not module.trains_both_branches
    metadata = module.checkpoint_metadata()
    assert metadata["dual_bn"] is True and metadata["bn_branch"] == ADVERSARIAL
    clean = FineTune(pretrained_checkpoint=str(dual_checkpoint), mode="linear", bn_branch="clean")
    rebuilt = FineTune.load_from_checkpoint(save(clean, tmp_path / "ft.ckpt"), pretrained_checkpoint=None)
    assert branches(rebuilt) == {CLEAN}
    assert branches(untrained_copy(rebuilt, seed=0)) == {CLEAN}, "the analysis baseline keeps the branch"


def test_full_fine_tuning_moves_only_the_chosen_branch(dual_checkpoint: Path) -> None:
    module = FineTune(pretrained_checkpoint=str(dual_checkpoint), mode="full", bn_branch="clean").train()
    state = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    batch = {"x0": torch.rand(6, 3, 8, 8), "y": torch.arange(6) % 3}
    module.training_step(batch, 0).backward()
    after = module.encoder.state_dict()
    moved = {k for k in state if "running_mean" in k and not torch.equal(state[k], after[k])}
    assert moved and all(".clean." in k for k in moved)
    assert module.encoder.bn1[ADVERSARIAL].weight.grad is None and module.encoder.bn1[CLEAN].weight.grad is not None


def test_a_branch_for_a_checkpoint_without_dual_bn_is_refused(tmp_path: Path, dual_checkpoint: Path) -> None:
    plain = save(SimCLR(backbone="resnet_tiny", projection_dim=16), tmp_path / "cl.ckpt")
    with pytest.raises(ConfigError, match="bn_branch: the encoder of .* was pretrained without dual_bn"):
        FineTune(pretrained_checkpoint=str(plain), bn_branch="adversarial")
    assert FineTune(pretrained_checkpoint=str(plain)).hparams.bn_branch is None
    with pytest.raises(ConfigError, match="bn_branch must be one of 'clean', 'adversarial'; got 'pgd'"):
        FineTune(pretrained_checkpoint=str(dual_checkpoint), bn_branch="pgd")
