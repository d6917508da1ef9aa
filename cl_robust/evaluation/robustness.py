"""Exact clean and robust accuracy of a classifier over a whole test set, for a suite of attacks.

Counts are integers over every test image (no batch is dropped); accuracy = correct / total,
where total is the number of images actually scored (the reference divided by the full test
size while its loader dropped the last batch), with its 95% Wilson interval. The model stays in
eval mode throughout, so BatchNorm uses its running statistics while attacking (Madry et al.
2018 evaluate that way, and so does the reference's evaluation; only its adversarial
*training* crafted attacks with BatchNorm in train mode).

Every random number an attack draws on a batch comes from a seed derived from the base seed,
the batch's index and the attack's settings, so a batch gets the same random start whichever
process attacks it and whatever ran before. The original AutoAttack runs once over the whole
split at the end (:mod:`~cl_robust.evaluation.autoattack`), its chunks shared out between the
ranks. Under torch.distributed each rank counts its own batches; counts are summed with
``all_reduce`` and per-image outcomes gathered, so N ranks give the counts of one process.

Usable from Python (:func:`evaluate_robustness`) and from a Lightning test loop: create a
:class:`RobustnessCounter`, call ``update`` in ``test_step`` (with each image's position in
the split as ``indices`` under DDP) and ``compute`` in ``on_test_epoch_end`` on every rank (run
the Trainer with ``inference_mode=False``; the attacks also turn gradients back on themselves).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from cl_robust.attacks.state import attack_mode, seeded
from cl_robust.commands.distributed import gather_rows, owned_batches, rank_and_world, sum_over_ranks
from cl_robust.data.augment import to_float

from .autoattack import ATTACKS, AutoAttackOutcome, run_autoattack
from .corruption_suite import pixels_note
from .intervals import wilson_interval
from .masking import masking_checks
from .per_sample import PerSampleOutcomes
from .progress import SuiteProgress
from .suite import AUTOATTACK_ITERATIONS, SQUARE_QUERIES, AttackSpec, parse_attacks
from .threat_models import adversarial_images, supports, threat_model_one_objective
from .worst_case import worst_cases

Reduce = Callable[[Tensor], Tensor]


def reduce_counts(counts: Tensor) -> Tensor:
    """Sum ``counts`` over every rank when ``torch.distributed`` is initialised; else return them."""
    if dist.is_available() and dist.is_initialized():
        return sum_over_ranks(counts)
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
    """Correct and total counts per attack, and every image's outcome, accumulated batch by batch.

    ``metadata`` (the checkpoint's ``cl_robust`` entry) tells threat model I which contrastive
    loss to attack; attacks a checkpoint cannot support (TM-I without a projection head) are
    reported as skipped with the reason. ``seed`` is the base of every attack's random numbers;
    ``state_dir`` keeps AutoAttack's progress (resumed by a later run); ``autoattack_batch_size``
    is the size of AutoAttack's chunks (default: the largest batch seen); ``show_progress`` draws
    AutoAttack's progress bars on stderr.
    """

    def __init__(self, attacks: Sequence[AttackSpec | str], metadata: dict[str, Any] | None = None,
                 num_classes: int | None = None, seed: int = 0, state_dir: Path | None = None,
                 autoattack_batch_size: int | None = None, show_progress: bool = False) -> None:
        self.attacks = _as_specs(attacks)
        self.show_progress = show_progress
        self.metadata = dict(metadata or {})
        self.num_classes = num_classes
        self.seed = seed
        self.state_dir = state_dir
        self.autoattack_batch_size = autoattack_batch_size
        self.skipped = {spec.name: supports(spec, self.metadata) for spec in self.attacks}
        self.counts = torch.zeros(len(self.attacks), 2, dtype=torch.long)
        #: TM-I only: sums over batches of the objective before and after the attack, and the batch count.
        self.objectives = torch.zeros(len(self.attacks), 3, dtype=torch.float64)
        self.batch_size = [0] * len(self.attacks)
        self.seconds = [0.0] * len(self.attacks)
        self.per_sample: PerSampleOutcomes | None = None
        self.autoattack: dict[str, AutoAttackOutcome] = {}
        self._correct: list[list[Tensor]] = [[] for _ in self.attacks]
        self._indices: list[Tensor] = []
        self._labels: list[Tensor] = []
        self._images: list[Tensor] = []
        self._seen = 0
        self._batches = 0
        self._indices_given = False
        self._model: nn.Module | None = None
        #: How the images given to the common corruptions were stored (8-bit levels or not).
        self.corruption_pixels: set[str] = set()

    @property
    def _original_autoattacks(self) -> list[int]:
        return [i for i, spec in enumerate(self.attacks) if spec.kind == "autoattack" and not self.skipped[spec.name]]

    def update(self, model: nn.Module, images: Tensor, labels: Tensor, indices: Tensor | None = None,
               batch_index: int | None = None) -> None:
        """Attack one batch (float images in [0, 1]) with every attack, the model in eval mode.

        ``indices``: each image's position in the split (default: counted from 0 by this
        counter); ``batch_index``: the batch's index in the split, which seeds its random starts
        (default: counted by this counter). Give both when the batches are shared between ranks.
        """
        model = self._model = unwrap(model)
        if self.num_classes is None:
            self.num_classes = count_classes(model, images)
        if indices is None:
            indices = torch.arange(self._seen, self._seen + labels.numel())
        else:
            self._indices_given = True
        batch_index = self._batches if batch_index is None else batch_index
        self._seen, self._batches = self._seen + labels.numel(), self._batches + 1
        indices = indices.to(images.device)
        self._indices.append(indices)
        self._labels.append(labels)
        if self._original_autoattacks:
            self._images.append(images.detach().clone())
        self.counts = self.counts.to(images.device)
        self.objectives = self.objectives.to(images.device)
        if any(spec.kind == "corruption" for spec in self.attacks):
            self.corruption_pixels.add(pixels_note(images))
        with attack_mode(model, "eval"):
            for index, spec in enumerate(self.attacks):
                if self.skipped[spec.name] or spec.kind == "autoattack":
                    continue
                _synchronize(images.device)
                start = time.perf_counter()
                with seeded(self.seed, batch_index, spec.key, device=images.device):
                    inputs = adversarial_images(model, images, labels, spec, self.num_classes, self.metadata)
                with torch.no_grad():
                    correct = model(inputs).argmax(dim=1) == labels
                self._correct[index].append(correct)
                self.counts[index, 0] += correct.sum()
                self.counts[index, 1] += labels.numel()
                self.batch_size[index] = max(self.batch_size[index], labels.numel())
                if spec.kind == "tm1":
                    before = threat_model_one_objective(model, images, images, labels, self.metadata)
                    after = threat_model_one_objective(model, images, inputs, labels, self.metadata)
                    self.objectives[index] += torch.stack([before.double(), after.double(), before.new_ones(()).double()])
                _synchronize(images.device)
                self.seconds[index] += time.perf_counter() - start

    def _gathered(self, local: list[Tensor], shift: int) -> Tensor:
        rows = torch.cat(local) if local else torch.zeros(0, dtype=torch.long)
        return gather_rows(rows + shift if shift else rows)

    def _run_autoattacks(self, indices: Tensor, order: Tensor, labels: Tensor) -> None:
        """The original AutoAttack over every rank's images (every rank takes part)."""
        images = gather_rows(torch.cat(self._images))[order]
        batch_size = self.autoattack_batch_size or int(gather_rows(torch.tensor([max(map(len, self._indices))])).max())
        state = None if self.state_dir is None else self.state_dir / "autoattack"
        assert self._model is not None
        for index in self._original_autoattacks:
            spec = self.attacks[index]
            outcome = run_autoattack(self._model, images, labels, norm=spec.norm, eps=spec.eps, seed=self.seed,
                                     batch_size=batch_size, iterations=spec.steps, queries=spec.queries,
                                     state_path=state, show_progress=self.show_progress)
            self.autoattack[spec.name] = outcome
            self.seconds[index] = outcome.seconds
            self.batch_size[index] = batch_size
            self._correct[index] = [outcome.correct.to(indices.device)]

    def _collect_outcomes(self) -> None:
        """Every rank's per-image outcomes in index order (and the original AutoAttack, run here)."""
        rank, _ = rank_and_world()
        shift = 0
        if not self._indices_given:  # number this rank's images after those of the ranks before it
            shift = int(gather_rows(torch.tensor([self._seen]))[:rank].sum())
        indices = self._gathered(self._indices, shift)
        order = torch.argsort(indices)
        indices, labels = indices[order], gather_rows(torch.cat(self._labels))[order]
        if self._original_autoattacks:
            self._run_autoattacks(indices, order, labels)
        correct = {}
        for index, spec in enumerate(self.attacks):
            if self.skipped[spec.name]:
                continue
            rows = torch.cat(self._correct[index]) if self._correct[index] else torch.zeros(0, dtype=torch.bool)
            correct[spec.name] = rows.cpu() if spec.kind == "autoattack" else gather_rows(rows)[order].cpu()
        self.per_sample = PerSampleOutcomes(indices.cpu(), labels.cpu(), correct,
                                            {name: outcome.broken_by for name, outcome in self.autoattack.items()})

    def compute(self, reduce: Reduce = reduce_counts) -> list[dict[str, Any]]:
        """One record per attack: settings, integer counts (summed by ``reduce``), accuracy, ``ci95``, seconds.

        Runs the original AutoAttack (on every rank together) and sets :attr:`per_sample`.
        """
        if self._indices or rank_and_world()[1] > 1:  # every rank must take part in the gathers
            self._collect_outcomes()
        counts = reduce(self.counts).cpu()
        for name, outcome in self.autoattack.items():
            index = next(i for i, spec in enumerate(self.attacks) if spec.name == name)
            counts[index] = torch.tensor([int(outcome.correct.sum()), len(outcome.broken_by)])
        tm1 = any(spec.kind == "tm1" and not self.skipped[spec.name] for spec in self.attacks)
        objectives = (reduce(self.objectives) if tm1 else self.objectives).cpu().tolist()
        records = []
        for index, (spec, (correct, total), seconds) in enumerate(zip(self.attacks, counts.tolist(), self.seconds,
                                                                       strict=True)):
            reason = self.skipped[spec.name]
            record = {**spec.settings(), "correct": None if reason else int(correct),
                      "total": None if reason else int(total),
                      "accuracy": None if reason or total == 0 else correct / total,
                      "ci95": None if reason else wilson_interval(int(correct), int(total)),
                      "seconds": round(seconds, 3), "skipped": reason, "batch_size": self.batch_size[index] or None}
            if spec.kind == "tm1" and not reason:
                before, after, batches = objectives[index]
                # Mean over batches of the contrastive loss at delta = 0 and at the attack's result.
                record["objective_before"] = before / batches if batches else None
                record["objective_after"] = after / batches if batches else None
            if spec.name in self.autoattack:
                record.update(autoattack_details(self.autoattack[spec.name], spec))
            if spec.kind == "corruption":
                record["pixels"] = "; ".join(sorted(self.corruption_pixels)) or None
            records.append(record)
        return records


