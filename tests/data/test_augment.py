"""Batched augmentations: shapes, exactness against torchvision, and the recipe's distributions."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.v2 as T
import torchvision.transforms.v2.functional as TF

from cl_robust.data import augment
from cl_robust.data.augment import (
    JITTER_OPS,
    ContrastiveViews,
    NoAugment,
    SupervisedAugment,
    make_augment,
    resized_crop,
    to_float,
)
from cl_robust.errors import ConfigError


def uint8_batch(n: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)


def test_to_float() -> None:
    images = torch.tensor([[[[0, 255]]]], dtype=torch.uint8).expand(1, 3, 1, 2)
    converted = to_float(images)
    assert converted.dtype == torch.float32 and converted.tolist()[0][0][0] == [0.0, 1.0]
    floats = torch.rand(2, 3, 4, 4)
    assert to_float(floats) is floats


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_contrastive_views_shapes_range_and_independence(dtype: torch.dtype) -> None:
    images = uint8_batch(16)
    images = images if dtype == torch.uint8 else to_float(images).to(dtype)
    images[:2] = images[:2, :1]  # grey images: zero chroma must not divide by zero in any precision
    views = ContrastiveViews()(images)
    assert isinstance(views, tuple) and len(views) == 2
    for view in views:
        assert view.shape == (16, 3, 32, 32)
        assert view.dtype == (torch.float32 if dtype == torch.uint8 else dtype)  # no op promotes the images
        assert not view.isnan().any() and view.min() >= 0 and view.max() <= 1
    assert not torch.allclose(views[0], views[1])


def test_supervised_and_no_augment_return_one_float_view() -> None:
    images = uint8_batch()
    (supervised,) = SupervisedAugment()(images)
    (plain,) = NoAugment()(images)
    assert supervised.shape == plain.shape == (8, 3, 32, 32)
    assert supervised.dtype == plain.dtype == torch.float32
    assert torch.equal(plain, to_float(images))


def test_generator_makes_views_reproducible() -> None:
    images = uint8_batch()
    first = ContrastiveViews(generator=torch.Generator().manual_seed(3))(images)
    second = ContrastiveViews(generator=torch.Generator().manual_seed(3))(images)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_resized_crop_matches_torchvision() -> None:
    images = torch.rand(5, 3, 32, 32)
    top, left = torch.tensor([0, 3, 5, 0, 10]), torch.tensor([0, 1, 7, 20, 4])
    height, width = torch.tensor([32, 10, 20, 12, 22]), torch.tensor([32, 12, 20, 12, 9])
    flip = torch.tensor([False, False, True, False, True])
    ours = resized_crop(images, top, left, height, width, flip, 32)
    for i in range(5):
        reference = TF.resized_crop(images[i], int(top[i]), int(left[i]), int(height[i]), int(width[i]),
                                    [32, 32], antialias=False)
        reference = reference.flip(-1) if flip[i] else reference
        torch.testing.assert_close(ours[i], reference, atol=1e-5, rtol=0)
    assert torch.equal(ours[0], images[0])  # full box, no flip: identity


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (augment.adjust_brightness, TF.adjust_brightness),
        (augment.adjust_contrast, TF.adjust_contrast),
        (augment.adjust_saturation, TF.adjust_saturation),
    ],
)
def test_jitter_operations_match_torchvision(ours, theirs) -> None:
    images = torch.rand(5, 3, 32, 32)
    factors = torch.tensor([0.6, 0.8, 1.0, 1.2, 1.4])
    expected = torch.stack([theirs(images[i], float(factors[i])) for i in range(5)])
    torch.testing.assert_close(ours(images, factors), expected, atol=1e-5, rtol=0)


def test_hue_and_grayscale_match_torchvision() -> None:
    images = torch.rand(5, 3, 32, 32)
    shifts = torch.tensor([-0.1, -0.03, 0.0, 0.05, 0.1])
    expected = torch.stack([TF.adjust_hue(images[i], float(shifts[i])) for i in range(5)])
    torch.testing.assert_close(augment.adjust_hue(images, shifts), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(augment.grayscale(images), TF.rgb_to_grayscale(images), atol=1e-6, rtol=0)


def test_hue_matches_torchvision_on_ties_greys_and_the_whole_circle() -> None:
    """uint8 pixels tie often: the sector choice (red, then green, then blue) must follow torchvision's."""
    images = to_float(uint8_batch(12))
    images[0] = images[0, :1]  # grey: all channels equal
    images[1, 1] = images[1, 0]  # red == green
    images[2, 2] = images[2, 1]  # green == blue
    images[3, 2] = images[3, 0]  # red == blue
    images[4] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)  # pure red
    shifts = torch.linspace(-0.5, 0.5, 12)
    expected = torch.stack([TF.adjust_hue(images[i], float(shifts[i])) for i in range(12)])
    torch.testing.assert_close(augment.adjust_hue(images, shifts), expected, atol=1e-5, rtol=0)
    assert torch.equal(augment.adjust_hue(images[:1], shifts[:1]), images[:1])  # grey stays grey, exactly


