"""Tiny trained checkpoints on synthetic CIFAR-10 for the evaluation and analysis tests."""
from collections.abc import Callable
from pathlib import Path

import lightning as L

from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.methods import FineTune, SimCLR, SupervisedLearning


def synthetic_data(folder: Path, test_per_class: int = 2) -> str:
    """16 training and ``test_per_class`` test images a class, torchvision layout."""
    return write_synthetic_cifar(str(folder), "cifar10", train_per_class=16, test_per_class=test_per_class,
                                 layout="torchvision")


def train_and_save(module: L.LightningModule, root: str, path: Path, steps: int) -> Path:
    """Fit ``module`` for ``steps`` steps of 16 images on the CPU and save a checkpoint."""
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(module, CIFARDataModule("cifar10", root=root, batch_size=16))
    trainer.save_checkpoint(path)
    return path


def supervised_checkpoint(root: str, folder: Path, steps: int = 40) -> Path:
    return train_and_save(SupervisedLearning(backbone="resnet_tiny", lr=3e-3), root, folder / "sl.ckpt", steps)


def contrastive_finetuned_checkpoint(root: str, folder: Path, steps: int = 15) -> Path:
    """SimCLR pretraining, then a linear probe: a ``finetune`` checkpoint with a projection head."""
    pretrained = train_and_save(SimCLR(backbone="resnet_tiny", projection_dim=16, temperature=0.2, lr=3e-3), root,
                                folder / "cl.ckpt", steps)
    return train_and_save(FineTune(pretrained_checkpoint=str(pretrained), lr=1e-2), root, folder / "ft.ckpt", steps)


# Built once per test run and shared by every test (and xdist worker) that asks, through the
# ``build_once`` fixture of tests/conftest.py; the names say what each build depends on.
def shared_data(build_once: Callable[[str, Callable[[Path], object]], Path], test_per_class: int = 2) -> str:
    """``synthetic_data`` in a shared folder (the folder is the data root)."""
    return str(build_once(f"tiny-data-test{test_per_class}", lambda folder: synthetic_data(folder, test_per_class)))


def shared_supervised_checkpoint(build_once: Callable[[str, Callable[[Path], object]], Path]) -> Path:
    root = shared_data(build_once)
    return build_once("tiny-sl", lambda folder: supervised_checkpoint(root, folder)) / "sl.ckpt"


def shared_contrastive_finetuned_checkpoint(build_once: Callable[[str, Callable[[Path], object]], Path]) -> Path:
    root = shared_data(build_once)
    return build_once("tiny-cl", lambda folder: contrastive_finetuned_checkpoint(root, folder)) / "ft.ckpt"
