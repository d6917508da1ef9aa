"""A classifier from elsewhere for ``evaluate`` and ``analyze``: ``--model SPEC [--model_args ...] [--weights FILE]``.

The model maps images in [0, 1] to logits ``[N, classes]`` (it normalises inside, as RobustBench's
models do), or, with ``--normalize``, gets them normalised with the data's mean and std first. It
is built from its spec (:mod:`cl_robust.models.foreign`: ``package.module:callable``,
``torchvision:NAME``, ``timm:NAME``; the head is kept) and loaded strictly from ``--weights``: a
state dict as saved by ``torch.save(model.state_dict())``, also wrapped under ``state_dict``,
``model_state_dict``, ``model`` or ``net`` (RobustBench and common training scripts) and with
``module.`` prefixes (saved from ``DataParallel``). Every key must fit: missing and unexpected
keys and shape differences are named. Its untrained baseline is the same callable with the same
arguments, called again under the seed (:func:`cl_robust.analysis.baseline.untrained_copy`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import yaml
from torch import Tensor, nn

from cl_robust.commands.checkpoint import LoadedClassifier
from cl_robust.errors import ConfigError
from cl_robust.models.backbones import Normalize
from cl_robust.models.foreign import ForeignModel, build_module, forward_shape

#: Keys under which training scripts and RobustBench wrap a state dict, tried in this order.
WRAPPER_KEYS: tuple[str, ...] = ("state_dict", "model_state_dict", "model", "net")
#: Prefixes a state dict's keys get from wrappers: DataParallel / DistributedDataParallel, torch.compile.
KEY_PREFIXES: tuple[str, ...] = ("module.", "_orig_mod.")
_SHOWN = 3


def parse_model_args(text: str | None, option: str = "model_args") -> dict[str, Any]:
    """``--model_args`` as keyword arguments: a JSON or YAML mapping such as ``'{"num_classes": 10}'``."""
    if text is None or not text.strip():
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ConfigError(f"{option} must be a mapping of keyword arguments such as '{{\"num_classes\": 10}}' "
                          f"(JSON or YAML); got {text!r}")
    return value


def _is_state_dict(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(key, str) and isinstance(tensor, Tensor) for key, tensor in value.items())


def unwrap_state_dict(content: object, path: str, option: str = "weights") -> dict[str, Tensor]:
    """The state dict in a loaded weights file: itself, or under one of :data:`WRAPPER_KEYS`; prefixes removed."""
    state = content
    if not _is_state_dict(state) and isinstance(content, Mapping):
        state = next((content[key] for key in WRAPPER_KEYS if _is_state_dict(content.get(key))), None)
    if not _is_state_dict(state):
        keys = list(content)[:5] if isinstance(content, Mapping) else []
        raise ConfigError(f"{option}: {path!r} holds no state dict (a mapping of names to tensors, also accepted under "
                          f"{', '.join(map(repr, WRAPPER_KEYS))}); found {type(content).__name__}"
                          + (f" with keys {keys}" if keys else ""))
    assert isinstance(state, Mapping)
    names = dict(state)
    for prefix in KEY_PREFIXES:
        if all(key.startswith(prefix) for key in names):
            names = {key[len(prefix):]: value for key, value in names.items()}
    return names


def read_weights(path: str, option: str = "weights") -> dict[str, Tensor]:
    """Load ``path`` (a ``torch.save`` file) and return its state dict (see :func:`unwrap_state_dict`)."""
    if not os.path.isfile(path):
        raise ConfigError(f"{option}: no such file {path!r} (give a state dict saved with torch.save)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a file with more than tensors (numpy arrays, argparse namespaces): the user's own file
        try:
            content = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:
            text = str(error).strip().splitlines()
            raise ConfigError(f"{option}: {path!r} is not a readable torch file ({type(error).__name__}: "
                              f"{text[0] if text else 'no detail'})") from None
    return unwrap_state_dict(content, path, option)


def _listed(keys: list[str]) -> str:
    shown = ", ".join(map(repr, keys[:_SHOWN]))
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def load_weights_strictly(module: nn.Module, state: Mapping[str, Tensor], path: str, spec: str,
                          option: str = "weights") -> None:
    """Load ``state`` into ``module``; ConfigError naming missing, unexpected and differently shaped keys."""
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [f"{key!r} ({list(state[key].shape)} in the file, {list(expected[key].shape)} in the model)"
              for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or shapes:
        parts = ([f"missing {len(missing)} ({_listed(missing)})"] if missing else []) + (
            [f"unexpected {len(unexpected)} ({_listed(unexpected)})"] if unexpected else []) + (
            [f"shapes differ for {len(shapes)}: {', '.join(shapes[:_SHOWN])}"] if shapes else [])
        raise ConfigError(f"{option}: {path!r} does not fit {spec!r}: {'; '.join(parts)}; give the weights of this "
                          "architecture (or the --model_args it was built with)")
    module.load_state_dict(state, strict=True)


def check_logits(model: nn.Module, image_size: int, num_classes: int, what: str, option: str) -> None:
    """ConfigError unless ``model`` maps images of the data's size to ``[N, num_classes]`` logits."""
    try:
        shape = forward_shape(model, image_size)
    except ConfigError as error:
        raise ConfigError(f"{option}: {what} {error}") from None
    except Exception as error:  # the model's own error at this size
        text = str(error).strip().splitlines()
        raise ConfigError(f"{option}: {what} fails on the data's images (3x{image_size}x{image_size}): "
                          f"{type(error).__name__}: {text[0] if text else ''}") from None
    if len(shape) != 2 or shape[1] != num_classes:
        raise ConfigError(f"{option}: {what} returns {list(shape)} for 2 images but the data has {num_classes} "
                          "classes: the model must return logits [N, classes] (e.g. --model_args "
                          f"'{{\"num_classes\": {num_classes}}}' for torchvision and timm models)")


def load_foreign_classifier(spec: str, model_args: Mapping[str, Any] | None, weights: str | None,
                            normalization: Any | None, image_size: int, num_classes: int,
                            option: str = "model") -> LoadedClassifier:
    """The classifier ``spec`` names, with ``weights``, checked on the data; ``normalization``: the data's
    :class:`~cl_robust.data.normalization.Normalization` when the model expects normalised inputs (None: [0, 1])."""
    args = dict(model_args or {})
    prefix = "" if option == "model" else f"{option}_"

    def fresh() -> nn.Module:
        built = build_module(spec, args, option=option, args_option=f"{prefix}model_args")
        if normalization is None:
            return built
        return ForeignModel(built, Normalize(normalization.mean, normalization.std))

    model = fresh()
    if weights is not None:
        inner = model.net if isinstance(model, ForeignModel) else model
        load_weights_strictly(inner, read_weights(weights, f"{prefix}weights"), weights, spec, f"{prefix}weights")
    model.eval()
    check_logits(model, image_size, num_classes, repr(spec), option)
    metadata: dict[str, Any] = {
        "scheme": None, "model": spec, "model_args": args, "weights": weights, "num_classes": num_classes,
        "normalize": normalization is not None, "image_size": image_size,
        "normalization": normalization.record() if normalization is not None else None,
    }
    note = None if weights is not None else "no --weights given: the model's weights are as its callable initialised them"
    return LoadedClassifier(model=model, metadata=metadata, path=weights or spec, note=note, fresh=fresh)


__all__ = ["KEY_PREFIXES", "WRAPPER_KEYS", "check_logits", "load_foreign_classifier",
           "load_weights_strictly", "parse_model_args", "read_weights", "unwrap_state_dict"]
