"""Backbones (CIFAR ResNets, optionally with dual BatchNorm) and heads."""

from cl_robust.models.backbones import BACKBONES, CIFARResNet, Normalize, build_backbone
from cl_robust.models.dual_bn import DualBatchNorm2d, bn_branch, has_dual_bn, set_bn_branch
from cl_robust.models.heads import build_projection_head

__all__ = ["BACKBONES", "CIFARResNet", "DualBatchNorm2d", "Normalize", "bn_branch", "build_backbone",
           "build_projection_head", "has_dual_bn", "set_bn_branch"]
