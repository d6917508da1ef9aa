"""``cl-robust analyze``: layer x layer CKA on clean and adversarial inputs, redundancy, probes, figures.

    cl-robust analyze --checkpoint runs/cl_at/last.ckpt --output analysis/cl_at
    cl-robust analyze --checkpoint runs/cl/last.ckpt --compare runs/sl/last.ckpt --layers all \\
        --num_batches 10 --adversarial 4/255 8/255 --output analysis/cl_vs_sl --wandb
    cl-robust analyze --model torchvision:resnet18 --model_args '{"num_classes": 10}' --weights theirs.pt \\
        --compare runs/sl/last.ckpt --layers 'layer*.?' --output analysis/theirs_vs_sl

CKA is the unbiased minibatch estimator of Nguyen, Raghu & Kornblith (2021) over equal-size
batches of the test split (a last, smaller batch is left out), in a seeded random order
(--order_seed), so each batch is a random sample whatever order the data is stored in; every
matrix and redundancy mean gets a bootstrap interval over those batches. Adversarial inputs are
L-inf PGD on the cross-entropy end to end (Madry et al. 2018), random start, step eps / 4.
The same statistics are computed for the untrained network of the same architecture and seed,
with BatchNorm as initialised and re-estimated on training images: the baseline a redundancy
figure must be read against.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cl_robust.analysis.baseline import BASELINES, untrained_baselines
from cl_robust.analysis.bootstrap import RESAMPLES, bootstrap_cka
from cl_robust.analysis.cka import MIN_BATCH_SIZE, MinibatchCKA, cka_diagonal
from cl_robust.analysis.feature_pass import FEATURE_PRECISIONS, feature_pass
from cl_robust.analysis.headline import describe_model, headline
from cl_robust.analysis.layer_selection import display_name, recorder_for, resolve_layers
from cl_robust.analysis.layers import LayerRecorder
from cl_robust.analysis.plots import cka_heatmaps, layer_curves, redundancy_title
from cl_robust.analysis.probes import layer_probes, probe_curves
from cl_robust.analysis.redundancy import redundancy_scores
from cl_robust.analysis.reference_layers import REFERENCE, ReferenceRecorder, reference_layers
from cl_robust.analysis.reference_statistic import ReferenceStatistic
from cl_robust.attacks import AttackConfig, cross_entropy_attack, parse_eps
from cl_robust.attacks.state import seeded
from cl_robust.commands.checkpoint import LoadedClassifier
from cl_robust.commands.distributed import (
    check_devices,
    gather_rows,
    launch,
    owned_batches,
    rank_and_world,
    sum_over_ranks,
)
from cl_robust.commands.model_source import check_model_source, given, load_model
from cl_robust.commands.options import (
    CommandParser,
    add_common_arguments,
    add_model_arguments,
    build_datamodule,
    check_device_name,
    prepare_output_dir,
    resolve_device,
)
from cl_robust.commands.progress import image_bar
from cl_robust.commands.tracking import open_wandb_run
from cl_robust.commands.versions import versions
from cl_robust.data.augment import to_float
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods.performance import use_channels_last


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="cl-robust analyze", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--compare", default=None, help="a second checkpoint: CKA between the two models")
    add_model_arguments(parser, "compare_", "a second model (instead of --compare)")
    parser.add_argument("--layers", default="blocks",
                        help="'blocks' (residual-block outputs, pooled features, logits), 'all' (every module "
                             "on the forward path), 'reference' (torch_cka's set, as the reference study used it: "
                             "every named module, containers included) or a comma-separated list of module names "
                             "and glob patterns over them ('layer*.?': '*' within one dotted part, '**' across parts)")
    parser.add_argument("--no_reference", action="store_true",
                        help="skip the reference study's statistic (mean of the whole CKA matrix over torch_cka's "
                             "layer set), otherwise computed beside --layers in the same forward passes")
    parser.add_argument("--num_batches", type=int, default=None, help="test batches to use (default: all full ones)")
    parser.add_argument("--adversarial", nargs="*", default=["8/255"],
                        help="L-inf eps values of the adversarial inputs, e.g. 4/255 8/255; none for clean only")
    parser.add_argument("--attack_steps", type=int, default=10, help="PGD steps of the adversarial inputs")
    parser.add_argument("--precision", choices=FEATURE_PRECISIONS, default="32",
                        help="precision of the forward passes that record CKA features: 32 (default) or bf16 "
                             "(autocast, channels_last images; 2-4x faster where bf16 is native; on a CIFAR-10 "
                             "ResNet-18 the CKA moved by at most 6e-4, benchmarks/cka_precision.py measures it; "
                             "attacks and probes stay float32)")
    parser.add_argument("--threshold", type=float, default=0.9, help="CKA above which layers count as redundant")
    parser.add_argument("--no_probes", action="store_true", help="skip the per-layer linear probes")
    parser.add_argument("--probe_train_per_class", type=int, default=50,
                        help="training images per class for the probes")
    parser.add_argument("--no_baseline", action="store_true",
                        help="skip the untrained network's CKA (the baseline of every redundancy figure)")
    parser.add_argument("--baseline_bn_images", type=int, default=1000,
                        help="training images on which the untrained network's BatchNorm statistics are re-estimated")
    parser.add_argument("--bootstrap", type=int, default=RESAMPLES,
                        help=f"bootstrap resamples of the test batches for the CKA intervals; 0 for none (default: {RESAMPLES})")
    return parser


def _attack_configs(values: Sequence[str], steps: int) -> list[AttackConfig]:
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


def _matrix(values: Tensor) -> list[list[float | None]]:
    """A CKA matrix as JSON lists (NaN -> null)."""
    return [[None if math.isnan(v) else v for v in row] for row in values.tolist()]


def _scores(values: Tensor, threshold: float) -> dict[str, float] | None:
    try:
        return redundancy_scores(values, threshold)
    except ConfigError:  # NaN entries: a constant layer
        return None


def _entry(metric: MinibatchCKA, args: argparse.Namespace) -> dict[str, Any]:
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


def _untrained_report(args: argparse.Namespace, metrics: _Accumulators, seed: int,
                      trained: dict[str, float] | None, bn_images: int) -> dict[str, Any]:
    """The untrained baselines' CKA (clean inputs) and the trained model's change from each."""
    report: dict[str, Any] = {
        "seed": seed, "inputs": "clean", "bn_images": bn_images,
        "note": "the same architecture initialised with the same seed, never trained: init_bn with BatchNorm's "
                "initial statistics, reestimated_bn with them re-estimated on training images",
    }
    for name, metric in metrics.untrained.items():
        entry = _entry(metric, args)
        baseline = entry["redundancy"]
        entry["change"] = None if trained is None or baseline is None else {
            score: trained[score] - baseline[score] for score in CHANGED_SCORES}
        report[name] = entry
    return report


def _title(name: str, scores: dict[str, float] | None) -> str:
    return name if scores is None else f"{name}\n{redundancy_title(scores)}"


class _Accumulators:
    """Every CKA metric of one analysis, updated batch by batch."""

    def __init__(self, layers: int, compare_layers: int | None, labels: Sequence[str], baselines: Sequence[str],
                 ) -> None:
        self.clean = MinibatchCKA(layers, keep_batch_terms=True)
        self.adversarial = {label: MinibatchCKA(layers, keep_batch_terms=True) for label in labels}
        self.clean_vs_adversarial = {label: MinibatchCKA(layers, layers) for label in labels}
        self.between = MinibatchCKA(layers, compare_layers) if compare_layers else None
        self.other = MinibatchCKA(compare_layers) if compare_layers else None
        self.untrained = {name: MinibatchCKA(layers, keep_batch_terms=True) for name in baselines}


def _features(recorder: LayerRecorder | ReferenceRecorder, model: torch.nn.Module, images: Tensor, precision: str) -> list[Tensor]:
    feature_pass(model, images, precision)
    return recorder.features()  # any float dtype: the Grams convert (gram_linear)


def check_arguments(args: argparse.Namespace) -> None:
    """Every option's domain, before any file is read (ConfigError naming the option)."""
    check_device_name(args.device)
    check_model_source(args)
    check_model_source(args, "compare", required=False)
    if args.batch_size < MIN_BATCH_SIZE:
        raise ConfigError(f"batch_size must be >= {MIN_BATCH_SIZE} for the unbiased CKA estimator "
                          f"(HSIC_1 divides by n - 3); got {args.batch_size}")
    if args.num_batches is not None and args.num_batches < 1:
        raise ConfigError(f"num_batches must be an integer >= 1; got {args.num_batches}")
    if args.bootstrap < 0:
        raise ConfigError(f"bootstrap must be an integer >= 0 (0: no intervals); got {args.bootstrap}")
    if args.baseline_bn_images < 1:
        raise ConfigError(f"baseline_bn_images must be an integer >= 1; got {args.baseline_bn_images}")
    _attack_configs(args.adversarial, args.attack_steps)
    if not 0 <= args.threshold <= 1:
        raise ConfigError(f"threshold must be a number in [0, 1] (CKA lies in [0, 1]); got {args.threshold:g}")
    if args.probe_train_per_class < 1:
        raise ConfigError(f"probe_train_per_class must be an integer >= 1 (training images per class of the "
                          f"probes; --no_probes skips them); got {args.probe_train_per_class}")


