"""Models the library did not define: built from a spec, their head removed, behind our normalisation.

A spec names where a module comes from:

- ``package.module:callable`` - any importable function or class returning an ``nn.Module``,
  called with keyword arguments (``backbone_args`` / ``--model_args``);
- ``torchvision:NAME`` - ``torchvision.models.get_model(NAME, weights=None, **args)`` (built
  offline, random weights);
- ``timm:NAME`` - ``timm.create_model(NAME, pretrained=False, **args)`` (timm is the optional
  extra ``cl_robust[timm]``).

As a backbone the classification head is removed (torchvision: ``fc``, ``classifier`` or
``heads`` replaced by ``nn.Identity``; timm: ``num_classes=0``, which returns pooled features) and
the feature width D is read from the removed head, from timm's ``num_features``, from a
``feature_dim`` / ``num_features`` attribute of the module, or else from one forward pass of two
images. :class:`ForeignModel` puts the library's input normalisation in front of such a module,
so inputs stay in [0, 1] and attacks work in pixel space.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from cl_robust.errors import ConfigError

#: Prefixes of the specs built by another library rather than imported from a module.
LIBRARIES: tuple[str, ...] = ("torchvision", "timm")
#: Attribute names of torchvision classifiers' heads (ResNets, VGG / MobileNet / EfficientNet, ViT).
TORCHVISION_HEADS: tuple[str, ...] = ("fc", "classifier", "heads", "head")
#: Square image sizes tried, in order, when the feature width must be found by a forward pass.
PROBE_SIZES: tuple[int, ...] = (32, 64, 96, 224)
SPEC_FORMS = "'package.module:callable', 'torchvision:NAME' or 'timm:NAME'"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def is_spec(value: object) -> bool:
    """Whether ``value`` is written as a spec (``something:name``) rather than a registered name."""
    return isinstance(value, str) and ":" in value


def import_callable(path: str, option: str) -> Callable[..., Any]:
    """The object ``package.module:attribute`` names (attributes may be dotted); ConfigError naming ``option``."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute or " " in path:
        raise ConfigError(f"{option} must be {SPEC_FORMS}; got {path!r}")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or whatever the module raises while it is imported
        raise ConfigError(f"{option}: cannot import {module_name!r} from {path!r} ({_first_line(error)}); "
                          "is the package installed or on PYTHONPATH?") from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [name for name in dir(found) if not name.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{option}: {module_name!r} has no attribute {attribute!r} ({path!r}){hint}")
        found = getattr(found, part)
    if not callable(found):
        raise ConfigError(f"{option}: {path!r} is not callable (an object of type {type(found).__name__}); name a "
                          "function or class that returns an nn.Module")
    return found


def _call(builder: Callable[..., Any], spec: str, args: Mapping[str, Any], option: str, args_option: str) -> nn.Module:
    try:
        module = builder(**args)
    except TypeError as error:
        raise ConfigError(f"{args_option}: {spec!r} does not take {dict(args)!r} ({_first_line(error)})") from None
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"{option}: building {spec!r} failed ({_first_line(error)})") from None
    if not isinstance(module, nn.Module):
        raise ConfigError(f"{option}: {spec!r} returned an object of type {type(module).__name__}, not an nn.Module "
                          "(torch.nn.Module)")
    return module


