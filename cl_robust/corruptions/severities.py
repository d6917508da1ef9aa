"""CIFAR-10-C's severity constants, the corruptions' names and their families.

The numbers are those of Hendrycks & Dietterich's CIFAR generator (ICLR 2019, "Benchmarking
neural network robustness to common corruptions and perturbations"): ``make_cifar_c.py`` in
github.com/hendrycks/robustness, folder ``ImageNet-C/create_c`` (commit 8190fe3), which made
CIFAR-10-C and CIFAR-100-C. They differ from ImageNet-C's (for example Gaussian noise sd
0.04-0.10 here against 0.08-0.38 there), which packages such as ``imagecorruptions`` implement.
Each tuple below lists severities 1 to 5; the meaning of each entry is given beside it.
"""

from __future__ import annotations

#: The 15 corruptions of CIFAR-10-C, in the paper's order.
CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: The four held-out corruptions the paper provides for validation.
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS = CORRUPTIONS + EXTRA_CORRUPTIONS
SEVERITIES = (1, 2, 3, 4, 5)

#: The paper's four families (its Figure 1); the extras join the family they were made for.
FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
    "weather": ("snow", "frost", "fog", "brightness", "spatter"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate"),
}


def family_of(corruption: str) -> str:
    """``noise``, ``blur``, ``weather`` or ``digital``."""
    return next(family for family, members in FAMILIES.items() if corruption in members)


#: Standard deviation of the added Gaussian noise (pixels in [0, 1]).
GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)
#: Photons per unit intensity: x -> Poisson(x * c) / c.
SHOT_NOISE = (500, 250, 100, 75, 50)
#: Fraction of values replaced by 0 or 1 (salt and pepper, half each).
IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)
#: Standard deviation of the multiplicative noise: x -> x + x * N(0, c).
SPECKLE_NOISE = (0.06, 0.10, 0.12, 0.16, 0.20)
#: Sigma of the Gaussian blur (pixels).
GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)
#: (sigma of the Gaussian blurs, largest pixel displacement, rounds of displacement).
GLASS_BLUR = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))
#: (disk radius, sigma of the Gaussian that anti-aliases the disk).
DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
#: (radius, sigma) of ImageMagick's motion blur; the angle is uniform in [-45, 45) degrees.
MOTION_BLUR = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5))
#: Largest zoom factor: the image is averaged with zooms 1, 1.01, ... up to below this bound.
ZOOM_BLUR_END = (1.06, 1.11, 1.16, 1.21, 1.26)
ZOOM_BLUR_STEP = 0.01
#: (strength of the plasma fractal, its wibble decay).
FOG = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))
#: (weight of the image, weight of the frost texture).
FROST = ((1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))
#: Frost textures drawn from (the generator draws one of the first five of its six files).
FROST_TEXTURES = 5
#: Scale applied to the frost photographs before a 32 x 32 crop is taken.
FROST_SCALE = 0.2
#: (mean, sd of the snow layer's noise, its zoom, threshold, motion-blur radius, sigma, weight of the image).
SNOW = (
    (0.1, 0.2, 1.0, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1.0, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
#: (mean, sd of the liquid layer's noise, its blur sigma, threshold, strength, 0 water / 1 mud).
SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1.0, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
#: Factor that scales each channel's distance from its mean.
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
#: Added to the HSV value channel.
BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)
#: (factor, offset) of the HSV saturation channel.
SATURATE = ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2))
#: JPEG quality.
JPEG_QUALITY = (80, 65, 58, 50, 40)
#: The image is box-downsampled to int(32 * c) pixels a side and box-upsampled back.
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)
#: Elastic transform on 32 x 32 images: (alpha, sigma, affine jitter), in pixels (32 x the published fractions).
ELASTIC_SIZE = 32
ELASTIC = tuple((ELASTIC_SIZE * a, ELASTIC_SIZE * s, ELASTIC_SIZE * j) for a, s, j in (
    (0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)))
