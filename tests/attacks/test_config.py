"""AttackConfig: defaults, eps fractions, one-line errors for bad settings."""

import pytest

from cl_robust.attacks import AttackConfig, parse_eps
from cl_robust.errors import ConfigError


def test_defaults_are_the_reference_training_attack() -> None:
    config = AttackConfig()
    assert (config.method, config.norm, config.steps, config.random_start, config.bn_mode) == (
        "pgd",
        "linf",
        5,
        False,
        "eval",
    )
    assert config.eps == pytest.approx(8 / 255)
    assert (config.num_steps, config.step) == (5, 0.01)


@pytest.mark.parametrize(
    ("value", "expected"), [("8/255", 8 / 255), (" 4 / 255 ", 4 / 255), ("0.5", 0.5), (2, 2.0), (0.25, 0.25)]
)
def test_parse_eps_reads_numbers_and_fractions(value: object, expected: float) -> None:
    assert parse_eps(value) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["8/0", "eight", "1/2/3", True])
def test_parse_eps_refuses_other_text(value: object) -> None:
    with pytest.raises(ConfigError, match="eps"):
        parse_eps(value)  # type: ignore[arg-type]


def test_config_accepts_fractions_as_text() -> None:
    config = AttackConfig(eps="16/255", step_size="2/255")  # type: ignore[arg-type]
    assert config.eps == pytest.approx(16 / 255)
    assert config.step_size == pytest.approx(2 / 255)


def test_l2_eps_may_exceed_one() -> None:
    assert AttackConfig(norm="l2", eps=1.5).eps == 1.5


def test_fgsm_takes_one_step_of_eps_or_wong_step_after_random_start() -> None:
    assert (AttackConfig(method="fgsm", steps=7).num_steps, AttackConfig(method="fgsm").step) == (
        1,
        pytest.approx(8 / 255),
    )
    assert AttackConfig(method="fgsm", random_start=True).step == pytest.approx(1.25 * 8 / 255)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"eps": 8}, "eps"),
        ({"eps": -1}, "eps"),
        ({"norm": "l2", "eps": -0.5}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"step_size": 0}, "step_size"),
        ({"norm": "l3"}, "norm"),
        ({"method": "cw"}, "method"),
        ({"bn_mode": "foo"}, "bn_mode"),
    ],
)
def test_bad_settings_give_one_line_naming_the_option(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError) as error:
        AttackConfig(**kwargs)
    message = str(error.value)
    assert message.startswith(option + " ")
    assert "\n" not in message


def test_eps_in_pixel_units_suggests_the_fraction() -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\].*8/255 ≈ 0\.0314"):
        AttackConfig(eps=8)


def test_choices_are_listed() -> None:
    with pytest.raises(ConfigError, match="'linf', 'l2'"):
        AttackConfig(norm="l3")
