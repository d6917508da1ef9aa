"""A NaN or infinite training loss stops the run with one line naming the step; the last good
checkpoint stays as it was and the bad step's weights are never saved."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from cl_robust.callbacks.nan_guard import NonFiniteLossError, NonFiniteLossGuard
from cl_robust.data import CIFARDataModule
from cl_robust.methods import SupervisedLearning

from .conftest import CONFIGS, cli_in_process, error_lines, run_dir_args, tiny_args


class PoisonedAt(SupervisedLearning):
    """Supervised learning whose loss turns into ``value`` from training step ``step`` on."""

    def __init__(self, step: int = 3, value: float = float("nan"), **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.poison_step, self.poison_value = step, value

    def training_losses(self, batch, views):  # type: ignore[no-untyped-def]
        losses = super().training_losses(batch, views)
        if self.global_step >= self.poison_step:
            losses["poison"] = torch.tensor(self.poison_value)
        return losses


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_guard_stops_before_the_weights_change(synthetic_root: str, value: float) -> None:
    model = PoisonedAt(step=2, value=value, backbone="resnet_tiny")
    trainer = L.Trainer(max_steps=5, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[NonFiniteLossGuard()], limit_val_batches=0)
    weights_at_step_2: dict[str, torch.Tensor] = {}

    class Snapshot(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # type: ignore[no-untyped-def]
            if trainer.global_step == 2:
                weights_at_step_2.update({k: v.clone() for k, v in pl_module.named_parameters()})

    trainer.callbacks.append(Snapshot())
    with pytest.raises(NonFiniteLossError, match=f"training loss is {'nan' if value != value else 'inf'} at step 2"):
        trainer.fit(model, CIFARDataModule(root=synthetic_root, batch_size=8))
    assert trainer.global_step == 2
    # Parameters are untouched (the forward pass of the bad step may still move BatchNorm statistics).
    assert all(torch.equal(v, weights_at_step_2[k]) for k, v in model.named_parameters())


def test_guard_can_be_switched_off(synthetic_root: str) -> None:
    model = PoisonedAt(step=1, backbone="resnet_tiny")
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[NonFiniteLossGuard(enabled=False)],
                        limit_val_batches=0)
    trainer.fit(model, CIFARDataModule(root=synthetic_root, batch_size=8))
    assert trainer.global_step == 2


def test_cli_nan_stops_with_one_line_and_keeps_last_good_checkpoint(
        synthetic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """lr 1e30 drives the weights to inf within a few steps: the run stops, the checkpoint before stays."""
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "pretrain" / "sl.yaml"), *tiny_args(synthetic_root, steps=20),
            *run_dir_args(run_dir), "--checkpoint.every_n_train_steps", "1", "--checkpoint.save_top_k", "-1",
            "--model.init_args.optimizer", "sgd", "--model.init_args.lr", "1e30"]
    code, err = cli_in_process(args, capsys)
    lines = error_lines(err)
    assert code == 1 and len(lines) == 1, err[-2000:]
    assert "training loss is" in lines[0] and "at step" in lines[0] and "Traceback" not in err
    bad_step = int(lines[0].split("at step ")[1].split()[0])
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == bad_step, "the last checkpoint is the last good step"
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())
    assert not list((run_dir / "checkpoints").glob(f"*step={bad_step + 1}.ckpt"))
