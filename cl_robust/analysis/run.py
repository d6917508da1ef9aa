"""One rank's share of a ``cl-robust analyze``: its test batches through the model (clean, adversarial),
the untrained baselines and the compared model, the CKA metrics reduced across ranks; rank 0 adds the
probes and writes ``analysis.json``, the figures and the optional W&B run."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cl_robust.analysis.baseline import untrained_baselines
from cl_robust.analysis.feature_pass import feature_pass
from cl_robust.analysis.figures import draw_figures
from cl_robust.analysis.inputs import Prepared, attack_configs, full_batches, prepare_inputs
from cl_robust.analysis.layer_selection import recorder_for
from cl_robust.analysis.layers import LayerRecorder
from cl_robust.analysis.reference_layers import REFERENCE, ReferenceRecorder, reference_layers
from cl_robust.analysis.reference_statistic import ReferenceStatistic
from cl_robust.analysis.report import Accumulators, build_report, cka_entry, probe_report, untrained_report
from cl_robust.attacks import cross_entropy_attack
from cl_robust.attacks.state import seeded
from cl_robust.commands.distributed import gather_rows, owned_batches, rank_and_world
from cl_robust.commands.progress import image_bar
from cl_robust.commands.tracking import open_wandb_run
from cl_robust.data.augment import to_float
from cl_robust.methods.performance import use_channels_last


def _features(recorder: LayerRecorder | ReferenceRecorder, model: torch.nn.Module, images: Tensor, precision: str) -> list[Tensor]:
    feature_pass(model, images, precision)
    return recorder.features()  # any float dtype: the Grams convert (gram_linear)


def analyze_share(device: torch.device, args: argparse.Namespace, folder: Path, prepared: Prepared | None = None) -> None:
    """One rank's share of the batches; CKA sums and per-batch terms are reduced across ranks, rank 0 writes."""
    main_model, other_model, datamodule, layers, other_layers = prepared or prepare_inputs(args)
    attacks = attack_configs(args.adversarial, args.attack_steps)
    attack_labels = [f"eps={value}" for value in args.adversarial] if attacks else []
    main_model.model.to(device)
    if other_model is not None:
        other_model.model.to(device)
    baseline_seed = main_model.seed if main_model.seed is not None else args.seed
    baselines = {} if args.no_baseline else untrained_baselines(
        main_model.model, baseline_seed, to_float(datamodule.train_set.images[:args.baseline_bn_images]).to(device),
        args.batch_size, main_model.fresh)
    others = [other_model.model] if other_model is not None else []
    for analysed in (main_model.model, *others, *baselines.values()):
        # NHWC convolutions: forward passes 1.2x (our CIFAR ResNet-18) to 1.7x (torchvision's) faster on
        # a CPU in float32; values change only by float rounding. The models are this command's own copies.
        use_channels_last(analysed)
    torch.manual_seed(args.seed)
    total, (rank, _) = full_batches(args, datamodule), rank_and_world()
    mine = owned_batches(total)

    passes = ["clean", *(f"untrained ({name})" for name in baselines),
              *(f"PGD {label} ({args.attack_steps} steps)" for label in attack_labels), *(["compare"] * bool(other_model))]
    bar = image_bar(len(mine) * args.batch_size, "analyze", rank == 0)  # full batches only
    bar.set_postfix_str(", ".join(passes), refresh=False)
    metrics = Accumulators(len(layers), len(other_layers) or None, attack_labels, list(baselines))
    kept_images, kept_labels, kept_adversarial = [], [], []
    model = main_model.model
    reference = None if args.no_reference or args.layers == REFERENCE else ReferenceStatistic(
        reference_layers(model, tuple(datamodule.test_set.images.shape[-2:])), ["clean", *attack_labels, *baselines])
    baseline_recorders = {name: recorder_for(untrained, layers, args.layers) for name, untrained in baselines.items()}
    reference_recorders = {name: reference.recorder(untrained) for name, untrained in baselines.items()} if reference else {}
    with recorder_for(model, layers, args.layers) as recorder, \
            (reference.recorder(model) if reference else contextlib.nullcontext()) as reference_recorder:
        recorder_other = recorder_for(other_model.model, other_layers, args.layers) if other_model else None
        for index, (images, labels) in enumerate(datamodule.test_dataloader()):
            if index >= total:
                break
            if index not in mine:
                continue
            images, labels = to_float(images.to(device)), labels.to(device)
            clean = _features(recorder, model, images, args.precision)
            metrics.clean.update(clean)
            if reference:
                reference.update("clean", reference_recorder.features())
            for name, untrained in baselines.items():
                with baseline_recorders[name] as baseline_recorder, \
                        reference_recorders.get(name, contextlib.nullcontext()) as baseline_reference:
                    metrics.untrained[name].update(_features(baseline_recorder, untrained, images, args.precision))
                    if reference:
                        reference.update(name, baseline_reference.features())
            for label, config in zip(attack_labels, attacks, strict=True):
                with seeded(args.seed, index, label, device=device):  # the same random start on any rank
                    adversarial_images = cross_entropy_attack(model, images, labels, config)
                adversarial = _features(recorder, model, adversarial_images, args.precision)
                metrics.adversarial[label].update(adversarial)
                if reference:
                    reference.update(label, reference_recorder.features())
                metrics.clean_vs_adversarial[label].update(clean, adversarial)
                if label == attack_labels[0]:
                    kept_adversarial.append(adversarial_images.cpu())
            if recorder_other is not None and other_model is not None:
                with recorder_other:
                    other = _features(recorder_other, other_model.model, images, args.precision)
                metrics.between.update(clean, other)  # type: ignore[union-attr]
                metrics.other.update(other)  # type: ignore[union-attr]
            kept_images.append(images.cpu())
            kept_labels.append(labels.cpu())
            bar.update(len(labels))
    bar.close()
    # Every rank computes the reports: the metrics' sums and per-batch terms are reduced across ranks there.
    report = build_report(args, main_model, other_model, layers, other_layers, metrics, attack_labels, device)
    report["data"] = datamodule.record()  # class names, image size, images resized (--data.resize)
    if baselines:
        report["untrained"] = untrained_report(args, metrics, baseline_seed, report["clean"]["redundancy"],
                                                min(args.baseline_bn_images, len(datamodule.train_set)))
    if reference:
        report["reference"] = reference.report(lambda metric: cka_entry(metric, args), attack_labels, baselines)
    kept_images, kept_labels = [gather_rows(torch.cat(kept_images))], [gather_rows(torch.cat(kept_labels))]
    kept_adversarial = [gather_rows(torch.cat(kept_adversarial))] if kept_adversarial else []
    if rank != 0:
        return
    if not args.no_probes:
        report["probes"] = probe_report(args, datamodule, main_model, layers, kept_images, kept_labels, kept_adversarial,
                                   attack_labels, device)
    figures = [] if args.no_figures else draw_figures(report, folder)
    report["figures"] = [path.name for path in figures]
    (folder / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.wandb:
        log_to_wandb(args, folder, report, figures)


def log_to_wandb(args: argparse.Namespace, folder: Path, report: dict[str, Any], figures: list[Path]) -> None:
    run = open_wandb_run(args.wandb_project, f"analyze-{folder.name}", report["settings"], "analyze")
    if run is None:
        return
    import wandb

    scores = {f"redundancy/clean/{k}": v for k, v in (report["clean"]["redundancy"] or {}).items()}
    for label, entry in report["adversarial"].items():
        scores.update({f"redundancy/{label}/{k}": v for k, v in (entry["redundancy"] or {}).items()})
    run.log({**scores, **{f"figures/{path.stem}": wandb.Image(str(path)) for path in figures}})
    run.finish()
