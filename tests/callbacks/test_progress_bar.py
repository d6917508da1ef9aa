"""The progress bar's epoch counter reads the limit that ends the run (never ``Epoch 0/-2``)."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import TQDMProgressBar

from cl_robust.callbacks.progress import RunProgressBar, default_progress_bar, epoch_description
from cl_robust.data.synthetic import write_synthetic_cifar

from ..warm_process import WarmServer

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("max_epochs, max_steps, batches, accumulate, expected", [
    (-1, 3, 4, 1, "Epoch 0 (ends at step 3)"),  # max_steps alone: Lightning showed "Epoch 0/-2"
    (200, 3, 4, 1, "Epoch 0 (ends at step 3)"),  # the steps end the run long before epoch 199
    (2, 100, 4, 1, "Epoch 0/1"),  # the epochs end it first (8 steps)
    (2, 9, 8, 2, "Epoch 0/1"),  # 2 epochs of 4 optimiser steps (8 batches, accumulated by 2) end before step 9
    (2, 7, 8, 2, "Epoch 0 (ends at step 7)"),
    (2, -1, 4, 1, "Epoch 0/1"),
    (None, -1, 4, 1, "Epoch 0"),
    (3, 10, float("inf"), 1, "Epoch 0 (ends at step 10)"),
])
def test_the_epoch_counter_names_what_ends_the_run(max_epochs: int | None, max_steps: int, batches: float,
                                                   accumulate: int, expected: str) -> None:
    trainer = SimpleNamespace(max_epochs=max_epochs, max_steps=max_steps, num_training_batches=batches,
                              accumulate_grad_batches=accumulate)
    assert epoch_description(trainer, 0) == expected  # type: ignore[arg-type]


def test_the_cli_adds_it_where_lightning_would_add_its_own() -> None:
    assert [type(bar) for bar in default_progress_bar({})] == [RunProgressBar]
    assert default_progress_bar({"enable_progress_bar": False}) == []
    assert default_progress_bar({"callbacks": [TQDMProgressBar()]}) == []


def test_a_fit_bounded_by_max_steps_shows_where_it_ends(tmp_path: Path, warm_server: WarmServer) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 4, 2, layout="torchvision")
    run = tmp_path / "run"
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", COLUMNS="120")
    done = warm_server.run(["fit", "--config",
                           str(REPO / "examples" / "configs" / "pretrain" / "sl.yaml"),
                           "--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
                           "--data.init_args.batch_size", "8", "--trainer.max_steps", "2", "--trainer.max_epochs",
                           "-1", "--trainer.limit_val_batches", "0", "--trainer.accelerator", "cpu",
                           "--trainer.enable_model_summary", "false", "--trainer.default_root_dir", str(run),
                           "--trainer.logger.init_args.save_dir", str(run), "--checkpoint.dirpath",
                           str(run / "checkpoints")], cwd=tmp_path, env=env, timeout=300)  # its own process
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Epoch 0 (ends at step 2)" in done.stdout and "/-2" not in done.stdout, done.stdout[-2000:]
