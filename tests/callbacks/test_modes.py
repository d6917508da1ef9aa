"""The attack leaves every submodule's train/eval flag as it found it; a frozen encoder stays frozen."""
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from cl_robust.callbacks import AdversarialFineTuning, AdversarialPretraining, AdversarialSupervised
from cl_robust.data import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.methods import FineTune
from cl_robust.methods.base import Batch, RobustMethod

from .conftest import make_module, tiny_finetune

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")


def modes(module: torch.nn.Module) -> dict[str, bool]:
    return {name: sub.training for name, sub in module.named_modules()}


@pytest.mark.parametrize(("module_name", "callback"), [
    ("simclr", AdversarialPretraining(steps=2)),
    ("supcon", AdversarialPretraining(steps=2, pair=True, bn_mode="train")),
    ("supervised", AdversarialSupervised(steps=2)),
    ("finetune_linear", AdversarialFineTuning(steps=2)),
    ("finetune_full", AdversarialFineTuning(steps=2, loss="trades", bn_mode="keep")),
])
def test_attack_restores_every_modules_mode(module_name: str, callback: AdversarialPretraining,
                                            batch: Batch) -> None:
    module = make_module(module_name)
    callback.setup(None, module, "fit")  # type: ignore[arg-type]
    before = modes(module)
    if module_name == "finetune_linear":
        assert not before["encoder"] and before["classifier"], "a linear probe trains only its head"
    callback.adversarial_losses(module, batch, module.augment(batch["x0"]))
    assert modes(module) == before


class RecordEncoderState(Callback):
    """Records the encoder's mode and requires_grad at every training batch."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: RobustMethod, *args: object) -> None:
        self.seen.append((pl_module.encoder.training, any(p.requires_grad for p in pl_module.encoder.parameters())))


@pytest.mark.parametrize("loss", ["ce", "trades"])
def test_frozen_encoder_stays_frozen_through_adversarial_fit(tmp_path: Path, loss: str) -> None:
    root = write_synthetic_cifar(str(tmp_path), "cifar10", train_per_class=2, test_per_class=1)
    L.seed_everything(0)
    module: FineTune = tiny_finetune("linear")
    encoder_before = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    head_before = module.classifier.weight.detach().clone()
    recorder = RecordEncoderState()
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=[AdversarialFineTuning(steps=2, loss=loss), recorder])
    trainer.fit(module, CIFARDataModule("cifar10", root=root, batch_size=8))
    assert recorder.seen == [(False, False), (False, False)], "encoder in eval mode, no gradients, every step"
    after = module.encoder.state_dict()
    assert all(torch.equal(encoder_before[k], after[k]) for k in encoder_before), "weights and BN statistics"
    assert not torch.equal(head_before, module.classifier.weight), "the head was trained"
    assert trainer.callback_metrics["train/adv_loss"] > 0
