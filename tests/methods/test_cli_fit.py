"""Each scheme trains through the CLI from its example config, and fine-tuning chains from it."""
from pathlib import Path

import pytest
import torch

from cl_robust.cli import main
from cl_robust.methods import FineTune

from .conftest import CONFIGS, tiny_run_args

SCHEMES = ["sl", "cl", "scl"]


def fit(args: list[str]) -> None:
    try:
        main(["fit", *args])
    except SystemExit as exit_:  # LightningCLI returns normally; a SystemExit means an error
        raise AssertionError(f"cl-robust exited with {exit_.code}") from None


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, synthetic_root: str) -> dict[str, Path]:
    """One tiny pretraining run per scheme from examples/configs/pretrain/<scheme>.yaml."""
    workdir = tmp_path_factory.mktemp("pretrain")
    checkpoints = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for scheme in SCHEMES:
            fit(["--config", str(CONFIGS / "pretrain" / f"{scheme}.yaml"), *tiny_run_args(synthetic_root)])
            checkpoints[scheme] = workdir / "runs" / "pretrain" / scheme / "checkpoints" / "last.ckpt"
    return checkpoints


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pretraining_writes_a_checkpoint_with_metadata(pretrained: dict[str, Path], scheme: str) -> None:
    checkpoint = torch.load(pretrained[scheme], map_location="cpu", weights_only=False)
    assert checkpoint["cl_robust"]["scheme"] == scheme
    assert checkpoint["cl_robust"]["backbone"] == "resnet_tiny"
    assert checkpoint["global_step"] == 2
    assert ("projection" in checkpoint["cl_robust"]) == (scheme != "sl")
    config = pretrained[scheme].parents[1] / "lightning_logs"
    assert any(config.rglob("config.yaml")), "the full config is saved beside the results"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("mode", ["linear", "full"])
def test_finetuning_from_each_scheme(pretrained: dict[str, Path], synthetic_root: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, scheme: str, mode: str) -> None:
    monkeypatch.chdir(tmp_path)
    fit(["--config", str(CONFIGS / "finetune" / f"{mode}.yaml"), *tiny_run_args(synthetic_root)[2:],
         "--model.init_args.pretrained_checkpoint", str(pretrained[scheme])])
    finetuned = tmp_path / "runs" / "finetune" / mode / "checkpoints" / "last.ckpt"
    before = torch.load(pretrained[scheme], map_location="cpu", weights_only=False)["state_dict"]
    after = torch.load(finetuned, map_location="cpu", weights_only=False)
    assert after["cl_robust"]["pretrained_scheme"] == scheme and after["cl_robust"]["mode"] == mode
    encoder_keys = [k for k in before if k.startswith("encoder.")]
    unchanged = all(torch.equal(before[k], after["state_dict"][k]) for k in encoder_keys)
    # A linear probe leaves every encoder tensor (weights and BatchNorm statistics) untouched.
    assert unchanged == (mode == "linear")
    model = FineTune.load_from_checkpoint(finetuned, pretrained_checkpoint=None)
    model.train()
    assert model.encoder.training == (mode == "full")
    assert model.classifier.training


def test_wandb_logging_config_runs_without_network(synthetic_root: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    fit(["--config", str(CONFIGS / "pretrain" / "sl.yaml"), "--config", str(CONFIGS / "logging" / "wandb.yaml"),
         *tiny_run_args(synthetic_root, steps=1)])
    assert (tmp_path / "runs" / "pretrain" / "sl" / "checkpoints" / "last.ckpt").exists()
