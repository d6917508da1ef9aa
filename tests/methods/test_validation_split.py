"""Validation on the test split (``val_per_class`` 0) is said in one line when training starts and in the logged
metrics' name (``val_on_test/*``); a held-out split logs ``val/*``."""
from __future__ import annotations

import lightning as L
import pytest

from cl_robust.data import CIFARDataModule
from cl_robust.methods import SupervisedLearning


def fit_and_notices(root: str, capsys: pytest.CaptureFixture[str], **data_options: int) -> tuple[set[str], list[str]]:
    """(the logged metric names, the ``cl-robust:`` lines) of one epoch of a tiny supervised run."""
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1)
    capsys.readouterr()
    trainer.fit(SupervisedLearning(backbone="resnet_tiny"),
                CIFARDataModule("cifar10", root=root, batch_size=8, **data_options))
    notices = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cl-robust:")]
    return set(trainer.callback_metrics), notices


def test_validation_on_the_test_split_says_so(synthetic_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    metrics, notices = fit_and_notices(synthetic_root, capsys)
    assert {"val_on_test/acc", "val_on_test/loss"} <= metrics and not any(m.startswith("val/") for m in metrics)
    assert notices == ["cl-robust: validation reads the test split (data val_per_class is 0), so its metrics are "
                       "logged as val_on_test/loss and val_on_test/acc; set data val_per_class N to hold out N "
                       "training images a class instead"]


def test_a_held_out_split_is_logged_as_val(synthetic_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    metrics, notices = fit_and_notices(synthetic_root, capsys, per_class=8, val_per_class=2)
    assert {"val/acc", "val/loss"} <= metrics and not any(m.startswith("val_on_test/") for m in metrics)
    assert notices == []