def autoattack_details(outcome: AutoAttackOutcome, spec: AttackSpec) -> dict[str, Any]:
    """What ``robustness.json`` records of an original AutoAttack run besides its counts."""
    total = len(outcome.broken_by)
    standard = spec.steps == AUTOATTACK_ITERATIONS and spec.queries == SQUARE_QUERIES
    return {
        "implementation": "pyautoattack (Croce & Hein's code), version 'standard'",
        "version": "standard" if standard else "standard with fewer iterations or queries (not the field's number)",
        "attacks": list(ATTACKS), "iterations": spec.steps, "queries": spec.queries, "restarts": 1,
        "target_classes": 9,
        "after_each_attack": [{"after": stage, "correct": correct, "accuracy": correct / total if total else None,
                               "ci95": wilson_interval(correct, total)}
                              for stage, correct in outcome.correct_after().items()],
        "checks": outcome.checks, "resumed": outcome.resumed,
    }


def _as_specs(attacks: Iterable[AttackSpec | str]) -> list[AttackSpec]:
    """Attack specs, with names parsed by :func:`parse_attacks`."""
    specs: list[AttackSpec] = []
    for attack in attacks:
        specs += parse_attacks([attack]) if isinstance(attack, str) else [attack]
    return specs


def _images_in(batches: Any, mine: Iterable[int]) -> int | None:
    """Images in the batches of ``mine`` (None when the loader cannot tell without loading them)."""
    dataset = getattr(batches, "dataset", None)
    batch_size = getattr(batches, "batch_size", None)
    if dataset is None or not batch_size or not hasattr(dataset, "__len__"):
        return None
    size = len(dataset)
    return sum(min(batch_size, size - index * batch_size) for index in mine)


