"""The original AutoAttack through ``cl-robust evaluate``'s code against ``pyautoattack`` called directly.

Ours: ``evaluate_robustness(model, batches, ["autoattack"], state_dir=...)``, what ``cl-robust
evaluate --attacks autoattack`` runs once the data is loaded: the suite, the per-batch
bookkeeping, the fingerprint and progress file that make a run resumable, AutoAttack's checks
as a record, the per-image outcome. Theirs: ``pyautoattack.AutoAttack(model, version="standard")
.run_standard_evaluation(images, labels, batch_size=...)``. Same model (a cl_robust backbone
and linear head, random weights, eval mode), same images, labels set to the model's own
predictions (so every image is attacked), same seed and chunk size; every round starts with an
empty progress folder. Each round runs both, the order swapped from one round to the next;
each figure is a median over rounds. The script also checks that both leave the same images
correctly classified.

    python benchmarks/evaluate.py            # standard version, 8 images of resnet_tiny: about 15 minutes on 2 CPU cores
    python benchmarks/evaluate.py --quick    # seconds: 8 images, 3 iterations, 20 Square queries

The last line is ``evaluate ratio: <ours / theirs seconds> (target 1.05)``; lower is better.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import cifar10_or_random, count, load_note, print_table, seconds  # noqa: E402


def make_model(backbone: str, seed: int = 0) -> nn.Module:
    """A supervised cl_robust module (backbone + linear head) with fresh weights, in eval mode."""
    from cl_robust.methods import SupervisedLearning

    torch.manual_seed(seed)
    return SupervisedLearning(backbone=backbone, num_classes=10).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet_tiny", help="cl_robust backbone (default resnet_tiny)")
    parser.add_argument("--images", type=count(), default=8, help="images attacked (default 8)")
    parser.add_argument("--batch-size", type=count(), default=4, help="AutoAttack's chunk size (default 4)")
    parser.add_argument("--eps", type=float, default=8 / 255, help="L-inf eps (default 8/255)")
    parser.add_argument("--iterations", type=count(), default=100,
                        help="APGD-CE / APGD-T / FAB-T iterations on both sides (default 100: the standard version)")
    parser.add_argument("--queries", type=count(), default=5000, help="Square queries on both sides (default 5000)")
    parser.add_argument("--rounds", type=count(), default=4, help="timed rounds (default 4)")
    parser.add_argument("--threads", type=count(), default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="8 images, 3 iterations, 20 queries, 1 round: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.images, args.batch_size, args.iterations, args.queries, args.rounds = 8, 4, 3, 20, 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    from cl_robust.evaluation.autoattack import standard_autoattack
    from cl_robust.evaluation.robustness import evaluate_robustness

    model = make_model(args.backbone)
    pixels, _, source = cifar10_or_random("test", args.images)
    images = pixels.float().div(255)
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    batches = [(images[i:i + args.batch_size], labels[i:i + args.batch_size])
               for i in range(0, len(labels), args.batch_size)]
    spec = f"autoattack:eps={args.eps}:steps={args.iterations}:queries={args.queries}"
    outcomes: dict[str, Tensor] = {}

    def ours() -> None:
        with tempfile.TemporaryDirectory() as folder:  # no progress to resume: the whole run every round
            outcome = evaluate_robustness(model, batches, [spec], seed=0, state_dir=Path(folder),
                                          autoattack_batch_size=args.batch_size)
        outcomes["ours"] = outcome["per_sample"].correct[spec]

    def theirs() -> None:
        attack = standard_autoattack(model, "linf", args.eps, seed=0, device="cpu", iterations=args.iterations,
                                     queries=args.queries)  # pyautoattack.AutoAttack(version="standard")
        _, predicted = attack.run_standard_evaluation(images, labels, batch_size=args.batch_size)
        outcomes["theirs"] = predicted == labels

    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    for round_index in range(args.rounds):  # ours first in even rounds, theirs first in odd ones
        for name, work in (("ours", ours), ("theirs", theirs))[:: 1 if round_index % 2 == 0 else -1]:
            times[name].append(seconds(work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    same = torch.equal(outcomes["ours"], outcomes["theirs"])
    print(f"AutoAttack standard, L-inf eps {args.eps:.4f}, {args.iterations} iterations, {args.queries} queries, "
          f"{args.backbone}, {args.images} images ({source}), chunks of {args.batch_size}, {args.threads} threads, "
          f"median of {args.rounds} rounds; {load_note()}")
    print_table(("seconds (lower is better)", "median", "min", "max"),
                [(label, *(f"{f(times[name]):.2f}" for f in (statistics.median, min, max)))
                 for name, label in (("ours", "ours: evaluate_robustness([autoattack])"),
                                     ("theirs", "theirs: pyautoattack run_standard_evaluation"))], (46, 9, 9, 9))
    print(f"robust images: ours {int(outcomes['ours'].sum())}, theirs {int(outcomes['theirs'].sum())}, "
          f"the same images: {'yes' if same else 'no'}")
    print(f"evaluate ratio: {medians['ours'] / medians['theirs']:.2f} (target 1.05)")


if __name__ == "__main__":
    main()
