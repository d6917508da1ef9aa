"""Any backbone: a callable spec, torchvision:NAME, timm:NAME or an instance; D found; what cannot apply refused."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cl_robust.errors import ConfigError
from cl_robust.models import ForeignModel, build_backbone, describe_backbone
from cl_robust.models.architecture import architecture_record, rebuild
from cl_robust.models.dual_bn import has_dual_bn


def test_a_callable_spec_is_built_with_its_arguments_and_its_width_found(user_models: str) -> None:
    encoder = build_backbone("user_models:small_encoder", {"width": 4})
    assert isinstance(encoder, ForeignModel) and encoder.feature_dim == 8
    assert encoder(torch.rand(2, 3, 40, 40)).shape == (2, 8)
    assert isinstance(encoder.normalize, nn.Module) and encoder.net[0].out_channels == 4


def test_torchvision_backbone_loses_its_head_and_states_its_width() -> None:
    encoder = build_backbone("torchvision:resnet18")
    assert encoder.feature_dim == 512 and isinstance(encoder.net.fc, nn.Identity)
    assert encoder(torch.rand(2, 3, 64, 64)).shape == (2, 512)


def test_timm_backbone_has_no_head() -> None:
    pytest.importorskip("timm", reason="timm is the optional extra cl_robust[timm]")
    encoder = build_backbone("timm:resnet18")
    assert encoder.feature_dim == 512 and encoder(torch.rand(2, 3, 64, 64)).shape == (2, 512)


def test_an_instance_is_used_as_it_is_and_its_architecture_recorded() -> None:
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    encoder = build_backbone(net, normalize=False)
    assert encoder.net is net and encoder.feature_dim == 6 and isinstance(encoder.normalize, nn.Identity)
    assert describe_backbone(net) == "instance:torch.nn.modules.container.Sequential"
    rebuilt = rebuild(architecture_record(net))
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(rebuilt.eval()(x), net.eval()(x))
    assert len(architecture_record(build_backbone("torchvision:resnet18").net)) < 100_000  # no weights inside


def test_dual_bn_splits_a_foreign_backbones_batchnorms(user_models: str) -> None:
    assert has_dual_bn(build_backbone("user_models:small_encoder", dual_bn=True))


def test_normalisation_uses_the_given_statistics(user_models: str) -> None:
    encoder = build_backbone("user_models:small_encoder", mean=[0.5, 0.4, 0.3], std=[0.1, 0.2, 0.3])
    mean, std = encoder.normalize.statistics()
    assert mean == pytest.approx([0.5, 0.4, 0.3]) and std == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.parametrize(("spec", "options", "needle"), [
    ("nowhere_at_all:net", {}, "cannot import 'nowhere_at_all'"),
    ("user_models:small_encodr", {}, "has no attribute 'small_encodr'"),
    ("user_models:NOT_CALLABLE", {}, "is not callable (an object of type int)"),
    ("user_models:not_a_module", {}, "returned an object of type int, not an nn.Module"),
    ("user_models:feature_maps", {}, "not [N, D] features"),
    ("user_models:small_encoder", {"backbone_args": {"depth": 3}}, "backbone_args: 'user_models:small_encoder' does not take"),
    ("user_models:small_encoder", {"width": 16}, "backbone_width applies to resnet18"),
    ("resnet18", {"backbone_args": {"depth": 3}}, "backbone_args apply to"),
    ("torchvision:resnet_18", {}, "torchvision has no model 'resnet_18'"),
    ("vgg16", {}, "backbone must be one of"),
])
def test_what_cannot_be_built_is_refused_in_one_line(user_models: str, spec: str, options: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_backbone(spec, **options)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_dual_bn_needs_a_batchnorm() -> None:
    with pytest.raises(ConfigError, match="dual_bn: .* has no BatchNorm2d"):
        build_backbone(nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), dual_bn=True)
