"""What one ``cl-robust analyze`` reads, checked before any work: the models, the data, the layers, and the
settings of the adversarial inputs (L-inf PGD on the cross-entropy, random start, step eps / 4)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cl_robust.analysis.layer_selection import resolve_layers
from cl_robust.attacks import AttackConfig, parse_eps
from cl_robust.commands.checkpoint import LoadedClassifier
from cl_robust.commands.model_source import given, load_model
from cl_robust.commands.options import build_datamodule
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError


def attack_configs(values: Sequence[str], steps: int) -> list[AttackConfig]:
    if [v.lower() for v in values] == ["none"]:
        return []
    if steps < 1:
        raise ConfigError(f"attack_steps must be an integer >= 1; got {steps}")
    configs = []
    for value in values:
        eps = parse_eps(value, "adversarial")
        configs.append(AttackConfig(method="pgd", norm="linf", eps=eps, step_size=eps / 4 if eps > 0 else 1.0,
                                    steps=steps, random_start=True, bn_mode="eval"))
    return configs


#: The main model, the compared model (or None), the data module, and the layers of each.
Prepared = tuple[LoadedClassifier, "LoadedClassifier | None", CIFARDataModule, list[str], list[str]]


def prepare_inputs(args: argparse.Namespace) -> Prepared:
    """The models, the data and the layers (on the CPU); every bad input fails here."""
    datamodule = build_datamodule(args, per_class=None if args.no_probes else args.probe_train_per_class)
    main_model = load_model(args, datamodule)
    other_model = load_model(args, datamodule, "compare") if given(args, "compare") else None
    image_size = tuple(datamodule.test_set.images.shape[-2:])
    layers = resolve_layers(main_model.model, args.layers, image_size)
    other_layers = resolve_layers(other_model.model, args.layers, image_size) if other_model else []
    return main_model, other_model, datamodule, layers, other_layers


def full_batches(args: argparse.Namespace, datamodule: CIFARDataModule) -> int:
    """The test batches the CKA uses: full ones, at most ``--num_batches``."""
    full = len(datamodule.test_set) // args.batch_size  # type: ignore[arg-type]
    return full if args.num_batches is None else min(full, args.num_batches)
