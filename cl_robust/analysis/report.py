"""``analysis.json`` of one ``cl-robust analyze``: the CKA metrics it accumulates and the report built from them.

Each within-model CKA matrix comes with its redundancy scores and, with ``--bootstrap``, their
intervals over the test batches; the untrained baselines carry the trained model's change from each.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from cl_robust.analysis.bootstrap import bootstrap_cka
from cl_robust.analysis.cka import MinibatchCKA, cka_diagonal
from cl_robust.analysis.probes import layer_probes
from cl_robust.analysis.redundancy import redundancy_scores
from cl_robust.commands.checkpoint import LoadedClassifier
from cl_robust.commands.distributed import sum_over_ranks
from cl_robust.commands.versions import versions
from cl_robust.data.augment import to_float
from cl_robust.errors import ConfigError


class Accumulators:
    """Every CKA metric of one analysis, updated batch by batch."""

    def __init__(self, layers: int, compare_layers: int | None, labels: Sequence[str], baselines: Sequence[str],
                 ) -> None:
        self.clean = MinibatchCKA(layers, keep_batch_terms=True)
        self.adversarial = {label: MinibatchCKA(layers, keep_batch_terms=True) for label in labels}
        self.clean_vs_adversarial = {label: MinibatchCKA(layers, layers) for label in labels}
        self.between = MinibatchCKA(layers, compare_layers) if compare_layers else None
        self.other = MinibatchCKA(compare_layers) if compare_layers else None
        self.untrained = {name: MinibatchCKA(layers, keep_batch_terms=True) for name in baselines}


def _matrix(values: Tensor) -> list[list[float | None]]:
    """A CKA matrix as JSON lists (NaN -> null)."""
    return [[None if math.isnan(v) else v for v in row] for row in values.tolist()]


def _scores(values: Tensor, threshold: float) -> dict[str, float] | None:
    try:
        return redundancy_scores(values, threshold)
    except ConfigError:  # NaN entries: a constant layer
        return None


def cka_entry(metric: MinibatchCKA, args: argparse.Namespace) -> dict[str, Any]:
    """A within-model CKA matrix, its redundancy scores and (with ``--bootstrap``) their intervals."""
    values = metric.compute()
    entry: dict[str, Any] = {"cka": _matrix(values), "redundancy": _scores(values, args.threshold)}
    if args.bootstrap:
        interval = bootstrap_cka(metric, resamples=args.bootstrap, seed=args.seed)
        entry["interval"] = {**interval, "cka_low": _matrix(torch.tensor(interval["cka_low"])),
                             "cka_high": _matrix(torch.tensor(interval["cka_high"]))}
    return entry


#: Redundancy scores whose change from the untrained network ``analysis.json`` records.
CHANGED_SCORES = ("mean_all", "mean_offdiagonal", "largest_block_fraction")


def untrained_report(args: argparse.Namespace, metrics: Accumulators, seed: int,
                      trained: dict[str, float] | None, bn_images: int) -> dict[str, Any]:
    """The untrained baselines' CKA (clean inputs) and the trained model's change from each."""
    report: dict[str, Any] = {
        "seed": seed, "inputs": "clean", "bn_images": bn_images,
        "note": "the same architecture initialised with the same seed, never trained: init_bn with BatchNorm's "
                "initial statistics, reestimated_bn with them re-estimated on training images",
    }
    for name, metric in metrics.untrained.items():
        entry = cka_entry(metric, args)
        baseline = entry["redundancy"]
        entry["change"] = None if trained is None or baseline is None else {
            score: trained[score] - baseline[score] for score in CHANGED_SCORES}
        report[name] = entry
    return report


def build_report(args: argparse.Namespace, main_model: LoadedClassifier, other_model: LoadedClassifier | None,
            layers: list[str], other_layers: list[str], metrics: Accumulators, attack_labels: list[str],
            device: torch.device) -> dict[str, Any]:
    report: dict[str, Any] = {
        "checkpoint": {"path": main_model.path, "metadata": main_model.metadata, "note": main_model.note},
        "layers": layers,
        "settings": {"dataset": args.dataset, "test_per_class": args.test_per_class, "batch_size": args.batch_size,
                     "order_seed": args.order_seed,
                     "num_batches": int(sum_over_ranks(metrics.clean.num_batches)), "threshold": args.threshold,
                     "attack": {"method": "pgd", "norm": "linf", "steps": args.attack_steps, "step_size": "eps/4",
                                "random_start": True, "loss": "cross-entropy, end to end"},
                     "estimator": "minibatch linear CKA, unbiased HSIC_1 (Nguyen et al. 2021)",
                     "feature_precision": args.precision, "device": str(device), "seed": args.seed,
                     "bootstrap": {"resamples": args.bootstrap, "over": "test batches", "level": 0.95}
                     if args.bootstrap else None},
        "versions": versions(),
        "clean": cka_entry(metrics.clean, args),
        "adversarial": {},
    }
    for label in attack_labels:
        diagonal = cka_diagonal(metrics.clean_vs_adversarial[label].compute())
        report["adversarial"][label] = {
            **cka_entry(metrics.adversarial[label], args),
            "clean_vs_adversarial": [None if math.isnan(v) else v for v in diagonal.tolist()],
        }
    if other_model is not None and metrics.between is not None and metrics.other is not None:
        other = metrics.other.compute()
        report["compare"] = {
            "checkpoint": {"path": other_model.path, "metadata": other_model.metadata, "note": other_model.note},
            "layers": other_layers, "cka_between": _matrix(metrics.between.compute()),
            "cka": _matrix(other), "redundancy": _scores(other, args.threshold),
        }
    return report


def probe_report(args: argparse.Namespace, datamodule: Any, main_model: LoadedClassifier, layers: list[str],
            images: list[Tensor], labels: list[Tensor], adversarial: list[Tensor], attack_labels: list[str],
            device: torch.device) -> dict[str, Any]:
    train_images, train_labels = datamodule.train_set.images, datamodule.train_set.labels
    results = layer_probes(main_model.model, layers, to_float(train_images).to(device), train_labels,
                           torch.cat(images).to(device), torch.cat(labels), datamodule.num_classes,
                           torch.cat(adversarial).to(device) if adversarial else None, args.batch_size,
                           args.layers)
    return {"train_per_class": args.probe_train_per_class, "adversarial": attack_labels[0] if attack_labels else None,
            "features": "global-average-pooled conv maps, flattened otherwise; softmax regression by L-BFGS",
            "layers": results}
