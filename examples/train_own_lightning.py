"""Use cl_robust's data module and LightningModules from your own Lightning code (no CLI).

SimCLR pretraining, then a linear probe on the frozen encoder, then the test accuracy:

    python examples/train_own_lightning.py --per-class 100 --backbone resnet_tiny \
        --pretrain-epochs 2 --finetune-epochs 2

The data is read from ``--root``, else ``$CL_ROBUST_DATA``, else ``./data``. A bad option or
missing data prints one line and exits with status 2.

Add adversarial training by passing a callback from ``cl_robust.callbacks`` to the Trainer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from cl_robust.data import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods import FineTune, SimCLR


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, type=lambda text: text or None,
                        help="CIFAR root (default: $CL_ROBUST_DATA or ./data; an empty value counts as unset)")
    parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100"])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--per-class", type=int, default=None, help="first N training images of each class")
    parser.add_argument("--test-per-class", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--out", default="runs/own_lightning")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    L.seed_everything(0)
    data = CIFARDataModule(args.dataset, root=args.root, batch_size=args.batch_size, per_class=args.per_class,
                           test_per_class=args.test_per_class)

    # Phase 1: contrastive pretraining; the online probe shows label accuracy as it learns.
    pretraining = SimCLR(backbone=args.backbone, num_classes=data.num_classes, temperature=0.5)
    checkpoint = ModelCheckpoint(dirpath=Path(args.out) / "pretrain", save_last=True)
    L.Trainer(max_epochs=args.pretrain_epochs, callbacks=[checkpoint], logger=CSVLogger(args.out, "pretrain"),
              accelerator="auto").fit(pretraining, data)

    # Phase 2: linear probe on the frozen encoder (kept in eval mode), then clean test accuracy.
    probe = FineTune(pretrained_checkpoint=checkpoint.last_model_path, mode="linear", num_classes=data.num_classes,
                     lr=1e-3)
    trainer = L.Trainer(max_epochs=args.finetune_epochs, logger=CSVLogger(args.out, "linear"), accelerator="auto")
    trainer.fit(probe, data)
    result = trainer.test(probe, data)[0]
    print(f"linear probe test accuracy: {result['test/acc']:.3f}")


if __name__ == "__main__":
    try:
        main()
    except ConfigError as error:  # the library's user-facing errors: one line, no traceback
        print(f"train_own_lightning.py: error: {error}", file=sys.stderr)
        sys.exit(2)
