"""``corrupt``: forms in and out, seeding, the noise statistics, and what it refuses."""
import pytest
import torch

from cl_robust.corruptions import (
    ALL_CORRUPTIONS,
    CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    FAMILIES,
    corrupt,
    severities,
)
from cl_robust.errors import ConfigError

RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur", "motion_blur", "snow",
          "frost", "fog", "elastic_transform", "spatter")


def test_names_and_families() -> None:
    assert len(CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4
    assert sorted(name for members in FAMILIES.values() for name in members) == sorted(ALL_CORRUPTIONS)


@pytest.mark.parametrize("name", ALL_CORRUPTIONS)
def test_every_corruption_keeps_shape_dtype_and_changes_the_images(images: torch.Tensor, name: str) -> None:
    for severity in (1, 5):
        out = corrupt(images, name, severity, torch.Generator().manual_seed(0))
        assert out.shape == images.shape and out.dtype == torch.uint8
        assert not torch.equal(out, images)
        floats = corrupt(images.float() / 255, name, severity, torch.Generator().manual_seed(0))
        assert floats.dtype == torch.float32 and 0 <= float(floats.min()) and float(floats.max()) <= 1
        # float64 input is what corrupt makes of uint8 images: the same computation, the float result
        # unrounded, the uint8 one truncated
        exact = corrupt(images.double() / 255, name, severity, torch.Generator().manual_seed(0))
        assert exact.dtype == torch.float64
        fraction = exact * 255 - out.double()
        assert float(fraction.min()) > -1e-9 and float(fraction.max()) < 1 + 1e-9


@pytest.mark.parametrize("name", RANDOM)
def test_same_generator_state_same_corruption(images: torch.Tensor, name: str) -> None:
    first = corrupt(images, name, 3, torch.Generator().manual_seed(7))
    again = corrupt(images, name, 3, torch.Generator().manual_seed(7))
    other = corrupt(images, name, 3, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_without_generator_the_default_one_is_used(images: torch.Tensor) -> None:
    torch.manual_seed(3)
    first = corrupt(images, "gaussian_noise", 2)
    torch.manual_seed(3)
    assert torch.equal(first, corrupt(images, "gaussian_noise", 2))


def test_float64_and_empty_batches() -> None:
    grey = torch.full((2, 3, 32, 32), 0.5, dtype=torch.float64)
    assert corrupt(grey, "contrast", 5).dtype == torch.float64
    empty = torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    assert corrupt(empty, "fog", 1).shape == (0, 3, 32, 32)


@pytest.mark.parametrize("severity", (1, 3, 5))
def test_gaussian_and_speckle_noise_have_the_published_sd(severity: int) -> None:
    grey = torch.full((64, 3, 32, 32), 0.5, dtype=torch.float64)  # mid-grey: no clipping at these sds
    sd = severities.GAUSSIAN_NOISE[severity - 1]
    noise = corrupt(grey, "gaussian_noise", severity, torch.Generator().manual_seed(0)) - 0.5
    assert abs(float(noise.mean())) < 0.002
    assert abs(float(noise.std()) / sd - 1) < 0.01  # 196,608 draws: the sd's relative standard error is 0.16%
    speckle = corrupt(grey, "speckle_noise", severity, torch.Generator().manual_seed(0)) - 0.5
    assert abs(float(speckle.std()) / (0.5 * severities.SPECKLE_NOISE[severity - 1]) - 1) < 0.01


@pytest.mark.parametrize("severity", (1, 5))
def test_shot_noise_is_poisson(severity: int) -> None:
    grey = torch.full((64, 3, 32, 32), 0.4, dtype=torch.float64)
    photons = severities.SHOT_NOISE[severity - 1]
    out = corrupt(grey, "shot_noise", severity, torch.Generator().manual_seed(0))
    assert abs(float(out.mean()) - 0.4) < 0.002
    assert abs(float(out.var()) / (0.4 / photons) - 1) < 0.02  # Poisson: variance = mean, scaled by 1 / c^2


@pytest.mark.parametrize("severity", (1, 3, 5))
def test_impulse_noise_hits_the_published_fraction(severity: int) -> None:
    grey = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8)
    amount = severities.IMPULSE_NOISE[severity - 1]
    out = corrupt(grey, "impulse_noise", severity, torch.Generator().manual_seed(0))
    salt, pepper = float((out == 255).double().mean()), float((out == 0).double().mean())
    assert abs(salt + pepper - amount) < 4 * (amount / grey.numel()) ** 0.5 + 1e-4
    assert abs(salt - pepper) < 5 * (amount / grey.numel()) ** 0.5
    assert bool(((out == 0) | (out == 255) | (out == 128)).all())


def test_frost_draws_each_of_the_five_textures(images: torch.Tensor) -> None:
    from cl_robust.corruptions.sampling import Draws
    from cl_robust.corruptions.weather import FROST_TEXTURES

    draws = Draws(torch.Generator().manual_seed(0), torch.device("cpu"), torch.float64)
    assert set(draws.integers(0, FROST_TEXTURES, (500,)).tolist()) == {0, 1, 2, 3, 4}


U8 = torch.uint8


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param((torch.zeros(2, 3, 32, 32, dtype=U8), "fgo", 3), "unknown corruption 'fgo'; known: gaussian_noise",
                     id="unknown corruption"),
        pytest.param((torch.zeros(2, 3, 32, 32, dtype=U8), "fog", 6),
                     "severity must be an integer from 1 to 5 (CIFAR-10-C's five levels); got 6", id="severity 6"),
        pytest.param((torch.zeros(2, 3, 32, 32, dtype=U8), "fog", 0), "got 0", id="severity 0"),
        pytest.param((torch.zeros(2, 3, 32, 32, dtype=U8), "fog", "3"), "got '3'", id="severity as text"),
        pytest.param((torch.zeros(2, 1, 32, 32, dtype=U8), "fog", 3),
                     "images must be [N, 3, H, W] with 3 (RGB) channels; got shape [2, 1, 32, 32]", id="one channel"),
        pytest.param((torch.zeros(2, 4, 32, 32, dtype=U8), "fog", 3), "got shape [2, 4, 32, 32]", id="four channels"),
        pytest.param((torch.zeros(3, 32, 32, dtype=U8), "fog", 3), "got shape [3, 32, 32]", id="one image without batch"),
        pytest.param((torch.zeros(2, 3, 64, 64, dtype=U8), "fog", 3),
                     "images must be 32 x 32: CIFAR-10-C's severity constants are defined for 32 x 32 images; got 64 x 64",
                     id="not 32 x 32"),
        pytest.param((torch.full((2, 3, 32, 32), 2.0), "fog", 3),
                     "float images must lie in [0, 1]; got values from 2 to 2", id="float above 1"),
        pytest.param((torch.zeros(2, 3, 32, 32, dtype=torch.int64), "fog", 3),
                     "images must be uint8 (0-255) or float in [0, 1]", id="integer dtype"),
    ],
)
def test_bad_inputs_are_refused_with_one_line(arguments: tuple, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        corrupt(*arguments)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unknown_name_lists_every_known_corruption() -> None:
    with pytest.raises(ConfigError) as raised:
        corrupt(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "Fog", 1)
    assert all(name in str(raised.value) for name in ALL_CORRUPTIONS)
