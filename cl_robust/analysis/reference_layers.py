"""The reference study's layer set: every named module, recorded the way ``torch_cka`` records it.

The reference study computed its layer x layer CKA with ``torch_cka.CKA`` (Subramanian, "PyTorch
Model Compare", 2021) without a layer list, so every module of ``model.named_modules()`` was
hooked and its redundancy figure is the mean of that whole matrix, diagonal included. Three
properties of ``torch_cka``'s hooks decide what each row of that matrix holds, and are kept here:

- **every module, containers and the model itself included** (the root's output, the logits,
  repeats the last layer's): nothing is left out, in the order in which the modules first
  return during a forward (a block after the layers inside it);
- **one record per module**: a module that runs several times in one forward (torchvision's
  BasicBlock applies its one ReLU twice) keeps its *last* output, at the place of its first;
- **references, not copies**: ``torch_cka`` keeps the tensor a module returned, so in-place
  operations later in the forward change the record. In torchvision's blocks ``bn1``'s record
  is therefore its output after the in-place ReLU, and ``bn2``'s the block output after the
  shortcut addition and the ReLU.

Modules that do not run in the forward (a projection head) are left out: ``torch_cka`` cannot
use them (their empty rows make its matrix NaN). Our own ``blocks`` selection
(:func:`~cl_robust.analysis.layer_selection.resolve_layers`) records copies of block outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from cl_robust.analysis.layers import first_tensor
from cl_robust.errors import ConfigError

REFERENCE = "reference"
#: How the model itself (``named_modules()``'s empty name) appears in layer lists.
ROOT = "(model)"


def _module_name(layer: str) -> str:
    return "" if layer == ROOT else layer


def _layer_name(module_name: str) -> str:
    return ROOT if module_name == "" else module_name


class ReferenceRecorder:
    """Records the outputs of ``layers`` of ``model`` as ``torch_cka`` does (see the module docstring).

    Usage::

        with ReferenceRecorder(model, reference_layers(model, (32, 32))) as recorder:
            model(images)
            features = recorder.features()
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        unknown = [layer for layer in layers if _module_name(layer) not in modules]
        if unknown:
            raise ConfigError(f"reference layers: no module named {', '.join(map(repr, unknown))}")
        self.model = model
        self.layers = list(layers)
        self._records: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = []

    def _clear(self, *_: Any) -> None:
        self._records = {}

    def _hook(self, layer: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            # No copy: later in-place operations change the record, as they change torch_cka's.
            self._records[layer] = first_tensor(output).detach()

        return record

    def __enter__(self) -> ReferenceRecorder:
        modules = dict(self.model.named_modules())
        self._clear()
        self._handles.append(self.model.register_forward_pre_hook(self._clear))
        for layer in self.layers:
            self._handles.append(modules[_module_name(layer)].register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def features(self) -> list[Tensor]:
        """The latest forward's record of every layer, in the order of ``layers``."""
        missing = [layer for layer in self.layers if layer not in self._records]
        if missing:
            raise ConfigError(f"reference layers {', '.join(map(repr, missing[:5]))} did not run in the latest forward")
        return [self._records[layer] for layer in self.layers]


def reference_layers(model: nn.Module, image_size: tuple[int, int]) -> list[str]:
    """Every named module of ``model`` that runs in its forward, in ``torch_cka``'s order.

    The order is that of each module's first output in one forward of a 4-image batch of
    ``image_size`` (height, width); the model itself is named :data:`ROOT`.
    """
    order: dict[str, None] = {}
    handles = [module.register_forward_hook(lambda *_, name=name: order.setdefault(_layer_name(name)))
               for name, module in model.named_modules()]
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.rand(4, 3, *image_size, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return list(order)
