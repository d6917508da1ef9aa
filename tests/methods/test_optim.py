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


def test_cosine_schedule_warms_up_then_decays() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    scheduler = build_scheduler(optimizer, "cosine", warmup_epochs=1, max_epochs=4, steps_per_epoch=10)["scheduler"]
    rates = []
    for _ in range(40):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
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
