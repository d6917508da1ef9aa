"""How close ``cl_robust.corruptions`` is to CIFAR-10-C's published generator, on the same images.

For every corruption and severity, each image is corrupted twice: by the published
``make_cifar_c.py`` (run as published, after ``np.random.seed(s)``) and by ours fed the very
same random numbers (numpy seeded alike, its draws replayed in the published order into our
``..._with`` functions). Both results are 8-bit; the table gives the share of equal values,
the share within 1 grey level, the largest and the mean absolute difference. Differences that
remain are float rounding at the 8-bit truncation, and the few places where our batched
formula is not the published one. Impulse noise draws from scikit-image's own unseeded
generator, so only its statistics are compared (share of values set to 0 or 255).

    git clone https://github.com/hendrycks/robustness
    CL_ROBUST_DATA=data python benchmarks/corruptions_fidelity.py \\
        --generator robustness/ImageNet-C/create_c/make_cifar_c.py --images 100

Needs the reference stack listed in ``benchmarks/_corruption_references.py`` (ImageMagick for
the generator's motion blur and snow); the library itself needs none of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cifar10_or_random, load_note  # noqa: E402
from _corruption_references import inside, load_published_generator  # noqa: E402

from cl_robust.corruptions import (  # noqa: E402
    ALL_CORRUPTIONS,
    SEVERITIES,
    blur,
    corrupt,
    elastic,
    noise,
    plasma,
    spatter,
    weather,
)
from cl_robust.corruptions.sampling import Draws  # noqa: E402
from cl_robust.corruptions.severities import ELASTIC, FOG, SNOW, SPATTER  # noqa: E402

#: Corruptions without random numbers: ours is compared as it is.
DETERMINISTIC = ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate")


class ReplayDraws(Draws):
    """Draws taken from numpy's global generator, in the shapes and order the published code draws them."""

    def __init__(self) -> None:
        super().__init__(None, torch.device("cpu"), torch.float32)

    def normal(self, shape, mean, sd, dtype=None):  # type: ignore[no-untyped-def]
        hwc = np.random.normal(size=(shape[2], shape[3], shape[1]), scale=sd) + mean
        return torch.from_numpy(hwc).permute(2, 0, 1)[None].to(dtype or self.dtype)

    def poisson(self, rates):  # type: ignore[no-untyped-def]
        hwc = rates[0].permute(1, 2, 0).double().numpy()
        return torch.from_numpy(np.random.poisson(hwc).astype(np.float64)).permute(2, 0, 1)[None].to(rates.dtype)


def published(functions: dict, folder: Path, name: str, image: np.ndarray, severity: int, seed: int) -> np.ndarray:
    np.random.seed(seed)
    with inside(folder):
        return np.uint8(functions[name](Image.fromarray(image), severity))


def to_uint8(scaled: torch.Tensor) -> np.ndarray:
    return torch.floor(scaled.clamp(0, 255)).to(torch.uint8)[0].permute(1, 2, 0).numpy()