def test_one_view_equals_torchvision_applied_with_the_same_parameters() -> None:
    views = ContrastiveViews(generator=torch.Generator().manual_seed(1))
    images = torch.rand(12, 3, 32, 32)
    params = views.sample_params(12, "cpu")
    ours = views.apply(images, params)
    adjust = {"brightness": TF.adjust_brightness, "contrast": TF.adjust_contrast,
              "saturation": TF.adjust_saturation, "hue": TF.adjust_hue}
    for i in range(12):
        image = TF.resized_crop(images[i], int(params["top"][i]), int(params["left"][i]),
                                int(params["crop_height"][i]), int(params["crop_width"][i]), [32, 32],
                                antialias=False)
        if params["flip"][i]:
            image = TF.horizontal_flip(image)
        if params["jitter"][i]:
            for op in params["jitter_order"].tolist():
                image = adjust[JITTER_OPS[op]](image, float(params[JITTER_OPS[op]][i]))
        if params["grayscale"][i]:
            image = TF.rgb_to_grayscale(image, num_output_channels=3)
        torch.testing.assert_close(ours[i], image, atol=1e-4, rtol=0)


def test_cpu_chunks_give_the_same_views_as_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    views = ContrastiveViews(generator=torch.Generator().manual_seed(2))
    images = to_float(uint8_batch(150))  # more than two chunks, the last one partial
    params = views.sample_params(150, "cpu")
    chunked = views.apply(images, params)
    monkeypatch.setattr(augment, "CPU_CHUNK_ELEMENTS", 10**12)
    torch.testing.assert_close(chunked, views.apply(images, params), atol=1e-6, rtol=0)
    monkeypatch.setattr(augment, "CPU_CHUNK_ELEMENTS", 1)  # a chunk is never empty: one image each
    torch.testing.assert_close(views.apply(images[:3], params_slice(params, 3)), chunked[:3], atol=1e-6, rtol=0)


def test_views_module_moves_like_any_module() -> None:
    """Lightning moves every child module with ``.cpu()``/``.to()`` at teardown; the views
    module must not shadow ``nn.Module`` methods those rely on."""
    views = ContrastiveViews(generator=torch.Generator().manual_seed(2))
    assert views.cpu() is views and views.to(torch.float64) is views
    assert len(views(uint8_batch(4))) == 2