def main(argv: Sequence[str]) -> int:
    """Run the analysis; returns the exit status."""
    args = build_parser().parse_args(list(argv))
    check_arguments(args)
    device = resolve_device(args.device)
    folder = prepare_output_dir(args.output)
    prepared = _prepare(args)
    batches = _full_batches(args, prepared[2])
    if batches == 0:
        raise ConfigError(f"batch_size={args.batch_size} is larger than the test set; lower it or raise "
                          "data.test_per_class")
    check_devices(args.devices, device, batches)
    if args.devices == 1:
        _analyze(device, args, folder, prepared)
    else:
        launch(_analyze, args.devices, device, args, folder)
    report = json.loads((folder / "analysis.json").read_text())
    print(headline(report))
    print(f"wrote {folder / 'analysis.json'} and {len(report['figures'])} figures to {folder}")
    return 0


Prepared = tuple[LoadedClassifier, "LoadedClassifier | None", CIFARDataModule, list[str], list[str]]


def _prepare(args: argparse.Namespace) -> Prepared:
    """The models, the data and the layers (on the CPU); every bad input fails here."""
    datamodule = build_datamodule(args, per_class=None if args.no_probes else args.probe_train_per_class)
    main_model = load_model(args, datamodule)
    other_model = load_model(args, datamodule, "compare") if given(args, "compare") else None
    image_size = tuple(datamodule.test_set.images.shape[-2:])
    layers = resolve_layers(main_model.model, args.layers, image_size)
    other_layers = resolve_layers(other_model.model, args.layers, image_size) if other_model else []
    return main_model, other_model, datamodule, layers, other_layers


