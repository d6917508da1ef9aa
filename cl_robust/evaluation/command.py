"""``cl-robust evaluate``: clean and robust accuracy of a checkpoint, written as JSON and markdown.

    cl-robust evaluate --checkpoint runs/ft/last.ckpt --output results/ft
    cl-robust evaluate --checkpoint runs/ft/last.ckpt --attacks clean pgd20 pgd20:eps=4/255 autoattack \\
        --data.test_per_class 100 --output results/ft --wandb
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch

from .checkpoint import load_classifier
from .options import CommandParser, add_common_arguments, build_datamodule, prepare_output_dir, resolve_device
from .report import log_to_wandb, versions, write_report
from .robustness import evaluate_robustness
from .suite import DEFAULT_ATTACKS, DEFAULT_SWEEP, PRESETS, SWEEP, check_spec, parse_attacks, sweep_specs
from .tracking import open_wandb_run


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="cl-robust evaluate", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--attacks", nargs="+", default=list(DEFAULT_ATTACKS),
                        help=f"attacks to run: {', '.join([*PRESETS, SWEEP])}; options as NAME:key=value:... "
                             "(eps, step, steps, norm, random_start), e.g. pgd20:eps=4/255 "
                             f"(default: {' '.join(DEFAULT_ATTACKS)})")
    parser.add_argument("--eps", nargs="+", default=list(DEFAULT_SWEEP),
                        help=f"L-inf eps values of {SWEEP}, as fractions such as 8/255 (default: {' '.join(DEFAULT_SWEEP)})")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the evaluation; returns the exit status."""
    args = build_parser().parse_args(list(argv))
    for spec in sweep_specs(args.eps):  # refuse eps 8 for 8/255 even when the sweep is not run
        check_spec(spec)
    attacks = parse_attacks(args.attacks, sweep=args.eps)
    device = resolve_device(args.device)
    folder = prepare_output_dir(args.output)
    loaded = load_classifier(args.checkpoint)
    datamodule = build_datamodule(args)
    torch.manual_seed(args.seed)
    outcome = evaluate_robustness(loaded.model, datamodule.test_dataloader(), attacks, device, loaded.metadata)
    report: dict[str, Any] = {
        "checkpoint": {"path": loaded.path, "metadata": loaded.metadata, "note": loaded.note},
        "dataset": {"name": args.dataset, "split": "test", "test_per_class": args.test_per_class,
                    "images": outcome["total"], "batch_size": args.batch_size, "order_seed": args.order_seed},
        "device": str(device), "seed": args.seed, "versions": versions(), "results": outcome["results"],
    }
    json_path, markdown_path = write_report(report, folder)
    if args.wandb:
        run = open_wandb_run(args.wandb_project, f"evaluate-{folder.name}", {k: v for k, v in report.items()
                                                                            if k != "results"}, "evaluate")
        if run is not None:
            log_to_wandb(run, report)
            run.finish()
    print(markdown_path.read_text())
    print(f"wrote {json_path} and {markdown_path}")
    return 0
