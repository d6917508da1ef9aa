"""Attacks called from a LightningModule's validation_step, which Lightning runs under inference_mode."""

from __future__ import annotations

import lightning as L
import torch
from lightly.loss import NTXentLoss
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from cl_robust.attacks import AttackConfig, contrastive_attack, cross_entropy_attack

from .conftest import TinyNet, assert_in_ball, module_modes


class AttackedInValidation(L.LightningModule):
    def __init__(self, model: TinyNet) -> None:
        super().__init__()
        self.model = model
        self.nt_xent = NTXentLoss(temperature=0.5)
        self.config = AttackConfig()
        self.checked_batches = 0

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, labels = batch
        assert torch.is_inference_mode_enabled()
        modes = module_modes(self.model)
        adversarial = cross_entropy_attack(self.model, images, labels, self.config)
        perturbed = contrastive_attack(
            self.model.encoder,
            lambda a, b, y: self.nt_xent(a, b),
            images,
            self.config,
            module_for_mode=self.model,
        )
        assert module_modes(self.model) == modes
        for attacked in (adversarial, perturbed):
            assert_in_ball(attacked, images, self.config.eps, self.config.norm)
            assert (attacked - images).abs().amax() > 0
        accuracy = (self.model(adversarial).argmax(1) == labels).float().mean()
        self.log("val/adversarial_accuracy", accuracy)
        self.checked_batches += 1


def test_attacks_run_inside_lightning_validation(model: TinyNet, batch: tuple) -> None:
    images, labels = batch
    module = AttackedInValidation(model)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, DataLoader(TensorDataset(images, labels), batch_size=16))
    assert module.checked_batches == 2
