"""A two-process CPU DDP fit of SupCon with adversarial pretraining; run as a script by test_ddp.py.

Usage: python ddp_fit.py DATA_ROOT OUT_DIR. Each rank writes what the loss term was given,
a parameter checksum and the adversarial loss to OUT_DIR/rank<r>.txt.
"""
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from cl_robust.callbacks import AdversarialPretraining
from cl_robust.data import CIFARDataModule
from cl_robust.methods import SupCon
from cl_robust.methods.base import Batch, RobustMethod, Views


class RecordingAdversarialPretraining(AdversarialPretraining):
    """Remembers the class of every module the loss term was handed."""

    def __init__(self) -> None:
        super().__init__(steps=2)
        self.seen: set[str] = set()

    def adversarial_losses(self, module: RobustMethod, batch: Batch, views: Views) -> dict[str, torch.Tensor]:
        self.seen.add(type(module).__name__)
        return super().adversarial_losses(module, batch, views)


class WriteResult(Callback):
    def __init__(self, out: Path, adversarial: RecordingAdversarialPretraining) -> None:
        self.out, self.adversarial = out, adversarial

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        checksum = sum(float(p.detach().double().sum()) for p in pl_module.parameters())
        adv_loss = float(trainer.callback_metrics["train/adv_loss"])
        (self.out / f"rank{trainer.global_rank}.txt").write_text(
            f"{','.join(sorted(self.adversarial.seen))} {checksum:.8f} {adv_loss:.6f}")


if __name__ == "__main__":
    root, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    L.seed_everything(0)
    adversarial = RecordingAdversarialPretraining()
    trainer = L.Trainer(max_steps=2, accelerator="cpu", devices=2, strategy="ddp", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[adversarial, WriteResult(out, adversarial)])
    trainer.fit(SupCon(backbone="resnet_tiny", projection_dim=16), CIFARDataModule("cifar10", root=root, batch_size=4))
