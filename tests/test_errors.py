"""Error messages stay one line: a value is shown by its repr, an ``nn.Module`` (whose repr lists every layer) by its class."""
from __future__ import annotations

import pytest
import torchvision
from torch import nn

from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError, check_choice, shown
from cl_robust.methods import SimCLR, SupervisedLearning


def test_a_module_is_shown_by_its_class_and_long_reprs_are_cut() -> None:
    resnet = torchvision.models.resnet18()
    assert "\n" in repr(resnet)
    assert shown(resnet) == "a ResNet module"
    assert shown(0.5) == "0.5" and shown("sgd") == "'sgd'"
    assert shown(list(range(1000))).endswith("... (list)") and len(shown(list(range(1000)))) < 220
    with pytest.raises(ConfigError) as error:
        check_choice("optimizer", resnet, ("adam", "sgd"))
    assert str(error.value) == "optimizer must be one of 'adam', 'sgd'; got a ResNet module"


@pytest.mark.parametrize("build, message", [
    (lambda: SimCLR(backbone="resnet_tiny", temperature=nn.Linear(2, 2)),
     "temperature must be a number, got a Linear module (Linear)"),
    (lambda: SupervisedLearning(backbone="resnet_tiny", optimizer=torchvision.models.resnet18()),
     "optimizer must be one of 'adam', 'adamw', 'sgd', 'lars'; got a ResNet module"),
    (lambda: SupervisedLearning(backbone="resnet_tiny", lr=nn.Sequential(nn.Linear(2, 2), nn.ReLU())),
     "lr must be a number, got a Sequential module (Sequential)"),
    (lambda: CIFARDataModule(batch_size=nn.Linear(2, 2)), "batch_size must be a positive integer, got a Linear module"),
])
def test_library_errors_name_a_module_by_its_class(build, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as error:
        build()
    assert str(error.value) == message and "\n" not in str(error.value)
