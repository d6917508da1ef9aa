"""A scheme with a backbone the library did not define: normalisation from the data, checkpoints that rebuild it."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cl_robust.data import CIFARDataModule, write_synthetic_cifar
from cl_robust.data.normalization import DATASET_STATISTICS
from cl_robust.methods import FineTune, SimCLR, SupervisedLearning
from cl_robust.methods.inputs import DEFAULT_SOURCE


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_cifar(str(tmp_path_factory.mktemp("own_backbone")), "cifar100", 2, 1)


def fit(model: L.LightningModule, data: object, steps: int = 1) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, data)
    return trainer


def instance() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten())


def test_the_encoder_normalises_with_the_data_modules_statistics_and_records_them(root: str, user_models: str) -> None:
    model = SimCLR(backbone="user_models:small_encoder", num_classes=100, projection_dim=8)
    assert model.normalization_source == DEFAULT_SOURCE
    fit(model, CIFARDataModule("cifar100", root=root, batch_size=20))
    recorded = model.checkpoint_metadata()["normalization"]
    mean, std = DATASET_STATISTICS["cifar100"]
    assert recorded["mean"] == pytest.approx(mean) and recorded["std"] == pytest.approx(std)
    assert recorded["source"].startswith("cifar100") and model.checkpoint_metadata()["image_size"] == 32


def test_given_statistics_are_kept_and_a_backbone_that_normalises_itself_gets_none(root: str) -> None:
    given = SupervisedLearning(backbone="resnet_tiny", num_classes=100, mean=[0.1, 0.2, 0.3], std=[1.0, 1.0, 1.0])
    fit(given, CIFARDataModule("cifar100", root=root, batch_size=20))
    assert given.checkpoint_metadata()["normalization"]["mean"] == pytest.approx([0.1, 0.2, 0.3])
    assert given.checkpoint_metadata()["normalization"]["source"] == "given (model mean and std)"
    raw = SupervisedLearning(backbone=instance(), num_classes=100, normalize=False)
    assert raw.checkpoint_metadata()["normalization"] is None and raw.checkpoint_metadata()["normalize"] is False


def test_a_plain_dataloader_keeps_cifar10_statistics_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    model = SupervisedLearning(backbone="resnet_tiny")
    fit(model, DataLoader(TensorDataset(images, torch.arange(8) % 10), batch_size=8))
    assert "gives no mean and std" in capsys.readouterr().err
    assert model.checkpoint_metadata()["normalization"]["source"] == DEFAULT_SOURCE


def test_an_instance_backbone_is_rebuilt_from_its_checkpoint_for_evaluation_and_fine_tuning(
        root: str, tmp_path: Path) -> None:
    from cl_robust.analysis.baseline import untrained_copy
    from cl_robust.commands.checkpoint import load_classifier

    model = SupervisedLearning(backbone=instance(), num_classes=100)
    trainer = fit(model, CIFARDataModule("cifar100", root=root, batch_size=20), steps=2)
    trainer.save_checkpoint(tmp_path / "sl.ckpt")
    loaded = load_classifier(tmp_path / "sl.ckpt")
    images = torch.rand(4, 3, 32, 32)
    assert loaded.metadata["backbone"] == "instance:torch.nn.modules.container.Sequential"
    assert torch.equal(loaded.model(images), model.eval()(images))
    probe = FineTune(pretrained_checkpoint=str(tmp_path / "sl.ckpt"), num_classes=100)
    assert torch.equal(probe.encoder.net[0].weight, model.encoder.net[0].weight)
    assert probe.normalization_source.startswith("the pretrained encoder's (cifar100")
    untrained = untrained_copy(loaded.model, seed=1)  # every submodule's reset_parameters() under the seed
    assert not torch.equal(untrained.encoder.net[0].weight, model.encoder.net[0].weight)
    assert torch.equal(untrained.encoder.normalize.mean, model.encoder.normalize.mean)
    assert torch.equal(untrained_copy(loaded.model, seed=1).encoder.net[0].weight, untrained.encoder.net[0].weight)


@pytest.mark.parametrize("scheme", ["sl", "cl", "scl", "cl+scl", "cl+sl", "scl+sl"])
def test_every_scheme_trains_a_callable_backbone_with_adversarial_training(scheme: str, root: str,
                                                                           user_models: str) -> None:
    from cl_robust.callbacks import AdversarialPretraining, AdversarialSupervised
    from cl_robust.methods import SCHEMES, SemiSupervisedMix

    options = {"mix": scheme} if SCHEMES[scheme] is SemiSupervisedMix else {}
    if scheme != "sl":
        options["projection_dim"] = 8
    model = SCHEMES[scheme](backbone="user_models:small_encoder", backbone_args={"width": 4}, num_classes=100, **options)
    attack = AdversarialSupervised(steps=1) if scheme == "sl" else AdversarialPretraining(steps=1)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[attack])
    trainer.fit(model, CIFARDataModule("cifar100", root=root, batch_size=20))
    assert model.feature_dim == 8 and torch.isfinite(trainer.callback_metrics["train/adv_loss"])
    assert model.checkpoint_metadata()["backbone_args"] == {"width": 4}


def test_mean_and_std_without_normalisation_are_refused() -> None:
    from cl_robust.errors import ConfigError

    with pytest.raises(ConfigError, match="mean and std apply when the encoder normalises"):
        SupervisedLearning(backbone="resnet_tiny", normalize=False, mean=[0.5, 0.5, 0.5], std=[0.2, 0.2, 0.2])
