"""One function from a backbone spec to an encoder, whatever the backbone's origin.

``backbone`` may be:

- a registered name (``resnet_tiny``, ``resnet18``, ``resnet34``, ``resnet50``): the library's
  CIFAR ResNets (:mod:`cl_robust.models.backbones`), which take ``backbone_width`` and ``dual_bn``;
- a spec of :mod:`cl_robust.models.foreign` (``package.module:callable``, ``torchvision:NAME``,
  ``timm:NAME``) with ``backbone_args``: built, its classification head removed, wrapped in a
  :class:`~cl_robust.models.foreign.ForeignModel` that normalises its inputs;
- an ``nn.Module`` instance (Python only), wrapped the same way; a checkpoint records its
  architecture (:mod:`cl_robust.models.architecture`).

Every encoder maps images in [0, 1] to features ``[N, D]``, has ``feature_dim`` (D, found without
the user stating it) and ``normalize``: the data's per-channel mean and std (``normalize=True``)
or ``nn.Identity`` for a backbone that normalises inside or expects [0, 1] (``normalize=False``).
In the spirit of ``timm.create_model``: solo-learn's users must edit a registry to add a backbone
(its issue 237); here any module goes in, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from cl_robust.errors import ConfigError
from cl_robust.models.architecture import INSTANCE_PREFIX, class_path
from cl_robust.models.backbones import BACKBONES, CIFAR10_MEAN, CIFAR10_STD, Normalize
from cl_robust.models.backbones import build_backbone as build_registered
from cl_robust.models.dual_bn import convert_to_dual_bn, has_dual_bn
from cl_robust.models.foreign import (
    SPEC_FORMS,
    ForeignModel,
    build_module,
    declared_width,
    is_spec,
    probe_width,
    remove_head,
)

Backbone = str | nn.Module


def describe_backbone(backbone: Backbone) -> str:
    """What a checkpoint records as the backbone: its name or spec, or ``instance:<class>`` for a module."""
    if isinstance(backbone, nn.Module):
        return INSTANCE_PREFIX + class_path(backbone)
    return backbone


def is_registered(backbone: Backbone) -> bool:
    """Whether ``backbone`` is one of the library's own CIFAR ResNets (by name)."""
    return isinstance(backbone, str) and backbone in BACKBONES


def check_backbone_spec(backbone: object, option: str = "backbone") -> None:
    """ConfigError unless ``backbone`` is written as a registered name, a spec or a module (nothing is built)."""
    if isinstance(backbone, nn.Module) or is_registered(backbone) or is_spec(backbone):
        if isinstance(backbone, str) and backbone.startswith(INSTANCE_PREFIX):
            raise ConfigError(f"{option}: {backbone!r} was given as an nn.Module instance when it was trained; pass "
                              "that module (backbone=...) or read the checkpoint with cl_robust.commands.checkpoint"
                              ".load_classifier, which rebuilds it from the checkpoint")
        return
    raise ConfigError(f"{option} must be one of {', '.join(map(repr, BACKBONES))}, {SPEC_FORMS} (or an nn.Module "
                      f"in Python); got {backbone!r}")


def _check_args(backbone: Backbone, backbone_args: Mapping[str, Any] | None) -> dict[str, Any]:
    if backbone_args is None:
        return {}
    if not isinstance(backbone_args, Mapping) or not all(isinstance(key, str) for key in backbone_args):
        raise ConfigError(f"backbone_args must be a mapping of keyword arguments, got {backbone_args!r}")
    if backbone_args and not is_spec(backbone):
        what = "an nn.Module instance, already built" if isinstance(backbone, nn.Module) else (
            f"{backbone!r}, which takes backbone_width and dual_bn")
        raise ConfigError(f"backbone_args apply to {SPEC_FORMS} backbones; the backbone is {what}; "
                          "leave backbone_args empty")
    return dict(backbone_args)


def build_backbone(backbone: Backbone, backbone_args: Mapping[str, Any] | None = None, normalize: bool = True,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   width: int | None = None, dual_bn: bool = False) -> nn.Module:
    """The encoder ``backbone`` names (see the module docstring); ConfigError (one line) for what cannot apply.

    ``mean`` / ``std``: the normalisation's statistics (default CIFAR-10's, replaced by the data
    module's when training starts unless given); ``width``: base width of the registered ResNets only;
    ``dual_bn``: a clean and an adversarial branch in every BatchNorm (needs BatchNorm layers).
    """
    check_backbone_spec(backbone)
    args = _check_args(backbone, backbone_args)
    if not normalize and (mean is not None or std is not None):
        raise ConfigError("mean and std apply when the encoder normalises its inputs (normalize: true); with "
                          "normalize: false leave them unset")
    mean, std = tuple(mean or CIFAR10_MEAN), tuple(std or CIFAR10_STD)
    if is_registered(backbone):
        return build_registered(backbone, normalize=normalize, mean=mean, std=std, width=width, dual_bn=dual_bn)
    described = describe_backbone(backbone)
    if width is not None:
        raise ConfigError(f"backbone_width applies to resnet18, resnet34 and resnet50; {described!r} is built by its "
                          "own code: leave backbone_width null (give its size through backbone_args)")
    if isinstance(backbone, nn.Module):
        net, width_found = backbone, None
    else:
        net = build_module(backbone, args, features_only=True)
        width_found = remove_head(backbone, net)
    feature_dim = width_found or declared_width(net) or probe_width(net, described)
    encoder = ForeignModel(net, Normalize(mean, std) if normalize else nn.Identity(), feature_dim)
    if dual_bn:
        convert_to_dual_bn(encoder.net)
        if not has_dual_bn(encoder.net):
            raise ConfigError(f"dual_bn: {described!r} has no BatchNorm2d layer to split into a clean and an "
                              "adversarial branch; set dual_bn false")
    return encoder


__all__ = ["Backbone", "build_backbone", "check_backbone_spec", "describe_backbone", "is_registered"]
