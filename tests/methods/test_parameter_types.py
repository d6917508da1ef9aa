"""Library use: a parameter of the wrong type is refused with its name (a ConfigError that is also a TypeError)."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods import SimCLR, SupervisedLearning

CASES: dict[str, tuple[Callable[[], object], str]] = {
    "temperature as a string": (lambda: SimCLR(backbone="resnet_tiny", temperature="0.07"),
                                "temperature must be a number, got '0.07' (str); write 0.07 without quotes"),
    "lr as a string": (lambda: SupervisedLearning(backbone="resnet_tiny", lr="3e-4"),
                       "lr must be a number, got '3e-4' (str); write 3e-4 without quotes"),
    "lr as a bool": (lambda: SupervisedLearning(backbone="resnet_tiny", lr=True), "lr must be a number, got True"),
    "momentum as a string": (lambda: SupervisedLearning(backbone="resnet_tiny", optimizer="sgd", momentum="0.9"),
                             "momentum must be a number, got '0.9'"),
    "weight decay as a list": (lambda: SupervisedLearning(backbone="resnet_tiny", weight_decay=[0.1]),
                               "weight_decay must be a number, got [0.1] (list)"),
    "warm-up as a string": (lambda: SupervisedLearning(backbone="resnet_tiny", warmup_epochs="two"),
                            "warmup_epochs must be a number, got 'two' (str)"),
    "num_classes as a string": (lambda: SupervisedLearning(backbone="resnet_tiny", num_classes="10"),
                                "num_classes must be an integer >= 2, got '10'"),
    "batch_size as a string": (lambda: CIFARDataModule(batch_size="8"), "batch_size must be a positive integer, got '8'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_wrong_type_names_the_parameter(case: str) -> None:
    build, message = CASES[case]
    with pytest.raises(ConfigError) as error:
        build()
    assert str(error.value) == message or str(error.value).startswith(message), str(error.value)


def test_type_errors_are_still_type_errors() -> None:
    with pytest.raises(TypeError, match="temperature"):
        SimCLR(backbone="resnet_tiny", temperature="0.07")
