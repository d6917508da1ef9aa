"""The common corruptions of CIFAR-10-C / CIFAR-100-C (Hendrycks & Dietterich, ICLR 2019), generated on the fly.

``corrupt(images, corruption, severity, generator=None)`` applies one of the 15 corruptions
(or the 4 extra ones) at one of 5 severities to a batch of 32 x 32 images, with the severity
constants of CIFAR-10-C's own generator (``make_cifar_c.py`` in github.com/hendrycks/robustness;
not ImageNet-C's), batched on tensors wherever the corruption allows and seeded by a
``torch.Generator``. Libraries used where tensors fall short: Pillow for JPEG and pixelate (as
the generator; libjpeg's output and Pillow's 8-bit box resampling), OpenCV (optional) for the
water drops of ``spatter``; ImageMagick's motion blur and OpenCV's ``warpAffine`` are
re-implemented, rounding included. Frost blends crops of the published frost photographs
(shipped in ``frost/``, Apache-2.0, scaled as the generator scales them; see ``frost/README.md``).

How close to the published generator: ``benchmarks/corruptions_fidelity.py`` runs
``make_cifar_c.py`` itself (scikit-image 0.26, SciPy 1.17, OpenCV 4.14, ImageMagick 6.9.11 through
Wand, Pillow 13) and ours on the same 100 CIFAR-10 test images, ours fed the same random numbers
(numpy's, replayed in the published order), and compares the 8-bit results:

- identical at every severity (100% of values equal): gaussian, shot and speckle noise,
  defocus, glass, motion and Gaussian blur, frost, fog, brightness, contrast, saturate,
  pixelate, JPEG, and spatter at severities 1-3 (water);
- within one grey level, nearly all equal: snow (severity 5: 99.990% equal), spatter severities
  4-5 (mud: 99.999%), elastic (severity 1 identical, 2-5: 99.973-99.989%), zoom blur
  (99.82-99.97%: a float32 matrix product sums in another order than SciPy's zoom, and a few
  values land on the other side of an 8-bit truncation);
- impulse noise draws from scikit-image's own unseeded generator, so only its statistics can
  match: the share of values set to 0 or 255 was 0.0098/0.0200/0.0304/0.0496/0.0701 published
  against 0.0102/0.0196/0.0301/0.0494/0.0703 here (expected 0.01/0.02/0.03/0.05/0.07).

Glass blur's "swap" of pixels in the published loop copies the neighbour instead (a tuple of
numpy row views); that behaviour is what CIFAR-10-C holds and what is reproduced here. Elastic
reproduces OpenCV 3/4's fixed-point ``warpAffine`` (positions to 1/32 pixel), with which the
published files were made; OpenCV 5 computes positions in floating point.
"""

from .apply import REGISTRY, check_corruption, check_images, check_severity, corrupt, known_corruptions_text
from .severities import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, FAMILIES, SEVERITIES, family_of

__all__ = ["ALL_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "FAMILIES", "REGISTRY", "SEVERITIES", "check_corruption",
           "check_images", "check_severity", "corrupt", "family_of", "known_corruptions_text"]
