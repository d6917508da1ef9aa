"""``--corruption_baseline``: the model the mean corruption error is relative to, scored on the same images.

mCE divides a model's errors under each corruption by a baseline model's errors under the same
corruption (Hendrycks & Dietterich 2019). The baseline is evaluated in the same run, on the same
test split, batches and seeded corruptions, so both see identical corrupted images. It must be a
classifier of the same data set: errors on another data set's images mean nothing here.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

from cl_robust.commands.checkpoint import LoadedClassifier, load_classifier
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError

from .corruption_summary import summarize
from .robustness import evaluate_robustness
from .suite import PRESETS, AttackSpec

OPTION = "corruption_baseline"


def add_corruption_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(f"--{OPTION}", default=None, metavar="CKPT",
                        help="a cl_robust checkpoint of the same data set: with corruptions in --attacks, it is scored "
                             "on the same corrupted images and the mean corruption error (mCE) relative to it is "
                             "reported")


def check_corruption_baseline(args: argparse.Namespace, attacks: list[AttackSpec], num_classes: int) -> None:
    """ConfigError unless the baseline (when given) can serve: corruptions are run, and it classifies the same data set."""
    path = getattr(args, OPTION, None)
    if path is None:
        return
    if not any(spec.kind == "corruption" for spec in attacks):
        raise ConfigError(f"{OPTION}: the mean corruption error needs corruptions in --attacks (e.g. --attacks clean "
                          "corruptions); none were asked for")
    baseline = load_classifier(path, option=OPTION)
    classes = int(getattr(baseline.model.hparams, "num_classes", 0) or baseline.metadata.get("num_classes") or 0)
    if baseline.dataset and baseline.dataset != args.dataset:
        raise ConfigError(f"{OPTION}: {path!r} was trained on {baseline.dataset}, but this evaluation is on {args.dataset}; "
                          f"mCE compares errors on the same corrupted images: give a baseline trained on {args.dataset}")
    if classes and classes != num_classes:
        raise ConfigError(f"{OPTION}: {path!r} is a {classes}-class classifier, but {args.dataset} has {num_classes} "
                          f"classes; give a baseline trained on {args.dataset}")


def corruption_section(args: argparse.Namespace, attacks: list[AttackSpec], datamodule: CIFARDataModule,
                       device: torch.device, results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``corruptions`` entry of the report, the baseline scored first when one is given (on every rank)."""
    specs = [spec for spec in attacks if spec.kind == "corruption"]
    if not specs:
        return None
    baseline = None
    path = getattr(args, OPTION, None)
    if path is not None:
        loaded: LoadedClassifier = load_classifier(path, option=OPTION)
        outcome = evaluate_robustness(loaded.model, datamodule.test_dataloader(), [PRESETS["clean"], *specs], device,
                                      loaded.metadata, seed=args.seed, show_progress=True)
        baseline = {"checkpoint": loaded.path, "results": outcome["results"]}
    return summarize(results, baseline)
