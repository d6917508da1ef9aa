"""Speed options for a model: channels_last memory format and ``torch.compile``.

Both leave parameter names and values alone, so checkpoints are unchanged:

- :func:`use_channels_last` stores 4-D weights as NHWC and converts 4-D inputs of the module
  to NHWC on the way in (a forward pre-hook), the layout GPU convolution kernels (cuDNN,
  tensor cores) prefer, above all with bf16 autocast;
- :func:`compile_in_place` calls ``nn.Module.compile`` (the module keeps its class and
  ``state_dict`` keys; ``torch.compile(module)`` would prefix them with ``_orig_mod``).

:class:`FastModel` applies them to a :class:`~cl_robust.methods.base.RobustMethod`'s encoder
(and classifier) in ``setup``, so training steps and attacks both run the fast model. bf16
autocast comes from Lightning: ``Trainer(precision="bf16-mixed")``; attack and contrastive
losses are computed in float32 under it.
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

_HOOK_ATTRIBUTE = "_channels_last_input_hook"


def _to_channels_last(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: the first argument as NHWC when it is a 4-D tensor."""
    if args and isinstance(args[0], Tensor) and args[0].dim() == 4:
        return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
    return args


def use_channels_last(module: nn.Module) -> nn.Module:
    """Store ``module``'s 4-D parameters and buffers as channels_last and feed it NHWC inputs (in place)."""
    module.to(memory_format=torch.channels_last)
    if getattr(module, _HOOK_ATTRIBUTE, None) is None:
        setattr(module, _HOOK_ATTRIBUTE, module.register_forward_pre_hook(_to_channels_last))
    return module


def is_channels_last(module: nn.Module) -> bool:
    """Whether :func:`use_channels_last` was applied to ``module``."""
    return getattr(module, _HOOK_ATTRIBUTE, None) is not None


def compile_in_place(module: nn.Module, **options: Any) -> nn.Module:
    """``module.compile(**options)``: compiled on first call, same class and parameter names."""
    module.compile(**options)
    return module


class FastModel(Callback):
    """Make a cl_robust module's encoder channels_last and/or compiled before training starts.

    Args:
        channels_last: NHWC weights and inputs for the encoder (:func:`use_channels_last`).
        compile: compile the encoder and classifier with ``torch.compile`` (:func:`compile_in_place`).
        compile_mode: ``torch.compile``'s ``mode`` (None, ``"reduce-overhead"``, ``"max-autotune"``).
    """

    def __init__(self, channels_last: bool = True, compile: bool = False, compile_mode: str | None = None) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.compile = compile
        self.compile_mode = compile_mode

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Apply the options once to ``pl_module.encoder`` (and ``classifier`` when compiling)."""
        apply_speed_options(pl_module, self.channels_last, self.compile, self.compile_mode)


def apply_speed_options(module: nn.Module, channels_last: bool = False, compile: bool = False,
                        compile_mode: str | None = None) -> nn.Module:
    """Apply channels_last / compile to ``module.encoder`` (or ``module`` itself when it has none)."""
    encoder = getattr(module, "encoder", module)
    if channels_last and not is_channels_last(encoder):
        use_channels_last(encoder)
    if compile:
        parts = [encoder] + ([module.classifier] if isinstance(getattr(module, "classifier", None), nn.Module) else [])
        for part in parts:
            if getattr(part, "_compiled_call_impl", None) is None:
                compile_in_place(part, mode=compile_mode)
    return module
