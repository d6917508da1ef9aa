"""``cl-robust evaluate``'s code against the attack libraries called directly: PGD (torchattacks) and AutoAttack (pyautoattack).

Ours: ``evaluate_robustness(model, batches, [spec], state_dir=...)``, what ``cl-robust evaluate``
runs once the data is loaded: the suite, the per-batch seeding and bookkeeping, the exact counts,
the per-image outcome; for AutoAttack also the fingerprint and progress file that make a run
resumable and AutoAttack's checks as a record. Theirs: ``torchattacks.PGD(model, ...)`` over the
same batches, and ``pyautoattack.AutoAttack(model, version="standard").run_standard_evaluation(
images, labels, batch_size=...)``. Same model, images, labels set to the model's own predictions
(so every image is attacked), seed and chunk size; every round starts with an empty progress
folder. Each round runs both sides of both comparisons, the order swapped from one round to the
next; each figure is a median over rounds. The script also checks that both sides leave the same
images correctly classified.

The model is by default a cl_robust module (``--backbone``); ``--model SPEC`` takes one the library
did not define, as ``cl-robust evaluate --model`` does (``torchvision:resnet18``, ``timm:NAME``,
``package.module:callable``; ``--model_args`` its keyword arguments, default 10 classes).

    python benchmarks/evaluate.py            # standard version, 8 images of resnet_tiny: about 15 minutes on 2 CPU cores
    python benchmarks/evaluate.py --model torchvision:resnet18 --iterations 10 --queries 100   # a foreign model
    python benchmarks/evaluate.py --quick    # seconds: 8 images, 3 iterations, 20 Square queries, PGD-3

The last line is ``evaluate ratio: <ours / theirs seconds, the larger of PGD's and AutoAttack's>
(target 1.05)``; lower is better.
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


def make_model(backbone: str, model: str | None = None, model_args: str = '{"num_classes": 10}',
               seed: int = 0) -> tuple[nn.Module, str]:
    """The model attacked, with fresh weights, in eval mode, and its description: a cl_robust module
    (``backbone`` + linear head), or the module ``model`` names (not cl_robust's: ``torchvision:resnet18``)."""
    torch.manual_seed(seed)
    if model is not None:
        from cl_robust.commands.foreign_model import parse_model_args
        from cl_robust.models.foreign import build_module

        return build_module(model, parse_model_args(model_args), option="--model").eval(), f"{model} (foreign)"
    from cl_robust.methods import SupervisedLearning

    return SupervisedLearning(backbone=backbone, num_classes=10).eval(), f"{backbone} (cl_robust)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet_tiny", help="cl_robust backbone (default resnet_tiny)")
    parser.add_argument("--model", default=None,
                        help="a model cl_robust did not define instead: torchvision:NAME, timm:NAME or package.module:callable")
    parser.add_argument("--model_args", default='{"num_classes": 10}', help="keyword arguments of --model (JSON)")
    parser.add_argument("--images", type=count(), default=8, help="images attacked (default 8)")
    parser.add_argument("--batch-size", type=count(), default=4, help="batch and AutoAttack chunk size (default 4)")
    parser.add_argument("--eps", type=float, default=8 / 255, help="L-inf eps (default 8/255)")
    parser.add_argument("--iterations", type=count(), default=100,
                        help="APGD-CE / APGD-T / FAB-T iterations on both sides (default 100: the standard version)")
    parser.add_argument("--queries", type=count(), default=5000, help="Square queries on both sides (default 5000)")
    parser.add_argument("--pgd-steps", type=count(), default=20, help="PGD steps on both sides (default 20)")
    parser.add_argument("--rounds", type=count(), default=4, help="timed rounds (default 4)")
    parser.add_argument("--threads", type=count(), default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="8 images, 3 iterations, 20 queries, PGD-3, 1 round: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.images, args.batch_size, args.iterations, args.queries, args.rounds = 8, 4, 3, 20, 1
        args.pgd_steps = 3
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    import torchattacks

    from cl_robust.evaluation.autoattack import standard_autoattack
    from cl_robust.evaluation.robustness import evaluate_robustness

    model, described = make_model(args.backbone, args.model, args.model_args)
    pixels, _, source = cifar10_or_random("test", args.images)
    images = pixels.float().div(255)
    with torch.no_grad():
        labels = model(images).argmax(dim=1)
    batches = [(images[i:i + args.batch_size], labels[i:i + args.batch_size])
               for i in range(0, len(labels), args.batch_size)]
    step = 2 / 255
    specs = {"autoattack": f"autoattack:eps={args.eps}:steps={args.iterations}:queries={args.queries}",
             "pgd": f"pgd20:eps={args.eps}:steps={args.pgd_steps}:step={step}:random_start=false"}
    outcomes: dict[str, Tensor] = {}

    def ours(kind: str) -> None:
        with tempfile.TemporaryDirectory() as folder:  # no progress to resume: the whole run every round
            outcome = evaluate_robustness(model, batches, [specs[kind]], seed=0, state_dir=Path(folder),
                                          autoattack_batch_size=args.batch_size)
        outcomes[f"ours {kind}"] = outcome["per_sample"].correct[specs[kind]]

    def theirs_autoattack() -> None:
        attack = standard_autoattack(model, "linf", args.eps, seed=0, device="cpu", iterations=args.iterations,
                                     queries=args.queries)  # pyautoattack.AutoAttack(version="standard")
        _, predicted = attack.run_standard_evaluation(images, labels, batch_size=args.batch_size)
        outcomes["theirs autoattack"] = predicted == labels

    def theirs_pgd() -> None:
        attack = torchattacks.PGD(model, eps=args.eps, alpha=step, steps=args.pgd_steps, random_start=False)
        correct = []
        for batch_images, batch_labels in batches:
            adversarial = attack(batch_images, batch_labels)
            with torch.no_grad():
                correct.append(model(adversarial).argmax(dim=1) == batch_labels)
        outcomes["theirs pgd"] = torch.cat(correct)

    contenders = {"ours pgd": lambda: ours("pgd"), "theirs pgd": theirs_pgd,
                  "ours autoattack": lambda: ours("autoattack"), "theirs autoattack": theirs_autoattack}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(args.rounds):  # ours first in even rounds, theirs first in odd ones
        for kind in ("pgd", "autoattack"):
            pair = (f"ours {kind}", f"theirs {kind}")
            for name in pair[:: 1 if round_index % 2 == 0 else -1]:
                times[name].append(seconds(contenders[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{described}, {args.images} images ({source}), batches of {args.batch_size}, L-inf eps {args.eps:.4f}; "
          f"PGD-{args.pgd_steps} (step 2/255, no random start); AutoAttack standard with {args.iterations} iterations, "
          f"{args.queries} queries; {args.threads} threads, median of {args.rounds} rounds; {load_note()}")
    labels_of = {"ours pgd": "ours: evaluate_robustness([pgd])", "theirs pgd": "theirs: torchattacks.PGD",
                 "ours autoattack": "ours: evaluate_robustness([autoattack])",
                 "theirs autoattack": "theirs: pyautoattack run_standard_evaluation"}
    print_table(("seconds (lower is better)", "median", "min", "max"),
                [(labels_of[name], *(f"{f(times[name]):.2f}" for f in (statistics.median, min, max)))
                 for name in contenders], (46, 9, 9, 9))
    ratios = {}
    for kind in ("pgd", "autoattack"):
        same = torch.equal(outcomes[f"ours {kind}"], outcomes[f"theirs {kind}"])
        ratios[kind] = medians[f"ours {kind}"] / medians[f"theirs {kind}"]
        print(f"{kind}: robust images ours {int(outcomes[f'ours {kind}'].sum())}, theirs "
              f"{int(outcomes[f'theirs {kind}'].sum())}, the same images: {'yes' if same else 'no'}; "
              f"ours / theirs {ratios[kind]:.2f}")
    print(f"evaluate ratio: {max(ratios.values()):.2f} (target 1.05)")


if __name__ == "__main__":
    main()
