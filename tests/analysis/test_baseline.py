"""The untrained baselines: freshly initialised weights with the run's seed, BatchNorm as initialised or re-estimated."""
from __future__ import annotations

import torch
from torch import nn

from cl_robust.analysis.baseline import reestimate_batchnorm, untrained_baselines, untrained_copy
from cl_robust.methods import FineTune, SupervisedLearning
from cl_robust.models import build_backbone


def _trained_like() -> SupervisedLearning:
    model = SupervisedLearning(backbone="resnet18", backbone_width=8, num_classes=10)
    with torch.no_grad():  # stand-in for training: every weight and statistic moved
        for tensor in [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]:
            tensor.add_(0.1)
    return model


def test_untrained_copy_is_the_seeded_initialisation_of_the_same_architecture() -> None:
    model = _trained_like()
    untrained = untrained_copy(model, seed=3)
    torch.manual_seed(3)
    expected = build_backbone("resnet18", width=8)
    trained = model.encoder.state_dict()
    for name, value in expected.state_dict().items():
        # The input normalisation is the data's, kept from the trained model; everything else is re-initialised.
        assert torch.equal(untrained.encoder.state_dict()[name], trained[name] if name.startswith("normalize.")
                           else value), name
    assert not torch.equal(untrained.encoder.conv1.weight, model.encoder.conv1.weight)
    assert not torch.equal(untrained_copy(model, seed=4).encoder.conv1.weight, untrained.encoder.conv1.weight)
    assert torch.equal(untrained.encoder.bn1.running_mean, torch.zeros_like(untrained.encoder.bn1.running_mean))
    assert not untrained.training and untrained.classifier.out_features == 10


def test_reestimated_batchnorm_holds_the_statistics_of_the_images() -> None:
    norm = nn.BatchNorm2d(3, momentum=0.1)
    model = nn.Sequential(nn.Identity(), norm)
    images = torch.rand(40, 3, 4, 4) * 2 + 5
    reestimate_batchnorm(model, images.split(8))
    assert torch.allclose(norm.running_mean, images.mean(dim=(0, 2, 3)), atol=1e-5)
    assert norm.momentum == 0.1 and not model.training and not norm.training


def test_a_frozen_encoder_gets_statistics_too(tmp_path) -> None:  # noqa: ANN001
    pretrained = SupervisedLearning(backbone="resnet_tiny")
    import lightning as L

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(pretrained)
    trainer.save_checkpoint(tmp_path / "sl.ckpt")
    probe = FineTune(pretrained_checkpoint=str(tmp_path / "sl.ckpt"), mode="linear")
    baselines = untrained_baselines(probe, seed=0, train_images=torch.rand(16, 3, 32, 32), batch_size=8)
    initial, reestimated = baselines["init_bn"].encoder.bn1, baselines["reestimated_bn"].encoder.bn1
    assert torch.equal(initial.running_var, torch.ones_like(initial.running_var))
    assert not torch.equal(reestimated.running_var, torch.ones_like(reestimated.running_var))