def ours(name: str, image: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """Our corruption of one image with the published draws for ``seed`` replayed."""
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None]
    if name in DETERMINISTIC:
        return corrupt(pixels, name, severity)[0].permute(1, 2, 0).numpy()
    x = pixels.double() / 255  # as corrupt() prepares uint8 images
    np.random.seed(seed)
    if name in ("gaussian_noise", "speckle_noise", "shot_noise"):
        return to_uint8(getattr(noise, name)(x, severity, ReplayDraws()))
    if name == "glass_blur":
        _, _, rounds = blur.GLASS_BLUR[severity - 1]
        offsets = torch.zeros(1, rounds, 30, 30, 2, dtype=torch.long)
        for r in range(rounds):
            for row in range(30):
                for column in range(30):
                    offsets[0, r, row, column] = torch.from_numpy(np.random.randint(-1, 1, size=(2,)))
        return to_uint8(blur.glass_blur_with(x, severity, offsets))
    if name == "motion_blur":
        return to_uint8(blur.motion_blur_with(x, severity, torch.tensor([np.random.uniform(-45, 45)])))
    if name == "snow":
        mean, sd = SNOW[severity - 1][:2]
        layer = torch.from_numpy(np.random.normal(size=(32, 32), loc=mean, scale=sd))[None, None]
        return to_uint8(weather.snow_with(x, severity, layer, torch.tensor([np.random.uniform(-135, -45)])))
    if name == "frost":
        index = np.random.randint(5)
        texture = weather.frost_textures()[index]
        top, left = np.random.randint(0, texture.shape[1] - 32), np.random.randint(0, texture.shape[2] - 32)
        return to_uint8(weather.frost_with(x, severity, torch.tensor([index]), torch.tensor([top]), torch.tensor([left])))
    if name == "fog":
        field = plasma.plasma_fractal(1, FOG[severity - 1][1], lambda shape: torch.from_numpy(
            np.random.uniform(-1, 1, shape))[None])
        return to_uint8(weather.fog_with(x, severity, field))
    if name == "elastic_transform":
        jitter = ELASTIC[severity - 1][2]
        offsets = torch.from_numpy(np.random.uniform(-jitter, jitter, size=(3, 2)))[None]
        noise_x = torch.from_numpy(np.random.uniform(-1, 1, size=(32, 32)))[None]
        noise_y = torch.from_numpy(np.random.uniform(-1, 1, size=(32, 32)))[None]
        return to_uint8(elastic.elastic_transform_with(x, severity, offsets, noise_x, noise_y))
    if name == "spatter":
        mean, sd = SPATTER[severity - 1][:2]
        liquid = torch.from_numpy(np.random.normal(size=(32, 32), loc=mean, scale=sd))[None, None]
        return to_uint8(spatter.spatter_with(x, severity, liquid))
    raise ValueError(name)


def impulse_row(functions: dict, folder: Path, images: np.ndarray, severity: int) -> str:
    """Share of values set to 0 or 255 by impulse noise (that were not already): published against ours."""
    theirs = np.stack([published(functions, folder, "impulse_noise", image, severity, i) for i, image in enumerate(images)])
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2)
    mine = corrupt(pixels, "impulse_noise", severity, torch.Generator().manual_seed(severity)).permute(0, 2, 3, 1).numpy()

    def hit(out: np.ndarray) -> float:
        return float((((out == 0) | (out == 255)) & (out != images)).mean())

    return f"| impulse_noise | {severity} | share set to 0/255: published {hit(theirs):.4f}, ours {hit(mine):.4f} | | | |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", type=Path, required=True, help="path of the published make_cifar_c.py")
    parser.add_argument("--images", type=int, default=100, help="CIFAR-10 test images to compare on (default 100)")
    parser.add_argument("--corruptions", nargs="+", default=list(ALL_CORRUPTIONS), choices=ALL_CORRUPTIONS)
    args = parser.parse_args()
    functions = load_published_generator(args.generator)
    folder = args.generator.resolve().parent
    images_chw, _, source = cifar10_or_random("test", args.images, seed=0)
    images = images_chw.permute(0, 2, 3, 1).contiguous().numpy()
    print(f"{len(images)} images: {source}; {load_note()}")
    print("| corruption | severity | equal values | within 1 level | max abs difference | mean abs difference |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    start = time.perf_counter()
    for name in args.corruptions:
        for severity in SEVERITIES:
            if name == "impulse_noise":
                print(impulse_row(functions, folder, images, severity))
                continue
            theirs = np.stack([published(functions, folder, name, image, severity, i) for i, image in enumerate(images)])
            mine = np.stack([ours(name, image, severity, i) for i, image in enumerate(images)])
            difference = np.abs(theirs.astype(np.int16) - mine.astype(np.int16))
            worst = max(worst, float(difference.mean()))
            print(f"| {name} | {severity} | {(difference == 0).mean():.4%} | {(difference <= 1).mean():.4%} | "
                  f"{int(difference.max())} | {difference.mean():.4f} |", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")
    print(f"corruptions_fidelity largest mean abs difference: {worst:.4f} (8-bit levels)")


if __name__ == "__main__":
    main()
