"""What a scheme accepts as input, checked before training: the data's normalisation, image size and batches.

The contract (README, "Your own model"): batches are ``(images, labels)`` (or ``(images, labels,
labelled mask)``) from any ``LightningDataModule`` or ``DataLoader``; images are ``[B, C, S, S]``,
uint8 in [0, 255] or float in [0, 1], any square size ``S``; labels are integer class indices.
The encoder normalises with the data module's per-channel mean and std (``normalization()``, see
:mod:`cl_robust.data.normalization`) unless the model was given its own or normalises inside
(``normalize: false``).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor, nn

from cl_robust.errors import ConfigError
from cl_robust.models.backbones import Normalize
from cl_robust.models.foreign import check_features, forward_shape

#: Where the normalisation's statistics come from before a data module gives its own.
DEFAULT_SOURCE = "CIFAR-10's statistics (no data module has given its own)"
GIVEN_SOURCE = "given (model mean and std)"


@rank_zero_only
def announce(message: str) -> None:
    """One line on stderr (rank 0 only)."""
    print(f"cl-robust: {message}", file=sys.stderr, flush=True)


def data_normalization(encoder: nn.Module, datamodule: Any, described: str) -> str | None:
    """Make ``encoder.normalize`` use the data module's mean and std; returns their source (None if it has none).

    A data module without ``normalization()`` (not one of cl_robust's) leaves CIFAR-10's statistics
    in place, which is announced in one line: pass ``mean`` and ``std`` to the model to choose.
    """
    normalize = getattr(encoder, "normalize", None)
    if not isinstance(normalize, Normalize):
        return None
    statistics = getattr(datamodule, "normalization", None)
    if not callable(statistics):
        announce(f"normalize: the data ({type(datamodule).__name__ if datamodule is not None else 'a DataLoader'}) "
                 f"gives no mean and std; the {described!r} encoder normalises with CIFAR-10's; give the model mean "
                 "and std to choose others, or normalize: false for a backbone that normalises inside")
        return None
    normalization = statistics()
    normalize.load_statistics(normalization.mean, normalization.std)
    return normalization.source


def _plain_call(module: nn.Module) -> Any:
    """The module's uncompiled call: checking shapes must not trigger a ``torch.compile`` of an eval-mode graph."""
    # nn.Module.compile keeps the module and routes __call__ through _compiled_call_impl; _call_impl is the plain one.
    return module._call_impl if getattr(module, "_compiled_call_impl", None) is not None else module


def check_encoder(encoder: nn.Module, described: str, feature_dim: int, image_size: int, channels: int) -> None:
    """ConfigError unless ``encoder`` maps ``channels`` x ``image_size`` x ``image_size`` images to ``[N, feature_dim]``."""
    try:
        shape = forward_shape(encoder, image_size, channels, call=_plain_call(encoder))
    except ConfigError as error:
        raise ConfigError(f"backbone: {described!r} {error}") from None
    except Exception as error:  # the backbone's own error at the data's size
        text = str(error).strip().splitlines()
        raise ConfigError(f"backbone: {described!r} fails on the data's images ({channels}x{image_size}x{image_size}): "
                          f"{type(error).__name__}: {text[0] if text else ''}; choose a backbone for this image size "
                          "(backbone_args, e.g. img_size for a timm ViT) or resize the data") from None
    width = check_features(shape, "backbone", described, image_size)
    if width != feature_dim:
        raise ConfigError(f"backbone: {described!r} returns {width} features for {image_size}x{image_size} images but "
                          f"{feature_dim} when its width was found; its output must not depend on the image size "
                          "(end it with global pooling)")


def check_images(images: Any, labels: Any) -> None:
    """ConfigError unless a batch keeps the contract: images ``[B, C, S, S]`` uint8 or float in [0, 1], integer labels.

    Reads the float range back from the device, so it runs on the first batch only.
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        shape = list(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ConfigError(f"images: batches must hold square images [B, C, S, S] (uint8, or float in [0, 1]); got "
                          f"{shape}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ConfigError(f"images: batches must be uint8 (0-255) or float in [0, 1]; got {images.dtype}")
    if images.is_floating_point() and images.numel():
        low, high = torch.aminmax(images.detach())
        if float(low) < 0 or float(high) > 1:
            raise ConfigError(f"images: float images must lie in [0, 1] (the model normalises them itself); got values "
                              f"from {float(low):.3g} to {float(high):.3g}; do not normalise in the data")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point() or len(labels) != len(images):
        what = f"{labels.dtype} {list(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
        raise ConfigError(f"labels: batches must hold one integer class index an image; got {what} for "
                          f"{len(images)} images")


__all__ = ["DEFAULT_SOURCE", "GIVEN_SOURCE", "announce", "check_encoder", "check_images", "data_normalization"]
