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
import json
from collections.abc import Sequence

from cl_robust.analysis.bootstrap import RESAMPLES
from cl_robust.analysis.cka import MIN_BATCH_SIZE
from cl_robust.analysis.feature_pass import FEATURE_PRECISIONS
from cl_robust.analysis.headline import headline
from cl_robust.analysis.inputs import attack_configs, full_batches, prepare_inputs
from cl_robust.analysis.run import analyze_share
from cl_robust.commands.distributed import check_devices, launch
from cl_robust.commands.model_source import check_model_source
from cl_robust.commands.options import (
    CommandParser,
    add_common_arguments,
    add_model_arguments,
    check_device_name,
    prepare_output_dir,
    resolve_device,
)
from cl_robust.errors import ConfigError


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
    parser.add_argument("--no_figures", action="store_true",
                        help="write analysis.json only, without its figures (every number they draw is in it): "
                             "drawing them was about 40%% of a tiny model's analysis")
    parser.add_argument("--probe_train_per_class", type=int, default=50,
                        help="training images per class for the probes")
    parser.add_argument("--no_baseline", action="store_true",
                        help="skip the untrained network's CKA (the baseline of every redundancy figure)")
    parser.add_argument("--baseline_bn_images", type=int, default=1000,
                        help="training images on which the untrained network's BatchNorm statistics are re-estimated")
    parser.add_argument("--bootstrap", type=int, default=RESAMPLES,
                        help=f"bootstrap resamples of the test batches for the CKA intervals; 0 for none (default: {RESAMPLES})")
    return parser


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
    attack_configs(args.adversarial, args.attack_steps)
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
    prepared = prepare_inputs(args)
    batches = full_batches(args, prepared[2])
    if batches == 0:
        raise ConfigError(f"batch_size={args.batch_size} is larger than the test set; lower it or raise "
                          "data.test_per_class")
    check_devices(args.devices, device, batches)
    if args.devices == 1:
        analyze_share(device, args, folder, prepared)
    else:
        launch(analyze_share, args.devices, device, args, folder)
    report = json.loads((folder / "analysis.json").read_text())
    print(headline(report))
    print(f"wrote {folder / 'analysis.json'} and {len(report['figures'])} figures to {folder}")
    return 0