def _full_batches(args: argparse.Namespace, datamodule: CIFARDataModule) -> int:
    """The test batches the CKA uses: full ones, at most ``--num_batches``."""
    full = len(datamodule.test_set) // args.batch_size  # type: ignore[arg-type]
    return full if args.num_batches is None else min(full, args.num_batches)


def _analyze(device: torch.device, args: argparse.Namespace, folder: Path, prepared: Prepared | None = None) -> None:
    """One rank's share of the batches; CKA sums and per-batch terms are reduced across ranks, rank 0 writes."""
    main_model, other_model, datamodule, layers, other_layers = prepared or _prepare(args)
    attacks = _attack_configs(args.adversarial, args.attack_steps)
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
    total, (rank, _) = _full_batches(args, datamodule), rank_and_world()
    mine = owned_batches(total)

    passes = ["clean", *(f"untrained ({name})" for name in baselines),
              *(f"PGD {label} ({args.attack_steps} steps)" for label in attack_labels), *(["compare"] * bool(other_model))]
    bar = image_bar(len(mine) * args.batch_size, "analyze", rank == 0)  # full batches only
    bar.set_postfix_str(", ".join(passes), refresh=False)
    metrics = _Accumulators(len(layers), len(other_layers) or None, attack_labels, list(baselines))
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
    report = _report(args, main_model, other_model, layers, other_layers, metrics, attack_labels, device)
    report["data"] = datamodule.record()  # class names, image size, images resized (--data.resize)
    if baselines:
        report["untrained"] = _untrained_report(args, metrics, baseline_seed, report["clean"]["redundancy"],
                                                min(args.baseline_bn_images, len(datamodule.train_set)))
    if reference:
        report["reference"] = reference.report(lambda metric: _entry(metric, args), attack_labels, baselines)
    kept_images, kept_labels = [gather_rows(torch.cat(kept_images))], [gather_rows(torch.cat(kept_labels))]
    kept_adversarial = [gather_rows(torch.cat(kept_adversarial))] if kept_adversarial else []
    if rank != 0:
        return
    if not args.no_probes:
        report["probes"] = _probes(args, datamodule, main_model, layers, kept_images, kept_labels, kept_adversarial,
                                   attack_labels, device)
    figures = _figures(report, folder)
    report["figures"] = [path.name for path in figures]
    (folder / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.wandb:
        _log_wandb(args, folder, report, figures)


def _report(args: argparse.Namespace, main_model: LoadedClassifier, other_model: LoadedClassifier | None,
            layers: list[str], other_layers: list[str], metrics: _Accumulators, attack_labels: list[str],
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
        "clean": _entry(metrics.clean, args),
        "adversarial": {},
    }
    for label in attack_labels:
        diagonal = cka_diagonal(metrics.clean_vs_adversarial[label].compute())
        report["adversarial"][label] = {
            **_entry(metrics.adversarial[label], args),
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


def _probes(args: argparse.Namespace, datamodule: Any, main_model: LoadedClassifier, layers: list[str],
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


def _figures(report: dict[str, Any], folder: Path) -> list[Path]:
    labels = [display_name(name) for name in report["layers"]]
    panels = {_title("clean", report["clean"]["redundancy"]): _nan_matrix(report["clean"]["cka"])}
    for label, entry in report["adversarial"].items():
        panels[_title(f"adversarial ({label})", entry["redundancy"])] = _nan_matrix(entry["cka"])
    untrained = report.get("untrained") or {}
    for name in BASELINES:
        if name in untrained:
            caption = {"init_bn": "untrained, BN as initialised", "reestimated_bn": "untrained, BN re-estimated"}[name]
            panels[_title(caption, untrained[name]["redundancy"])] = _nan_matrix(untrained[name]["cka"])
    name = describe_model(report["checkpoint"]["metadata"], report["checkpoint"]["path"])
    figures = [cka_heatmaps(panels, labels, title=f"Layer x layer CKA ({name})", path=folder / "cka_layers.png")]
    if report["adversarial"]:
        series = {label: [math.nan if v is None else v for v in entry["clean_vs_adversarial"]]
                  for label, entry in report["adversarial"].items()}
        figures.append(layer_curves(series, labels, "CKA(clean, adversarial)", "Per-layer CKA, clean vs adversarial",
                                    folder / "cka_clean_vs_adversarial.png"))
    if "compare" in report:
        other_labels = [display_name(n) for n in report["compare"]["layers"]]
        figures.append(cka_heatmaps({"between models": _nan_matrix(report["compare"]["cka_between"])}, labels,
                                    other_labels, title="CKA between models (clean inputs)",
                                    path=folder / "cka_between_models.png", ylabel="layer (checkpoint)",
                                    xlabel="layer (compare)"))
        figures.append(cka_heatmaps({_title("compare", report["compare"]["redundancy"]):
                                     _nan_matrix(report["compare"]["cka"])}, other_labels,
                                    title="Layer x layer CKA (compare model)", path=folder / "cka_layers_compare.png"))
    if "probes" in report:
        series = probe_curves(report["probes"], report["settings"]["attack"]["steps"])
        figures.append(layer_curves(series, labels, "probe accuracy", "Per-layer linear probes",
                                    folder / "probes.png"))
    return figures


def _nan_matrix(rows: list[list[float | None]]) -> list[list[float]]:
    return [[math.nan if v is None else v for v in row] for row in rows]


def _log_wandb(args: argparse.Namespace, folder: Path, report: dict[str, Any], figures: list[Path]) -> None:
    run = open_wandb_run(args.wandb_project, f"analyze-{folder.name}", report["settings"], "analyze")
    if run is None:
        return
    import wandb

    scores = {f"redundancy/clean/{k}": v for k, v in (report["clean"]["redundancy"] or {}).items()}
    for label, entry in report["adversarial"].items():
        scores.update({f"redundancy/{label}/{k}": v for k, v in (entry["redundancy"] or {}).items()})
    run.log({**scores, **{f"figures/{path.stem}": wandb.Image(str(path)) for path in figures}})
    run.finish()
