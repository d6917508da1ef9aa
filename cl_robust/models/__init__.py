"""Backbones (CIFAR ResNets, optionally with dual BatchNorm; any other module through the factory) and heads."""

from cl_robust.models.backbones import BACKBONES, CIFARResNet, Normalize
from cl_robust.models.dual_bn import DualBatchNorm2d, bn_branch, has_dual_bn, set_bn_branch
from cl_robust.models.factory import build_backbone, check_backbone_spec, describe_backbone
from cl_robust.models.foreign import ForeignModel
from cl_robust.models.heads import build_projection_head

__all__ = ["BACKBONES", "CIFARResNet", "DualBatchNorm2d", "ForeignModel", "Normalize", "bn_branch", "build_backbone",
           "build_projection_head", "check_backbone_spec", "describe_backbone", "has_dual_bn", "set_bn_branch"]
