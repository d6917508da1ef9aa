"""Tiny generated CIFAR data and small-run helpers for the method tests."""
from pathlib import Path

import pytest

from cl_robust.data.synthetic import write_synthetic_cifar

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fake CIFAR-10 (torchvision layout) with 8 train and 4 test images a class."""
    root = tmp_path_factory.mktemp("synthetic_cifar")
    return write_synthetic_cifar(str(root), "cifar10", train_per_class=8, test_per_class=4, layout="torchvision")


def tiny_run_args(root: str, steps: int = 2) -> list[str]:
    """Overrides that shrink any example config to a few steps of a tiny model on CPU."""
    return ["--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
            "--data.init_args.batch_size", "8", "--trainer.max_steps", str(steps),
            "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