def build_module(spec: str, args: Mapping[str, Any] | None = None, option: str = "backbone",
                 args_option: str = "backbone_args", features_only: bool = False) -> nn.Module:
    """The module ``spec`` names, built with ``args``; with ``features_only`` a timm model has no head."""
    args = dict(args or {})
    library, _, name = spec.partition(":")
    if library == "torchvision":
        import torchvision

        available = torchvision.models.list_models()
        if name not in available:
            close = difflib.get_close_matches(name, available, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{option}: torchvision has no model {name!r} ({spec!r}){hint}")
        return _call(lambda **kw: torchvision.models.get_model(name, weights=None, **kw), spec, args, option,
                     args_option)
    if library == "timm":
        try:
            import timm
        except ImportError:
            raise ConfigError(f"{option}: {spec!r} needs timm, which is not installed; "
                              "pip install 'cl_robust[timm]' (or pip install timm)") from None
        if not timm.is_model(name):
            close = difflib.get_close_matches(name, timm.list_models(), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{option}: timm has no model {name!r} ({spec!r}){hint}")
        if features_only:
            args.setdefault("num_classes", 0)
        return _call(lambda **kw: timm.create_model(name, pretrained=False, **kw), spec, args, option, args_option)
    return _call(import_callable(spec, option), spec, args, option, args_option)


def _head_width(head: nn.Module) -> int | None:
    """Input width of a classification head (a linear layer, or the first one of a sequence)."""
    for module in head.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
    return None


def remove_head(spec: str, module: nn.Module) -> int | None:
    """Replace a torchvision classifier's head by ``nn.Identity`` (in place); returns its input width."""
    if not spec.startswith("torchvision:"):
        return None
    for name in TORCHVISION_HEADS:
        head = getattr(module, name, None)
        if isinstance(head, nn.Module):
            setattr(module, name, nn.Identity())
            return _head_width(head)
    return None


def declared_width(module: nn.Module) -> int | None:
    """The feature width a module states: timm's ``num_features``, or a ``feature_dim`` attribute."""
    for attribute in ("feature_dim", "num_features"):
        value = getattr(module, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def forward_shape(module: nn.Module, image_size: int, channels: int = 3,
                  call: Callable[[Tensor], Any] | None = None) -> tuple[int, ...]:
    """Output shape of ``module`` (eval mode, no gradients) on two random images; modes restored.

    ``call``: how to run it (default ``module`` itself).
    """
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    modes = {name: child.training for name, child in module.named_modules()}
    module.eval()
    try:
        with torch.no_grad():
            output = (call or module)(torch.rand(2, channels, image_size, image_size, device=device))
    finally:
        for name, child in module.named_modules():
            child.train(modes.get(name, child.training))
    if not isinstance(output, Tensor):
        raise ConfigError(f"returned a {type(output).__name__}, not a tensor")
    return tuple(output.shape)


def check_features(shape: tuple[int, ...], option: str, spec: str, image_size: int) -> int:
    """D of a backbone's output ``shape`` for two images; ConfigError unless it is ``[2, D]``."""
    if len(shape) != 2 or shape[0] != 2:
        raise ConfigError(f"{option}: {spec!r} returns {list(shape)} for 2 images of {image_size}x{image_size}, not "
                          "[N, D] features; end the backbone with pooling and flattening (e.g. nn.Flatten())")
    return int(shape[1])


def probe_width(module: nn.Module, spec: str, option: str = "backbone") -> int:
    """The feature width D from one forward pass, at the first of :data:`PROBE_SIZES` the module accepts."""
    failures = []
    for size in PROBE_SIZES:
        try:
            shape = forward_shape(module, size)
        except ConfigError as error:
            raise ConfigError(f"{option}: {spec!r} {error}") from None
        except Exception as error:  # the module's own error at this size
            failures.append(f"{size}px: {_first_line(error)}")
            continue
        return check_features(shape, option, spec, size)
    raise ConfigError(f"{option}: {spec!r} fails on 2 images of every size tried ({'; '.join(failures[-1:])}); "
                      "give the module a feature_dim attribute or fix its forward")


class ForeignModel(nn.Module):
    """A module from elsewhere behind cl_robust's normalisation: ``net(normalize(x))`` for images in [0, 1].

    ``normalize`` is a :class:`~cl_robust.models.backbones.Normalize` (the data's mean and std) or
    ``nn.Identity`` for a module that normalises inside or expects [0, 1]. ``feature_dim`` is D for a
    backbone (None for a classifier). Hidden layers are named ``net.<the module's own names>``.
    """

    def __init__(self, net: nn.Module, normalize: nn.Module, feature_dim: int | None = None) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net
        self.feature_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))


__all__ = ["ForeignModel", "LIBRARIES", "SPEC_FORMS", "build_module", "check_features", "declared_width",
           "forward_shape", "import_callable", "is_spec", "probe_width", "remove_head"]
