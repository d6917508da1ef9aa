"""The progress bar over images that ``cl-robust evaluate`` and ``analyze`` both draw.

Bars are tqdm's (a dependency of Lightning), on stderr, drawn on rank 0 only (``enabled``).
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def image_bar(total: int | None, description: str, enabled: bool) -> tqdm:
    """A tqdm bar over images on stderr (images done, rate, time left); draws nothing when not ``enabled``."""
    # In a log file (a study run's stdout.log) one line every half minute instead of twice a second.
    interval = 0.5 if sys.stderr.isatty() else 30.0
    return tqdm(total=total, desc=description, unit="img", file=sys.stderr, disable=not enabled, leave=True,
                dynamic_ncols=True, mininterval=interval)
