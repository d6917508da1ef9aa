"""Which layers of a model to analyse: ``blocks``, ``all``, ``reference`` or a comma-separated list of names
and glob patterns.

Names are those of ``model.named_modules()`` (``encoder.layer1.0``, ``classifier``); a module
that runs several times per forward is split into ``name#0``, ``name#1``, ... (see
:class:`~cl_robust.analysis.layers.LayerRecorder`). Glob patterns (``layer*.?``) are expanded by
:mod:`~cl_robust.analysis.layer_patterns`. The forward passes that find what runs use random
images of the data's size (``image_size``).
"""

from __future__ import annotations

import torch
from torch import nn

from cl_robust.analysis.layer_patterns import expand_patterns
from cl_robust.analysis.layers import CALL_SEPARATOR, LayerRecorder, all_module_names, block_names
from cl_robust.analysis.reference_layers import REFERENCE, ReferenceRecorder, reference_layers
from cl_robust.errors import ConfigError

ENCODER = "encoder"


def _call_counts(model: nn.Module, names: list[str], image_size: tuple[int, int] = (32, 32)) -> dict[str, int]:
    """How often each named module runs in one forward of a 4-image batch."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with LayerRecorder(model, names) as recorder, torch.no_grad():
            model(torch.rand(4, 3, *image_size, device=device))
            return recorder.call_counts()
    finally:
        model.train(was_training)


def forward_order(model: nn.Module, names: list[str], image_size: tuple[int, int] = (32, 32)) -> list[str]:
    """``names`` in the order their outputs appear in one forward of a 4-image batch.

    A module run several times appears once per call as ``name#0``, ``name#1``, ...; modules that
    do not run are left out. A block's output comes after the outputs of the modules inside it.
    """
    modules = dict(model.named_modules())
    sequence: list[str] = []
    handles = [modules[name].register_forward_hook(lambda *_, name=name: sequence.append(name)) for name in names]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.rand(4, 3, *image_size, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    counts = {name: sequence.count(name) for name in set(sequence)}
    seen: dict[str, int] = {}
    ordered = []
    for name in sequence:
        call = seen.get(name, 0)
        seen[name] = call + 1
        ordered.append(f"{name}{CALL_SEPARATOR}{call}" if counts[name] > 1 else name)
    return ordered


def resolve_layers(model: nn.Module, selection: str, image_size: tuple[int, int] = (32, 32)) -> list[str]:
    """Layer names for ``selection``: ``blocks`` (stem-free residual-block outputs, pooled features, logits),
    ``all`` (every non-container module that runs in ``forward``, in the order of its outputs),
    ``reference`` (torch_cka's set: every named module on the forward path, see
    :mod:`~cl_robust.analysis.reference_layers`) or ``name1,name2,...`` (as given; glob patterns such as
    ``layer*.?`` expanded in forward order). ``image_size``: (height, width) of the random images of the
    forward passes (the data's)."""
    if selection == REFERENCE:
        return reference_layers(model, image_size)
    encoder = getattr(model, ENCODER, None)
    if selection == "blocks":
        if not isinstance(encoder, nn.Module):  # a model from elsewhere: its own blocks and its head
            names = block_names(model)
            head = list(model.named_children())[-1:]
            return names + [name for name, child in head if isinstance(child, nn.Linear) and name not in names]
        names = [f"{ENCODER}.{name}" for name in block_names(encoder)]
        return names + (["classifier"] if isinstance(getattr(model, "classifier", None), nn.Module) else [])
    if selection == "all":
        return forward_order(model, all_module_names(model), image_size)
    names = [name.strip() for name in selection.split(",") if name.strip()]
    if not names:
        raise ConfigError("layers must be 'blocks', 'all', 'reference' or a comma-separated list of module names "
                          "or patterns")
    names = expand_patterns(model, names, lambda module, found: forward_order(module, found, image_size))
    counts = _call_counts(model, [name.partition(CALL_SEPARATOR)[0] for name in names],  # unknown names raise here
                          image_size)
    silent = [name for name in names if counts[name.partition(CALL_SEPARATOR)[0]] == 0]
    if silent:
        raise ConfigError(f"layers: {', '.join(map(repr, silent))} do not run in the model's forward "
                          f"(e.g. the projection head); choose modules on the path to the logits")
    return names


def recorder_for(model: nn.Module, layers: list[str], selection: str) -> LayerRecorder | ReferenceRecorder:
    """The recorder of ``layers`` for ``selection``: torch_cka's references for ``reference``, copies otherwise."""
    return ReferenceRecorder(model, layers) if selection == REFERENCE else LayerRecorder(model, layers)


def display_name(layer: str) -> str:
    """A shorter label for figures: ``encoder.layer1.0`` -> ``layer1.0``."""
    return layer.removeprefix(f"{ENCODER}.")
