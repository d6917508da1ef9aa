"""CIFAR ResNets (He et al. 2016) with the CIFAR stem used by SimCLR's CIFAR experiments.

The ImageNet stem (7x7 conv stride 2 + max-pool) shrinks a 32x32 image to 8x8 before the
first block; CIFAR variants use a 3x3 conv with stride 1 and no max-pool instead (Chen et al.
2020, SimCLR appendix B.9). The blocks come from torchvision; only the stem and the head
change. Inputs are images in [0, 1]; normalisation happens inside the backbone so that
attacks work in pixel space (CIFAR-10's statistics until the data module gives its own).
``dual_bn=True`` gives every BatchNorm a clean and an adversarial branch (ACL, Jiang et al.
2020; :mod:`cl_robust.models.dual_bn`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torchvision
from torch import Tensor, nn

from cl_robust.errors import ConfigError
from cl_robust.models.dual_bn import convert_to_dual_bn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` inside the model, so inputs stay in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def statistics(self) -> tuple[list[float], list[float]]:
        """The per-channel ``(mean, std)`` applied."""
        return self.mean.flatten().tolist(), self.std.flatten().tolist()

    def load_statistics(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Normalise with ``mean`` and ``std`` from now on (one value a channel, std > 0)."""
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != len(std) or not mean or min(std) <= 0:
            raise ConfigError(f"normalisation needs one mean and one std > 0 a channel; got mean {mean}, std {std}")
        self.mean = torch.tensor(mean, dtype=self.mean.dtype, device=self.mean.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=self.std.dtype, device=self.std.device).view(1, -1, 1, 1)


class CIFARResNet(nn.Module):
    """A torchvision ResNet (or, with ``depth=0``, a one-block-per-stage narrow ResNet for tests) with a CIFAR stem; ``forward`` returns pooled features [N, feature_dim].

    Hidden layers keep torchvision's names (``conv1``, ``layer1.0``, ..., ``layer4.1``,
    ``avgpool``), so analysis code addresses them by name; :meth:`block_names` lists the
    residual-block outputs, the usual choice for layer-to-layer CKA.
    """

    def __init__(self, depth: int = 18, normalize: bool = True,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
                 width: int | None = None, dual_bn: bool = False) -> None:
        super().__init__()
        if depth not in _TORCHVISION_RESNETS:
            raise ConfigError(f"backbone depth must be one of {sorted(_TORCHVISION_RESNETS)}, got {depth}")
        check_width(width, depth)
        net = _scaled_resnet(depth, width) if width not in (None, STANDARD_WIDTH) else _TORCHVISION_RESNETS[depth](weights=None)
        stem_width = net.conv1.out_channels
        self.depth = depth
        self.width = width
        self.normalize = Normalize(mean, std) if normalize else nn.Identity()
        self.conv1 = nn.Conv2d(3, stem_width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = net.bn1
        self.relu = net.relu
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.avgpool = net.avgpool
        self.feature_dim: int = net.fc.in_features
        self.dual_bn = bool(dual_bn)
        if self.dual_bn:
            convert_to_dual_bn(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def block_names(self) -> list[str]:
        """Names of the stem and of every residual block's output, input to output order."""
        names = ["relu"]  # the stem's output (the shared relu is called once by the stem itself)
        for stage in ("layer1", "layer2", "layer3", "layer4"):
            names += [f"{stage}.{i}" for i in range(len(getattr(self, stage)))]
        return names


STANDARD_WIDTH = 64
"""Channels of the first stage of torchvision's ResNets (64, 128, 256, 512 through the stages)."""


def check_width(width: int | None, depth: int) -> None:
    """Refuse a base width that is not a positive multiple of 4, or one given to ``resnet_tiny``."""
    if width is None:
        return
    if isinstance(width, bool) or not isinstance(width, int) or width < 4 or width % 4:
        raise ConfigError(f"backbone_width must be an integer >= 4 and a multiple of 4 (64 is the standard "
                          f"ResNet; 16 a quarter of its channels), or null; got {width!r}")
    if depth == 0:
        raise ConfigError("backbone_width applies to resnet18, resnet34 and resnet50; resnet_tiny has fixed "
                          "widths (16, 32, 64, 128); leave backbone_width null")


def _scaled_resnet(depth: int, width: int) -> torchvision.models.ResNet:
    """A torchvision ResNet-18/34/50 whose stages have ``width``, 2x, 4x and 8x channels (standard: 64).

    torchvision fixes the widths of its BasicBlock ResNets at 64 .. 512, so the stages are rebuilt
    with torchvision's own ``_make_layer`` and initialised as torchvision initialises them
    (Kaiming-normal convolutions, BatchNorm weight 1 and bias 0): the same blocks and block
    names, a quarter of the channels at ``width=16`` (about 1/16 of the multiply-adds).
    """
    net = _TORCHVISION_RESNETS[depth](weights=None)
    block = type(net.layer1[0])
    counts = [len(getattr(net, f"layer{i}")) for i in range(1, 5)]
    net.inplanes = width
    net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    for index, count in enumerate(counts):
        setattr(net, f"layer{index + 1}", net._make_layer(block, width * 2**index, count, stride=1 if index == 0 else 2))
    net.fc = nn.Linear(width * 8 * block.expansion, 1)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return net


def _narrow_resnet(weights: None = None) -> torchvision.models.ResNet:
    """ResNet with one BasicBlock per stage and widths 16/32/64/128: seconds, not minutes, on a CPU."""
    net = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    widths, inplanes = (16, 32, 64, 128), 16
    net.conv1 = nn.Conv2d(3, inplanes, 3, 1, 1, bias=False)
    net.bn1 = nn.BatchNorm2d(inplanes)
    for i, width in enumerate(widths):
        stride = 1 if i == 0 else 2
        downsample = None
        if stride != 1 or inplanes != width:
            downsample = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride, bias=False), nn.BatchNorm2d(width))
        block = torchvision.models.resnet.BasicBlock(inplanes, width, stride, downsample)
        setattr(net, f"layer{i + 1}", nn.Sequential(block))
        inplanes = width
    net.fc = nn.Linear(inplanes, 1)
    return net


_TORCHVISION_RESNETS: dict[int, Callable[..., nn.Module]] = {
    0: _narrow_resnet,
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
}

BACKBONES: dict[str, Callable[..., CIFARResNet]] = {
    "resnet_tiny": lambda **kw: CIFARResNet(0, **kw),
    "resnet18": lambda **kw: CIFARResNet(18, **kw),
    "resnet34": lambda **kw: CIFARResNet(34, **kw),
    "resnet50": lambda **kw: CIFARResNet(50, **kw),
}


def build_backbone(name: str, **options: object) -> CIFARResNet:
    """Build a registered backbone by name (``resnet18``, ``resnet34``, ``resnet50``, and ``resnet_tiny`` for tests).

    :func:`cl_robust.models.factory.build_backbone` also builds any other module (a callable,
    ``torchvision:NAME``, ``timm:NAME``, an instance); this function knows the library's own ResNets.

    ``options`` go to :class:`CIFARResNet` (``normalize``, ``width``: base width of ResNet-18/34/50,
    ``dual_bn``: a clean and an adversarial branch in every BatchNorm).
    """
    if name not in BACKBONES:
        raise ConfigError(f"backbone must be one of {', '.join(map(repr, BACKBONES))}; got {name!r}")
    return BACKBONES[name](**options)
