"""Optimisers and schedules: the configured one is built, bad options are refused up front."""
import pytest
import torch
from lightly.utils.lars import LARS

from cl_robust.errors import ConfigError
from cl_robust.methods.optim import build_optimizer, build_scheduler, validate_optimization


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                      ("sgd", torch.optim.SGD), ("lars", LARS)])
def test_optimizer_by_name(name: str, cls: type) -> None:
    optimizer = build_optimizer(torch.nn.Linear(2, 2).parameters(), name, lr=0.1, weight_decay=0.0, momentum=0.9)
    assert isinstance(optimizer, cls) and optimizer.param_groups[0]["lr"] == 0.1


def _rates(optimizer: torch.optim.Optimizer, scheduler: object, steps: int) -> list[float]:
    """The learning rate at each of ``steps`` optimisation steps."""
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_cosine_schedule_warms_up_then_decays() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    scheduler = build_scheduler(optimizer, "cosine", warmup_epochs=1, max_epochs=4, steps_per_epoch=10)["scheduler"]
    rates = _rates(optimizer, scheduler, 40)
    assert rates[0] < rates[5] < rates[10]          # linear warm-up over the first epoch
    assert rates[10] == pytest.approx(1.0, abs=0.05)
    assert rates[39] < 0.05                        # cosine decay to ~0 by the end
    assert build_scheduler(optimizer, "none", 0, 4, 10) is None


@pytest.mark.parametrize("kwargs,option", [
    ({"optimizer": "rmsprop"}, "optimizer"), ({"scheduler": "step"}, "scheduler"), ({"lr": 0.0}, "lr"),
    ({"lr": -1.0}, "lr"), ({"weight_decay": -0.1}, "weight_decay"), ({"momentum": 1.0}, "momentum"),
    ({"warmup_epochs": -1}, "warmup_epochs"),
])
def test_bad_optimisation_options(kwargs: dict, option: str) -> None:
    settings = {"optimizer": "adam", "lr": 3e-4, "weight_decay": 0.0, "momentum": 0.9, "scheduler": "none",
                "warmup_epochs": 0.0, **kwargs}
    with pytest.raises(ConfigError, match=option):
        validate_optimization(**settings)


def test_piecewise_schedule_divides_by_ten_at_half_and_three_quarters() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([parameter], "sgd", 0.1, 5e-4, 0.9)
    scheduler = build_scheduler(optimizer, "piecewise", warmup_epochs=0, max_epochs=20, steps_per_epoch=10)["scheduler"]
    rates = _rates(optimizer, scheduler, 200)
    assert rates[0] == rates[99] == pytest.approx(0.1)
    assert rates[100] == rates[149] == pytest.approx(0.01)
    assert rates[150] == rates[199] == pytest.approx(0.001)


def test_piecewise_milestones_in_epochs_and_their_checks() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([parameter], "sgd", 0.1, 0.0, 0.9)
    scheduler = build_scheduler(optimizer, "piecewise", 0, 110, 2, milestones=[100, 105])["scheduler"]
    rates = _rates(optimizer, scheduler, 220)
    assert rates[199] == pytest.approx(0.1) and rates[200] == pytest.approx(0.01) and rates[210] == pytest.approx(0.001)
    for milestones, needle in (([105, 100], "increasing"), ([], "increasing"), ([0], "increasing")):
        with pytest.raises(ConfigError, match=needle):
            validate_optimization("sgd", 0.1, 0.0, 0.9, "piecewise", 0.0, milestones)
    with pytest.raises(ConfigError, match="piecewise"):
        validate_optimization("sgd", 0.1, 0.0, 0.9, "cosine", 0.0, [100])


@pytest.mark.parametrize("max_epochs, max_steps", [(50, 6), (-1, 6), (3, -1)])
def test_the_schedule_spans_the_steps_the_run_takes(synthetic_root: str, max_epochs: int, max_steps: int) -> None:
    """A cosine schedule ends at its floor on the run's last step, whether max_steps or max_epochs ends it (the
    schedule was stretched over all max_epochs: 50 epochs for a run that max_steps stopped after 6 steps)."""
    import lightning as L

    from cl_robust.data import CIFARDataModule
    from cl_robust.methods import SupervisedLearning

    model = SupervisedLearning(backbone="resnet_tiny", optimizer="sgd", lr=0.1, scheduler="cosine", warmup_epochs=1)
    trainer = L.Trainer(max_epochs=max_epochs, max_steps=max_steps, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)
    trainer.fit(model, CIFARDataModule("cifar10", root=synthetic_root, batch_size=40))  # 2 batches an epoch
    assert trainer.global_step == 6
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.max_epochs == 6 and scheduler.warmup_epochs == 2  # steps: the run's, and one epoch of them
    assert trainer.optimizers[0].param_groups[0]["lr"] < 0.01  # decayed, not ~0.1 as at the start of a long schedule
