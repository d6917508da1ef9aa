"""Fine-tuning module: frozen encoder semantics and clear errors for wrong checkpoints."""
from pathlib import Path

import lightning as L
import pytest
import torch

from cl_robust.errors import ConfigError
from cl_robust.methods import FineTune, SimCLR, SupervisedLearning


def save_pretrained(module: L.LightningModule, path: Path) -> Path:
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def simclr_checkpoint(tmp_path: Path) -> Path:
    return save_pretrained(SimCLR(backbone="resnet_tiny", projection_dim=16), tmp_path / "cl.ckpt")


def test_linear_mode_freezes_encoder_and_keeps_it_in_eval(simclr_checkpoint: Path) -> None:
    model = FineTune(pretrained_checkpoint=str(simclr_checkpoint), mode="linear")
    model.train()
    assert not model.encoder.training and not any(m.training for m in model.encoder.modules())
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert model.classifier.training and all(p.requires_grad for p in model.classifier.parameters())
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.classifier.parameters()}


def test_pretrained_weights_and_projector_are_loaded(simclr_checkpoint: Path) -> None:
    pretrained = torch.load(simclr_checkpoint, weights_only=False)["state_dict"]
    model = FineTune(pretrained_checkpoint=str(simclr_checkpoint), mode="full")
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, pretrained[f"encoder.{key}"])
    assert model.projector is not None
    assert torch.equal(model.projector.state_dict()["layers.0.weight"], pretrained["projector.layers.0.weight"])
    assert model.embed(torch.rand(2, 3, 32, 32)).shape == (2, 16)


def test_wrong_scheme_backbone_and_foreign_files_get_one_line(simclr_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a 'scl' checkpoint"):
        FineTune(pretrained_checkpoint=str(simclr_checkpoint), expected_scheme="scl")
    with pytest.raises(ConfigError, match="backbone"):
        FineTune(pretrained_checkpoint=str(simclr_checkpoint), backbone="resnet50")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ConfigError, match="not written by a cl_robust module"):
        FineTune(pretrained_checkpoint=str(foreign))
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(simclr_checkpoint.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        FineTune(pretrained_checkpoint=str(truncated))
    with pytest.raises(ConfigError, match="no such file"):
        FineTune(pretrained_checkpoint=str(tmp_path / "missing.ckpt"))
    with pytest.raises(ConfigError, match="pretrained_checkpoint is required"):
        FineTune()
    for error in (pytest.raises(ConfigError, match="mode"),):
        with error:
            FineTune(pretrained_checkpoint=str(simclr_checkpoint), mode="partial")


def test_supervised_checkpoint_has_no_projector_for_threat_model_one(tmp_path: Path) -> None:
    path = save_pretrained(SupervisedLearning(backbone="resnet_tiny"), tmp_path / "sl.ckpt")
    model = FineTune(pretrained_checkpoint=str(path))
    assert model.projector is None
    with pytest.raises(ConfigError, match="threat model I"):
        model.embed(torch.rand(2, 3, 32, 32))


def test_a_finetuned_checkpoint_is_not_a_pretraining_one(simclr_checkpoint: Path, tmp_path: Path) -> None:
    finetuned = save_pretrained(FineTune(pretrained_checkpoint=str(simclr_checkpoint)), tmp_path / "ft.ckpt")
    with pytest.raises(ConfigError, match="'finetune' checkpoint"):
        FineTune(pretrained_checkpoint=str(finetuned))
