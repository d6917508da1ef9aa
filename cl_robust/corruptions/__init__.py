"""The common corruptions of CIFAR-10-C / CIFAR-100-C (Hendrycks & Dietterich, ICLR 2019), generated on the fly.

``corrupt(images, corruption, severity, generator=None)`` applies one of the 15 corruptions
(or the 4 extra ones) at one of 5 severities to a batch of 32 x 32 images, with the severity
constants of CIFAR-10-C's own generator (``make_cifar_c.py``; not ImageNet-C's), batched on
tensors wherever the corruption allows and seeded by a ``torch.Generator``.

How close each corruption is to the published generator (measured by
``benchmarks/corruptions_fidelity.py`` with the published code run on the same images and the
same random numbers) is listed in :mod:`cl_robust.corruptions.fidelity`.
"""

from .apply import REGISTRY, check_corruption, check_images, check_severity, corrupt, known_corruptions_text
from .severities import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, FAMILIES, SEVERITIES, family_of

__all__ = ["ALL_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "FAMILIES", "REGISTRY", "SEVERITIES", "check_corruption",
           "check_images", "check_severity", "corrupt", "family_of", "known_corruptions_text"]
