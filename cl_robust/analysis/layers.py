"""Record the outputs of named modules during a forward pass (for CKA and probes).

Names follow ``model.named_modules()``. A module that runs more than once in one forward
(torchvision's BasicBlock applies its single ``relu`` twice) keeps every call: ask for
``"name#0"``, ``"name#1"``, ... A plain ``"name"`` for such a module is an error that lists
the ``name#k`` available, so no call is silently dropped or overwritten.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from cl_robust.errors import ConfigError
from cl_robust.models.foreign import ForeignModel

CALL_SEPARATOR = "#"
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_MAX_LISTED_NAMES = 30


def _split_call(name: str) -> tuple[str, int | None]:
    """``"layer1.0.relu#1"`` -> ``("layer1.0.relu", 1)``; ``"fc"`` -> ``("fc", None)``."""
    module_name, sep, call = name.partition(CALL_SEPARATOR)
    if not sep:
        return name, None
    if not call.isdigit():
        raise ConfigError(f"layer name {name!r}: the part after '#' must be a call index such as '#0'")
    return module_name, int(call)


def _name_list(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED_NAMES])
    more = len(names) - _MAX_LISTED_NAMES
    return shown + (f", ... and {more} more" if more > 0 else "")


def first_tensor(output: Any) -> Tensor:
    """The tensor a module returned (the first one when it returns a tuple or list)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise ConfigError(f"can only record modules that return a tensor; got {type(output).__name__}")


class LayerRecorder:
    """Context manager that records named module outputs of ``model``.

    Usage::

        with LayerRecorder(model, ["layer1.0", "layer4.1", "avgpool"]) as rec:
            model(x)
            feats = rec.features()  # list in the order of layer_names

    Each forward of ``model`` starts a fresh recording, so ``features()`` returns the latest
    forward (when calling a submodule of ``model`` directly, call ``clear()`` between calls).
    Hooks are removed on exit, also when the block raises. ``detach`` (default) cuts the outputs
    from the autograd graph; ``to_cpu`` moves them to the CPU.

    Every record is a copy: torchvision's blocks apply ReLU in place and add the shortcut into
    the second BatchNorm's output (``out += identity``), so a reference to a module's output
    would later hold what those in-place operations wrote into it, not what the module returned.
    """

    def __init__(
        self, model: nn.Module, layer_names: Sequence[str], detach: bool = True, to_cpu: bool = False
    ) -> None:
        if isinstance(layer_names, str) or not layer_names:
            raise ConfigError("layer_names must be a non-empty list of module names")
        modules = dict(model.named_modules())
        valid = [n for n in modules if n]
        self.model = model
        self.layer_names = list(layer_names)
        self.detach = detach
        self.to_cpu = to_cpu
        self._targets: dict[str, nn.Module] = {}
        for name in self.layer_names:
            module_name, _ = _split_call(name)
            if module_name not in modules or not module_name:
                close = difflib.get_close_matches(module_name, valid, n=3)
                hint = f" Did you mean {_name_list(close)}?" if close else ""
                raise ConfigError(
                    f"layer_names: unknown module {module_name!r}.{hint} Valid names: {_name_list(valid)}"
                )
            self._targets[module_name] = modules[module_name]
        self._records: dict[str, list[Tensor]] = {}
        self._handles: list[RemovableHandle] = []

    def clear(self, *_: Any) -> None:
        """Forget recorded outputs; runs by itself at the start of every forward of ``model``."""
        self._records = {name: [] for name in self._targets}

    def _hook(self, module_name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            tensor = first_tensor(output)
            if self.detach:
                tensor = tensor.detach()
            # A copy, so later in-place operations on the live output cannot change the record.
            tensor = tensor.cpu() if self.to_cpu and tensor.device.type != "cpu" else tensor.clone()
            self._records[module_name].append(tensor)

        return record

    def __enter__(self) -> LayerRecorder:
        self.clear()
        self._handles.append(self.model.register_forward_pre_hook(self.clear))
        for module_name, module in self._targets.items():
            self._handles.append(module.register_forward_hook(self._hook(module_name)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this recorder registered (done on exit)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def call_counts(self) -> dict[str, int]:
        """How many times each recorded module ran in the latest forward."""
        return {name: len(calls) for name, calls in self._records.items()}

    def features(self) -> list[Tensor]:
        """Outputs of the latest forward, one tensor per entry of ``layer_names``, in order."""
        result = []
        for name in self.layer_names:
            module_name, call = _split_call(name)
            calls = self._records[module_name]
            if not calls:
                raise ConfigError(f"layer {module_name!r} did not run in the latest forward of the model")
            if call is None:
                if len(calls) > 1:
                    options = [f"{module_name}{CALL_SEPARATOR}{k}" for k in range(len(calls))]
                    raise ConfigError(
                        f"layer {module_name!r} ran {len(calls)} times in one forward; "
                        f"name one call: {_name_list(options)}"
                    )
                call = 0
            if call >= len(calls):
                raise ConfigError(
                    f"layer {name!r}: {module_name!r} ran only {len(calls)} time(s) "
                    f"(valid calls #0..#{len(calls) - 1})"
                )
            result.append(calls[call])
        return result


def block_names(model: nn.Module) -> list[str]:
    """Block outputs of a model, in forward order.

    ResNet-like models (torchvision's, timm's, cl_robust's): each child of ``layer1`` .. ``layer4``
    (the residual blocks), then the pooling (``avgpool`` or timm's ``global_pool``) if present. A
    model behind cl_robust's normalisation (:class:`~cl_robust.models.foreign.ForeignModel`): the
    blocks of the model inside, as ``net.<name>``. Other models: the children of their largest
    top-level sequence of at least four modules (a ViT's ``blocks``, a ConvNeXt's ``stages``), else
    their top-level children.
    """
    if isinstance(model, ForeignModel):
        return [f"net.{name}" for name in block_names(model.net)]
    stages = [f"layer{i}" for i in range(1, 5) if isinstance(getattr(model, f"layer{i}", None), nn.Module)]
    if stages:
        names = [f"{stage}.{child}" for stage in stages for child, _ in getattr(model, stage).named_children()]
        pools = [name for name in ("avgpool", "global_pool") if isinstance(getattr(model, name, None), nn.Module)]
        return names + pools[:1]
    children = list(model.named_children())
    sequences = [(name, child) for name, child in children
                 if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) >= MIN_SEQUENCE_BLOCKS]
    if sequences:
        name, sequence = max(sequences, key=lambda entry: len(entry[1]))
        return [f"{name}.{child}" for child, _ in sequence.named_children()]
    return [name for name, _ in children]


#: A top-level sequence this long is taken for the model's blocks (:func:`block_names`).
MIN_SEQUENCE_BLOCKS = 4


def all_module_names(model: nn.Module) -> list[str]:
    """Every named module except the root and pure containers, in registration order (for forward
    order, see :func:`cl_robust.analysis.layer_selection.resolve_layers`).

    Containers (``nn.Sequential``, ``nn.ModuleList``, ``nn.ModuleDict``) are left out because
    their output repeats their last child's. Leaves and blocks such as residual blocks stay.
    Modules called several times per forward (shared ReLUs) need ``name#k`` in LayerRecorder.
    """
    return [name for name, module in model.named_modules() if name and not isinstance(module, _CONTAINERS)]
