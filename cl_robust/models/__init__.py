"""Backbones (CIFAR ResNets) and heads."""

from cl_robust.models.backbones import BACKBONES, CIFARResNet, Normalize, build_backbone
from cl_robust.models.heads import build_projection_head

__all__ = ["BACKBONES", "CIFARResNet", "Normalize", "build_backbone", "build_projection_head"]
