"""CIFAR ResNets: stem, feature dimension, named layers, registry errors."""
import pytest
import torch

from cl_robust.errors import ConfigError
from cl_robust.models import BACKBONES, build_backbone, build_projection_head


@pytest.mark.parametrize("name,dim", [("resnet_tiny", 128), ("resnet18", 512), ("resnet50", 2048)])
def test_feature_dimension_and_cifar_stem(name: str, dim: int) -> None:
    model = build_backbone(name)
    assert model.feature_dim == dim
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    if name != "resnet50":  # a ResNet-50 forward costs seconds on a CPU; shapes are checked on the others
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, dim)


def test_block_names_address_real_modules_in_order() -> None:
    model = build_backbone("resnet18")
    names = model.block_names()
    assert names[0] == "relu" and names[-1] == "layer4.1" and len(names) == 9
    modules = dict(model.named_modules())
    assert all(name in modules for name in names)


def test_normalisation_lives_inside_the_model() -> None:
    normalised, raw = build_backbone("resnet_tiny"), build_backbone("resnet_tiny", normalize=False)
    raw.load_state_dict({k: v for k, v in normalised.state_dict().items() if not k.startswith("normalize")})
    x = torch.rand(2, 3, 32, 32)
    normalised.eval(), raw.eval()
    mean = normalised.normalize.mean
    std = normalised.normalize.std
    assert torch.allclose(normalised(x), raw((x - mean) / std), atol=1e-5)


def test_unknown_backbone_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_backbone("vgg16")
    message = str(info.value)
    assert "backbone" in message and all(name in message for name in BACKBONES)
    assert "\n" not in message


def test_projection_head_shapes_and_validation() -> None:
    head = build_projection_head(128, hidden_dim=64, output_dim=32)
    assert head(torch.rand(4, 128)).shape == (4, 32)
    with pytest.raises(ConfigError, match="output_dim"):
        build_projection_head(128, output_dim=0)


def test_backbone_width_scales_every_stage_and_keeps_the_block_structure() -> None:
    standard, narrow = build_backbone("resnet18"), build_backbone("resnet18", width=16)
    assert narrow.feature_dim == 128 and narrow(torch.rand(2, 3, 32, 32)).shape == (2, 128)
    assert narrow.block_names() == standard.block_names()
    assert [narrow.layer1[0].conv1.out_channels, narrow.layer4[0].conv1.out_channels] == [16, 128]
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in standard.parameters()) / 10
    assert build_backbone("resnet50", width=16).feature_dim == 512
    assert build_backbone("resnet18", width=64).feature_dim == 512  # 64 is torchvision's own network


@pytest.mark.parametrize("name,width", [("resnet18", 0), ("resnet18", 10), ("resnet18", "16"), ("resnet_tiny", 16)])
def test_bad_backbone_width_is_refused(name: str, width: object) -> None:
    with pytest.raises(ConfigError, match="backbone_width"):
        build_backbone(name, width=width)


def test_fine_tuning_takes_the_width_of_its_checkpoint(tmp_path) -> None:  # noqa: ANN001
    import lightning as L

    from cl_robust.methods import FineTune, SimCLR

    pretrained = SimCLR(backbone="resnet18", backbone_width=8, projection_dim=16)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(pretrained)
    trainer.save_checkpoint(tmp_path / "cl.ckpt")
    probe = FineTune(pretrained_checkpoint=str(tmp_path / "cl.ckpt"))
    assert probe.encoder.layer1[0].conv1.out_channels == 8
    assert probe.checkpoint_metadata()["backbone_width"] == 8
    assert torch.equal(probe.encoder.conv1.weight, pretrained.encoder.conv1.weight)
