"""Exact clean and robust accuracy of a classifier over a whole test set, for a suite of attacks.

Counts are integers over every test image (no batch is dropped); accuracy = correct / total,
where total is the number of images actually scored (the reference divided by the full test
size while its loader dropped the last batch). The model stays in eval mode throughout, so
BatchNorm uses its running statistics while attacking (Madry et al. 2018 evaluate that way,
and so does the reference's evaluation; only its adversarial *training* crafted attacks with
BatchNorm in train mode). Under DDP each rank counts its own shard and the
counts are summed across ranks with ``all_reduce``.

Usable from Python (:func:`evaluate_robustness`) and from a Lightning test loop: create a
:class:`RobustnessCounter`, call ``update`` in ``test_step`` and ``compute`` in
``on_test_epoch_end`` (run the Trainer with ``inference_mode=False``; the attacks also turn
gradients back on themselves).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from cl_robust.attacks.state import attack_mode
from cl_robust.data.augment import to_float

from .suite import AttackSpec, parse_attacks
from .threat_models import adversarial_images, supports, threat_model_one_objective

Reduce = Callable[[Tensor], Tensor]


def reduce_counts(counts: Tensor) -> Tensor:
    """Sum ``counts`` over every rank when ``torch.distributed`` is initialised; else return them."""
    if dist.is_available() and dist.is_initialized():
        counts = counts.clone()
        dist.all_reduce(counts, op=dist.ReduceOp.SUM)
    return counts


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (attacks run on it)."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """The ``cl_robust`` checkpoint metadata of a cl_robust module ({} for other models)."""
    metadata = getattr(model, "checkpoint_metadata", None)
    return dict(metadata()) if callable(metadata) else {}


def count_classes(model: nn.Module, images: Tensor) -> int:
    """Number of classes: the linear head's outputs, else the width of the logits for ``images``."""
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):
        return classifier.out_features
    with torch.no_grad():
        return int(model(images[:1]).shape[1])


def split_batch(batch: Any, device: torch.device | str) -> tuple[Tensor, Tensor]:
    """``(images, labels)`` or ``{"x0", "y"}`` -> float images in [0, 1] and labels on ``device``."""
    images, labels = (batch["x0"], batch["y"]) if isinstance(batch, dict) else (batch[0], batch[1])
    return to_float(images.to(device)), labels.to(device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class RobustnessCounter:
    """Correct and total counts per attack, accumulated batch by batch.

    ``metadata`` (the checkpoint's ``cl_robust`` entry) tells threat model I which contrastive
    loss to attack; attacks a checkpoint cannot support (TM-I without a projection head) are
    reported as skipped with the reason.
    """

    def __init__(self, attacks: Sequence[AttackSpec | str], metadata: dict[str, Any] | None = None,
                 num_classes: int | None = None) -> None:
        self.attacks = _as_specs(attacks)
        self.metadata = dict(metadata or {})
        self.num_classes = num_classes
        self.skipped = {spec.name: supports(spec, self.metadata) for spec in self.attacks}
        self.counts = torch.zeros(len(self.attacks), 2, dtype=torch.long)
        #: TM-I only: sums over batches of the objective before and after the attack, and the batch count.
        self.objectives = torch.zeros(len(self.attacks), 3, dtype=torch.float64)
        self.batch_size = [0] * len(self.attacks)
        self.seconds = [0.0] * len(self.attacks)

    def update(self, model: nn.Module, images: Tensor, labels: Tensor) -> None:
        """Attack one batch (float images in [0, 1]) with every attack, the model in eval mode."""
        model = unwrap(model)
        if self.num_classes is None:
            self.num_classes = count_classes(model, images)
        self.counts = self.counts.to(images.device)
        self.objectives = self.objectives.to(images.device)
        with attack_mode(model, "eval"):
            for index, spec in enumerate(self.attacks):
                if self.skipped[spec.name]:
                    continue
                _synchronize(images.device)
                start = time.perf_counter()
                inputs = adversarial_images(model, images, labels, spec, self.num_classes, self.metadata)
                with torch.no_grad():
                    predictions = model(inputs).argmax(dim=1)
                correct = (predictions == labels).sum()
                self.counts[index, 0] += correct
                self.counts[index, 1] += labels.numel()
                self.batch_size[index] = max(self.batch_size[index], labels.numel())
                if spec.kind == "tm1":
                    before = threat_model_one_objective(model, images, images, labels, self.metadata)
                    after = threat_model_one_objective(model, images, inputs, labels, self.metadata)
                    self.objectives[index] += torch.stack([before.double(), after.double(), before.new_ones(()).double()])
                _synchronize(images.device)
                self.seconds[index] += time.perf_counter() - start

    def compute(self, reduce: Reduce = reduce_counts) -> list[dict[str, Any]]:
        """One record per attack: settings, integer counts (summed by ``reduce``), accuracy, seconds."""
        counts = reduce(self.counts).cpu().tolist()
        tm1 = any(spec.kind == "tm1" and not self.skipped[spec.name] for spec in self.attacks)
        objectives = (reduce(self.objectives) if tm1 else self.objectives).cpu().tolist()
        records = []
        for index, (spec, (correct, total), seconds) in enumerate(zip(self.attacks, counts, self.seconds, strict=True)):
            reason = self.skipped[spec.name]
            record = {**spec.settings(), "correct": None if reason else int(correct),
                      "total": None if reason else int(total),
                      "accuracy": None if reason or total == 0 else correct / total,
                      "seconds": round(seconds, 3), "skipped": reason, "batch_size": self.batch_size[index] or None}
            if spec.kind == "tm1" and not reason:
                before, after, batches = objectives[index]
                # Mean over batches of the contrastive loss at delta = 0 and at the attack's result.
                record["objective_before"] = before / batches if batches else None
                record["objective_after"] = after / batches if batches else None
            records.append(record)
        return records


def _as_specs(attacks: Iterable[AttackSpec | str]) -> list[AttackSpec]:
    """Attack specs, with names parsed by :func:`parse_attacks`."""
    specs: list[AttackSpec] = []
    for attack in attacks:
        specs += parse_attacks([attack]) if isinstance(attack, str) else [attack]
    return specs


def evaluate_robustness(model: nn.Module, dataloader: Iterable[Any], attacks: Sequence[AttackSpec | str],
                        device: torch.device | str = "cpu", metadata: dict[str, Any] | None = None,
                        reduce: Reduce = reduce_counts) -> dict[str, Any]:
    """Clean and robust accuracy of ``model`` (logits from [0, 1] images) over every batch of ``dataloader``.

    ``attacks``: :class:`AttackSpec` objects or their names (see :mod:`cl_robust.evaluation.suite`).
    Returns ``{"total": images scored, "results": [one record per attack]}``; the model's
    train/eval flags are as before afterwards.
    """
    device = torch.device(device)
    model = unwrap(model).to(device)
    counter = RobustnessCounter(attacks, model_metadata(model) if metadata is None else metadata)
    for batch in dataloader:
        images, labels = split_batch(batch, device)
        counter.update(model, images, labels)
    results = counter.compute(reduce)
    totals = [r["total"] for r in results if r["total"] is not None]
    return {"total": max(totals) if totals else 0, "results": results}
