"""One-line notices of what the library did differently from what was literally asked.

The rule: an input the library would have to change (resize, round, fall back) is refused with
a ConfigError, or, where the change is the documented behaviour or was asked for explicitly,
announced here in one line and recorded in the output files (checkpoint metadata,
``robustness.json``, ``analysis.json``).
"""
from __future__ import annotations

import sys

from lightning.pytorch.utilities.rank_zero import rank_zero_only

PREFIX = "cl-robust: "
#: Set in the worker processes of ``evaluate`` / ``analyze --devices N``: the launching process, which read the
#: same data first, has announced everything already.
silenced = False


def announce(message: str) -> None:
    """Print ``cl-robust: <message>`` on stderr, once (rank 0 of a distributed run)."""
    if not silenced and getattr(rank_zero_only, "rank", 0) == 0:
        print(PREFIX + message, file=sys.stderr, flush=True)