def params_slice(params: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    return {name: value if name == "jitter_order" else value[:count] for name, value in params.items()}


def test_crop_distribution_matches_torchvision_sampling() -> None:
    n = 20000
    params = ContrastiveViews(generator=torch.Generator().manual_seed(0)).sample_params(n, "cpu")
    area = params["area_fraction"]
    assert area.min() >= 0.08 - 0.02 and area.max() <= 1.0
    log_ratio = torch.log(params["aspect_ratio"])
    assert log_ratio.abs().max() < math.log(4 / 3) + 0.35
    assert log_ratio.mean().abs() < 0.02
    # Boxes lie inside the image.
    assert (params["top"] >= 0).all() and (params["top"] + params["crop_height"] <= 32).all()
    assert (params["left"] >= 0).all() and (params["left"] + params["crop_width"] <= 32).all()

    # Area uniform in [0.08, 1] and log-uniform ratio, boxes that do not fit redrawn: the deciles
    # match torchvision's own sampler (which draws one box per call).
    torch.manual_seed(0)
    reference = torch.tensor(
        [T.RandomResizedCrop.get_params(torch.empty(3, 32, 32), [0.08, 1.0], [3 / 4, 4 / 3])[2:]
         for _ in range(10000)], dtype=torch.float32
    )
    levels = torch.linspace(0.1, 0.9, 9)
    torch.testing.assert_close(torch.quantile(area, levels), torch.quantile(reference.prod(1) / 1024, levels),
                               atol=0.025, rtol=0)
    assert abs(reference[:, 0].mean() - params["crop_height"].float().mean()) < 0.4
    assert abs(reference[:, 1].mean() - params["crop_width"].float().mean()) < 0.4


def test_flip_jitter_grayscale_rates_and_factor_ranges() -> None:
    n = 20000
    params = ContrastiveViews(generator=torch.Generator().manual_seed(0)).sample_params(n, "cpu")
    assert abs(params["flip"].float().mean() - 0.5) < 0.02
    assert abs(params["jitter"].float().mean() - 0.8) < 0.02
    assert abs(params["grayscale"].float().mean() - 0.2) < 0.02
    jittered = params["jitter"]
    for name in ("brightness", "contrast", "saturation"):
        factor = params[name][jittered]
        assert factor.min() >= 0.6 and factor.max() <= 1.4
        assert factor.min() < 0.61 and factor.max() > 1.39
        assert abs(factor.mean() - 1.0) < 0.01
        assert (params[name][~jittered] == 1).all()
    hue = params["hue"][jittered]
    assert hue.min() >= -0.1 and hue.max() <= 0.1 and hue.abs().max() > 0.099
    assert (params["hue"][~jittered] == 0).all()
    assert sorted(params["jitter_order"].tolist()) == [0, 1, 2, 3]


def test_recipe_options_are_constructor_options() -> None:
    views = ContrastiveViews(scale=(0.5, 0.5), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=1.0, grayscale_p=1.0,
                             brightness=0.0, hue=0.0, generator=torch.Generator().manual_seed(0))
    params = views.sample_params(1000, "cpu")
    assert torch.allclose(params["area_fraction"], torch.tensor(0.5), atol=0.02)
    assert not params["flip"].any() and params["jitter"].all() and params["grayscale"].all()
    assert (params["brightness"] == 1).all() and (params["hue"] == 0).all()
    (first, second, third) = ContrastiveViews(num_views=3)(uint8_batch(2))
    assert first.shape == third.shape


def test_supervised_augment_is_a_shifted_window_of_the_padded_image() -> None:
    module = SupervisedAugment(generator=torch.Generator().manual_seed(0))
    images = torch.rand(6, 3, 32, 32)
    params = module.sample_params(6, "cpu")
    out = module.apply(images, params)
    padded = torch.nn.functional.pad(images, [4, 4, 4, 4])
    for i in range(6):
        top, left = int(params["top"][i]), int(params["left"][i])
        expected = padded[i, :, top:top + 32, left:left + 32]
        expected = expected.flip(-1) if params["flip"][i] else expected
        assert torch.equal(out[i], expected)

    many = module.sample_params(20000, "cpu")
    counts = torch.bincount(many["top"], minlength=9).float() / 20000
    assert many["top"].min() == 0 and many["top"].max() == 8
    assert (counts - 1 / 9).abs().max() < 0.015
    assert abs(many["flip"].float().mean() - 0.5) < 0.02


def test_make_augment() -> None:
    assert isinstance(make_augment("contrastive", hue=0.05), ContrastiveViews)
    assert isinstance(make_augment("supervised"), SupervisedAugment)
    assert isinstance(make_augment("none"), NoAugment)
    with pytest.raises(ConfigError, match="'contrastive', 'supervised', 'none'"):
        make_augment("simclr")
    with pytest.raises(ConfigError, match="does not accept"):
        make_augment("supervised", brightness=0.4)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"scale": (0.9, 0.1)}, "scale"),
        ({"ratio": (0.0, 1.0)}, "ratio"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"jitter_p": -0.1}, "jitter_p"),
        ({"brightness": -1.0}, "brightness"),
        ({"hue": 0.6}, "hue"),
        ({"size": 0}, "size"),
        ({"num_views": 0}, "num_views"),
    ],
)
def test_bad_contrastive_options(options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        ContrastiveViews(**options)


def test_bad_supervised_options() -> None:
    with pytest.raises(ConfigError, match="padding"):
        SupervisedAugment(padding=-1)
    with pytest.raises(ConfigError, match="flip_p"):
        SupervisedAugment(flip_p=2.0)


@pytest.mark.parametrize("size", [64, 96])
def test_augmentations_follow_the_image_size(size: int) -> None:
    """Views are as large as the images, and the supervised crop pads an eighth of them (4 px at 32)."""
    images = torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8)
    assert all(view.shape == (4, 3, size, size) for view in ContrastiveViews()(images))
    module = SupervisedAugment(generator=torch.Generator().manual_seed(0))
    (view,) = module(images)
    assert view.shape == (4, 3, size, size) and module.sizes(size) == (size, size // 8)
    tops = module.sample_params(4000, "cpu", size, size)["top"]
    assert int(tops.max()) == 2 * (size // 8) and int(tops.min()) == 0
    assert SupervisedAugment().sizes(32) == (32, 4)  # CIFAR's recipe unchanged
    assert ContrastiveViews(size=16)(images)[0].shape == (4, 3, 16, 16)  # a size given is kept
