"""``cl-robust evaluate``: clean and robust accuracy of a checkpoint or any classifier, as JSON, markdown and CSV.

    cl-robust evaluate --checkpoint runs/ft/last.ckpt --output results/ft
    cl-robust evaluate --checkpoint runs/ft/last.ckpt --attacks clean pgd20 pgd20:eps=4/255 autoattack \\
        --data.test_per_class 100 --output results/ft --devices 2 --wandb
    cl-robust evaluate --model mymodels:wide_resnet --model_args '{"depth": 28}' --weights robust.pt \\
        --output results/theirs

Writes ``robustness.json`` (every figure with its settings and 95% interval, the worst case
over the suite, the gradient-masking checks), ``robustness.md`` and ``per_sample.csv`` (which
attack broke which test image). The original AutoAttack keeps its progress under
``<output>/autoattack_state/``: the same command run again after an interruption resumes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cl_robust.commands.checkpoint import LoadedClassifier
from cl_robust.commands.distributed import check_devices, launch, rank_and_world
from cl_robust.commands.model_source import check_model_source, load_model
from cl_robust.commands.options import (
    CommandParser,
    add_common_arguments,
    build_datamodule,
    check_device_name,
    prepare_output_dir,
    resolve_device,
)
from cl_robust.commands.tracking import open_wandb_run
from cl_robust.commands.versions import versions
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError

from .corruption_baseline import add_corruption_arguments, check_corruption_baseline, corruption_section
from .estimate import estimate_line, seconds_per_pass
from .intervals import METHOD
from .per_sample import FILE_NAME
from .report import log_to_wandb, write_report
from .robustness import evaluate_robustness, split_batch
from .suite import (
    DEFAULT_ATTACKS,
    DEFAULT_SWEEP,
    PRESETS,
    SWEEP,
    AttackSpec,
    check_spec,
    parse_attacks,
    sweep_specs,
)

STATE_FOLDER = "autoattack_state"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="cl-robust evaluate", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--attacks", nargs="+", default=list(DEFAULT_ATTACKS),
                        help=f"attacks to run: {', '.join([*PRESETS, SWEEP])}, corruptions (CIFAR-10-C; names=..., severities=...); options as NAME:key=value:... "
                             "(eps, norm; step, steps, random_start for pgd / tm1; random_start for fgsm; steps, "
                             "queries for autoattack; queries for square), e.g. pgd20:eps=4/255 "
                             f"(default: {' '.join(DEFAULT_ATTACKS)})")
    parser.add_argument("--eps", nargs="+", default=list(DEFAULT_SWEEP),
                        help=f"L-inf eps values of {SWEEP}, as fractions such as 8/255 (default: {' '.join(DEFAULT_SWEEP)})")
    add_corruption_arguments(parser)
    return parser


def _prepare(args: argparse.Namespace) -> tuple[LoadedClassifier, CIFARDataModule]:
    datamodule = build_datamodule(args)
    return load_model(args, datamodule), datamodule


def _evaluate(device: torch.device, args: argparse.Namespace, attacks: list[AttackSpec], folder: Path,
              prepared: tuple[LoadedClassifier, CIFARDataModule] | None = None) -> None:
    """One rank's share of the evaluation; rank 0 writes the files."""
    loaded, datamodule = prepared or _prepare(args)
    torch.manual_seed(args.seed)
    outcome = evaluate_robustness(loaded.model, datamodule.test_dataloader(), attacks, device, loaded.metadata,
                                  seed=args.seed, state_dir=folder / STATE_FOLDER,
                                  autoattack_batch_size=args.batch_size, show_progress=True)
    corruptions = corruption_section(args, attacks, datamodule, device, outcome["results"])
    rank, world = rank_and_world()
    if rank != 0:
        return
    report: dict[str, Any] = {
        "checkpoint": {"path": loaded.path, "metadata": loaded.metadata, "note": loaded.note},
        "dataset": {"name": args.dataset, "split": "test", "test_per_class": args.test_per_class,
                    "images": outcome["total"], "batch_size": args.batch_size, "order_seed": args.order_seed,
                    **{key: value for key, value in datamodule.record().items()
                       if key in ("classes", "image_size", "resize", "resized")}},
        "device": str(device), "devices": world, "seed": args.seed, "versions": versions(), "interval": METHOD,
        "results": outcome["results"], "worst_case": [case.record() for case in outcome["worst_case"]],
        "masking": outcome["masking"], "per_sample": FILE_NAME,
        **({"corruptions": corruptions} if corruptions else {}),
    }
    if outcome["per_sample"] is not None:
        outcome["per_sample"].write_csv(folder / FILE_NAME, outcome["worst_case"])
    write_report(report, folder)
    if args.wandb:
        run = open_wandb_run(args.wandb_project, f"evaluate-{folder.name}",
                             {k: v for k, v in report.items() if k not in ("results", "worst_case", "masking", "corruptions")},
                             "evaluate")
        if run is not None:
            log_to_wandb(run, report)
            run.finish()


def check_arguments(args: argparse.Namespace) -> list[AttackSpec]:
    """Every option's domain, before any file is read; returns the attacks (ConfigError naming the option)."""
    check_device_name(args.device)
    check_model_source(args)
    if args.batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {args.batch_size}")
    if args.test_per_class is not None and args.test_per_class < 1:
        raise ConfigError(f"test_per_class must be an integer >= 1 or null (all images), got {args.test_per_class}")
    for spec in sweep_specs(args.eps):  # refuse eps 8 for 8/255 even when the sweep is not run
        check_spec(spec)
    return parse_attacks(args.attacks, sweep=args.eps)


def announce_estimate(prepared: tuple[LoadedClassifier, CIFARDataModule], attacks: list[AttackSpec],
                      device: torch.device, devices: int) -> None:
    """On a CPU, one line on stderr with the suite's estimated time and how to shrink it (when it is long)."""
    if device.type != "cpu":
        return
    loaded, datamodule = prepared
    loader = datamodule.test_dataloader()
    images = len(loader.dataset)  # type: ignore[arg-type]
    if images == 0:
        return
    batch = next(iter(loader))
    inputs, labels = split_batch(batch, device)
    model = loaded.model.to(device)
    per_pass = seconds_per_pass(model, inputs, labels)
    with torch.no_grad():
        clean_accuracy = float((model(inputs).argmax(dim=1) == labels).float().mean())
    line = estimate_line(attacks, -(-images // devices), per_pass, str(device), clean_accuracy,
                         datamodule.test_per_class)
    if line is not None:
        print(f"cl-robust: evaluate: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    """Run the evaluation; returns the exit status."""
    args = build_parser().parse_args(list(argv))
    attacks = check_arguments(args)
    device = resolve_device(args.device)
    folder = prepare_output_dir(args.output)
    prepared = _prepare(args)
    check_corruption_baseline(args, attacks, prepared[1].num_classes)
    check_devices(args.devices, device, len(prepared[1].test_dataloader()))
    announce_estimate(prepared, attacks, device, args.devices)
    if args.devices == 1:
        _evaluate(device, args, attacks, folder, prepared)
    else:
        launch(_evaluate, args.devices, device, args, attacks, folder)
    markdown_path = folder / "robustness.md"
    print(markdown_path.read_text())
    print(f"wrote {folder / 'robustness.json'}, {markdown_path} and {folder / FILE_NAME}")
    return 0
