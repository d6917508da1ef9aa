"""Tiny synthetic CIFAR and CLI helpers for the scenario runs."""
from pathlib import Path

import pytest

from cl_robust.cli import main
from cl_robust.data.synthetic import write_synthetic_cifar

from ..attacks.conftest import _one_thread as one_thread  # noqa: F401
from ..attacks.conftest import _single_thread  # noqa: F401  (autouse: tiny nets run on one thread)

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.fixture(scope="session")
def scenario_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fake CIFAR-10 with 4 train and 2 test images a class."""
    root = tmp_path_factory.mktemp("scenario_cifar")
    return write_synthetic_cifar(str(root), "cifar10", train_per_class=4, test_per_class=2)


def tiny_args(root: str, steps: int = 2) -> list[str]:
    """A few steps of a tiny model with a 2-step attack, every step logged."""
    return ["--data.init_args.root", root, "--data.init_args.batch_size", "8", "--trainer.max_steps", str(steps),
            "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit(args: list[str]) -> None:
    try:
        main(["fit", *args])
    except SystemExit as exit_:  # LightningCLI returns normally; a SystemExit means an error
        raise AssertionError(f"cl-robust exited with {exit_.code}") from None
