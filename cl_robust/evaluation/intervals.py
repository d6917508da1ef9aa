"""95% intervals of an accuracy counted over a test set.

An accuracy of ``correct`` out of ``total`` test images is a binomial proportion; its interval
is the Wilson score interval (Wilson 1927, "Probable inference, the law of succession, and
statistical inference"), which keeps its coverage near the nominal level for small ``total``
and for accuracies near 0 or 1 where the normal (Wald) interval fails (Brown, Cai & DasGupta
2001, "Interval estimation for a binomial proportion"). It covers the sampling of the test
images, not the variation between training runs.
"""

from __future__ import annotations

import math

#: The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054
METHOD = "Wilson score interval, 95%"


def wilson_interval(correct: int, total: int, z: float = Z95) -> list[float] | None:
    """``[low, high]`` (fractions) for ``correct`` successes out of ``total``; None when ``total`` is 0."""
    if total <= 0:
        return None
    p = correct / total
    scale = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / scale
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / scale
    # At 0 and at ``total`` the bound is exactly 0 / 1 (the closed form misses it by rounding).
    return [0.0 if correct == 0 else max(0.0, centre - half), 1.0 if correct == total else min(1.0, centre + half)]
