"""The reference study's redundancy statistic, computed beside the main layer selection.

The reference reads redundancy as the mean of the whole layer x layer CKA matrix over every
named module (:mod:`cl_robust.analysis.reference_layers`); our default is the mean
off-diagonal CKA of block outputs. ``cl-robust analyze`` computes both in the same forward
passes: a :class:`~cl_robust.analysis.reference_layers.ReferenceRecorder` rides along with the
main recorder on every pass (clean, adversarial, untrained baselines), so the reference costs
only its Gram matrices, not another forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor, nn

from cl_robust.analysis.cka import MinibatchCKA
from cl_robust.analysis.reference_layers import ReferenceRecorder

NOTE = ("torch_cka's layer set, as the reference study called it: every named module on the forward path "
        "(containers and the model itself included; a module run twice keeps its last output; records are "
        "references, so in-place operations later in the forward show in them); its redundancy is mean_all, "
        "the mean of the whole matrix")


class ReferenceStatistic:
    """One CKA accumulator over the reference layers per input kind (``clean``, ``eps=...``, a baseline's name)."""

    def __init__(self, layers: list[str], kinds: Iterable[str]) -> None:
        self.layers = layers
        self.metrics = {kind: MinibatchCKA(len(layers), keep_batch_terms=True) for kind in kinds}

    def recorder(self, model: nn.Module) -> ReferenceRecorder:
        """A recorder to enter around the forward passes of ``model`` (the trained or an untrained network)."""
        return ReferenceRecorder(model, self.layers)

    def update(self, kind: str, features: list[Tensor]) -> None:
        self.metrics[kind].update(features)

    def report(self, entry: Callable[[MinibatchCKA], dict[str, Any]], adversarial: Iterable[str],
               baselines: Iterable[str]) -> dict[str, Any]:
        """``analysis.json``'s ``reference`` section: layers, and an ``entry`` (matrix, redundancy, interval) per kind."""
        return {"layers": self.layers, "note": NOTE, "clean": entry(self.metrics["clean"]),
                "adversarial": {label: entry(self.metrics[label]) for label in adversarial},
                "untrained": {name: entry(self.metrics[name]) for name in baselines}}
