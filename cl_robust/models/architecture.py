"""The architecture of an ``nn.Module`` instance, without its weights, so a checkpoint can rebuild it.

A backbone given as an instance (``SimCLR(backbone=my_net)``) has no spec to call again. The
checkpoint keeps a pickled copy of the module whose parameters and persistent buffers are on the
``meta`` device (shapes only, no storage: a few kilobytes whatever the model's size); its
non-persistent buffers (which no state dict holds) keep their values. :func:`rebuild` turns the
meta tensors back into real (uninitialised) tensors, which the checkpoint's state dict then fills.
Unpickling needs the module's class importable, as ``torch.save(model)`` does.
"""

from __future__ import annotations

import copy
import io

import torch
from torch import nn

from cl_robust.errors import ConfigError

#: Where a checkpoint keeps the record (beside the ``cl_robust`` metadata, which stays JSON-friendly).
ARCHITECTURE_KEY = "cl_robust_architecture"
#: How a checkpoint's metadata names a backbone given as an instance: ``instance:<module>.<class>``.
INSTANCE_PREFIX = "instance:"


def class_path(module: nn.Module) -> str:
    """``package.module.Class`` of ``module``."""
    kind = type(module)
    return f"{kind.__module__}.{kind.__qualname__}"


def _swap_state(module: nn.Module, device: str | torch.device) -> None:
    """Parameters and persistent buffers of every submodule as empty tensors on ``device`` (in place)."""
    for child in module.modules():
        for name, parameter in list(child._parameters.items()):
            if parameter is not None:
                child._parameters[name] = nn.Parameter(torch.empty_like(parameter, device=device),
                                                       requires_grad=parameter.requires_grad)
        for name, buffer in list(child._buffers.items()):
            if buffer is not None and name not in child._non_persistent_buffers_set:
                child._buffers[name] = torch.empty_like(buffer, device=device)


def architecture_record(module: nn.Module) -> bytes:
    """A pickled copy of ``module`` with its weights left out (meta tensors)."""
    skeleton = copy.deepcopy(module)
    _swap_state(skeleton, "meta")
    buffer = io.BytesIO()
    torch.save(skeleton, buffer)
    return buffer.getvalue()


def rebuild(record: bytes, option: str = "checkpoint") -> nn.Module:
    """The module of :func:`architecture_record`, with uninitialised CPU tensors to be filled by a state dict."""
    try:
        skeleton = torch.load(io.BytesIO(record), map_location="cpu", weights_only=False)
    except Exception as error:  # the class moved, or cannot be imported here
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{option}: the backbone's class cannot be rebuilt here ({type(error).__name__}: {message}); "
                          "make it importable (PYTHONPATH), or train with backbone 'package.module:callable'") from None
    if not isinstance(skeleton, nn.Module):
        raise ConfigError(f"{option}: the recorded backbone architecture is a {type(skeleton).__name__}, not a module")
    _swap_state(skeleton, "cpu")
    return skeleton


__all__ = ["ARCHITECTURE_KEY", "INSTANCE_PREFIX", "architecture_record", "class_path", "rebuild"]
