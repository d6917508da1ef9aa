"""Tiny synthetic CIFAR and CLI helpers for the scenario runs."""
import csv
from pathlib import Path

import pytest
import torch

from cl_robust.cli import main
from cl_robust.data.synthetic import write_synthetic_cifar

from ..attacks.conftest import _one_thread as one_thread  # noqa: F401
from ..attacks.conftest import _single_thread  # noqa: F401  (autouse: tiny nets run on one thread)

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
ADVERSARIAL = CONFIGS / "adversarial"
ATTACK_STEPS = ["--adversarial.init_args.steps", "2"]


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


def logged_columns(run_dir: Path) -> set[str]:
    (metrics,) = run_dir.rglob("metrics.csv")
    with open(metrics) as handle:
        return set(next(csv.reader(handle)))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def finetune_and_check(source: Path, scheme: str, mode: str, overlay: str | None, data_args: list[str],
                       workdir: Path) -> None:
    """Fine-tune ``source`` in ``workdir`` (the current folder) with ``finetune/<mode>.yaml`` and the overlay, and
    check the result: 2 steps, the scheme recorded, the adversarial term logged exactly when an overlay is
    given, and the encoder untouched exactly when it is a linear probe."""
    extra = ["--config", str(ADVERSARIAL / overlay), *ATTACK_STEPS] if overlay else []
    fit(["--config", str(CONFIGS / "finetune" / f"{mode}.yaml"), *extra, *data_args,
         "--model.init_args.pretrained_checkpoint", str(source)])
    finetuned = workdir / "runs" / "finetune" / mode / "checkpoints" / "last.ckpt"
    checkpoint = load(finetuned)
    assert checkpoint["cl_robust"]["pretrained_scheme"] == scheme and checkpoint["cl_robust"]["mode"] == mode
    assert checkpoint["global_step"] == 2
    assert ("train/adv_loss" in logged_columns(finetuned.parents[1])) == (overlay is not None)
    before, after = load(source)["state_dict"], checkpoint["state_dict"]
    encoder_keys = [key for key in before if key.startswith("encoder.")]
    unchanged = all(torch.equal(before[key], after[key]) for key in encoder_keys)
    assert unchanged == (mode == "linear"), "a linear probe (adversarial or not) leaves the encoder untouched"
