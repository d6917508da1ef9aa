"""Does adversarial training buy robustness? On real CIFAR-10 images, a short supervised PGD-AT run
(Madry et al. 2018) resists PGD better than the same short standard run."""
import lightning as L
import pytest
import torch

from cl_robust.attacks import AttackConfig, cross_entropy_attack
from cl_robust.callbacks import AdversarialSupervised
from cl_robust.data import CIFARDataModule
from cl_robust.data.augment import to_float
from cl_robust.methods import SupervisedLearning

STEPS = 100
TRAIN_ATTACK = {"eps": "8/255", "step_size": "4/255", "steps": 2}  # a cheap PGD-2 for training
TEST_ATTACK = AttackConfig(eps=8 / 255, step_size=2 / 255, steps=5)


def train_and_attack(root: str, adversarial: bool) -> tuple[float, float]:
    """Clean and PGD accuracy on 200 test images after STEPS steps of a tiny ResNet."""
    L.seed_everything(0)
    data = CIFARDataModule("cifar10", root=root, batch_size=32, per_class=100, test_per_class=20)
    model = SupervisedLearning(backbone="resnet_tiny", num_classes=data.num_classes, lr=2e-3)
    callbacks = [AdversarialSupervised(**TRAIN_ATTACK)] if adversarial else []
    trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        callbacks=callbacks)
    trainer.fit(model, data)
    data.setup("test")
    images, labels = zip(*[(batch[0], batch[1]) for batch in data.test_dataloader()], strict=True)
    x, y = to_float(torch.cat(images)), torch.cat(labels)
    model.eval()
    x_adv = cross_entropy_attack(model, x, y, TEST_ATTACK)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
        robust = (model(x_adv).argmax(1) == y).float().mean().item()
    return clean, robust


@pytest.mark.real_data
def test_pgd_adversarial_training_beats_standard_training_under_pgd(real_cifar_root: str) -> None:
    _, standard_robust = train_and_attack(real_cifar_root, adversarial=False)
    adversarial_clean, adversarial_robust = train_and_attack(real_cifar_root, adversarial=True)
    # Measured (200 test images, PGD-5 eps 8/255): standard 0.11, adversarial 0.27 (clean 0.44 and 0.43).
    assert adversarial_robust > standard_robust + 0.05, (standard_robust, adversarial_robust)
    assert adversarial_clean > 0.2, adversarial_clean