def evaluate_robustness(model: nn.Module, dataloader: Iterable[Any], attacks: Sequence[AttackSpec | str],
                        device: torch.device | str = "cpu", metadata: dict[str, Any] | None = None,
                        reduce: Reduce = reduce_counts, seed: int = 0, state_dir: Path | None = None,
                        autoattack_batch_size: int | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Clean and robust accuracy of ``model`` (logits from [0, 1] images) over every batch of ``dataloader``.

    ``attacks``: :class:`AttackSpec` objects or their names (see :mod:`cl_robust.evaluation.suite`).
    Under torch.distributed each rank attacks a contiguous share of the batches (call it on every
    rank with the same loader). Returns ``{"total", "results": [one record per attack],
    "worst_case": [WorstCase], "masking": {...}, "per_sample": PerSampleOutcomes}``; the
    model's train/eval flags are as before afterwards. ``show_progress``: bars on stderr (rank 0) with
    images done, each attack's accuracy so far and the time left.
    """
    device = torch.device(device)
    model = unwrap(model).to(device)
    counter = RobustnessCounter(attacks, model_metadata(model) if metadata is None else metadata, seed=seed,
                                state_dir=state_dir, autoattack_batch_size=autoattack_batch_size,
                                show_progress=show_progress)
    batches = list(dataloader) if not hasattr(dataloader, "__len__") else dataloader
    mine = owned_batches(len(batches))  # type: ignore[arg-type]
    show = show_progress and rank_and_world()[0] == 0
    progress = SuiteProgress(_images_in(batches, mine), show)
    names = ["corruptions" if spec.kind == "corruption" else spec.name for spec in counter.attacks]
    skipped = [bool(counter.skipped[spec.name]) or spec.kind == "autoattack" for spec in counter.attacks]
    offset = 0
    for batch_index, batch in enumerate(batches):
        size = len(batch["y"] if isinstance(batch, dict) else batch[1])
        if batch_index in mine:
            images, labels = split_batch(batch, device)
            counter.update(model, images, labels, torch.arange(offset, offset + size), batch_index)
            progress.batch_done(size, names, counter.counts, skipped)
        offset += size
    progress.close()
    results = counter.compute(reduce)
    totals = [r["total"] for r in results if r["total"] is not None]
    cases = worst_cases(counter.attacks, counter.per_sample.correct) if counter.per_sample else []
    return {"total": max(totals) if totals else 0, "results": results, "worst_case": cases,
            "masking": masking_checks(results), "per_sample": counter.per_sample}
