"""Known, harmless third-party messages, silenced at ``cl-robust``'s entry point by their text.

Each entry says why it is harmless here. Anything else still prints: a new warning is news.
"""

from __future__ import annotations

import logging
import re
import warnings

#: (start of the warning's message, why it is harmless for cl_robust)
HARMLESS_WARNINGS: tuple[tuple[str, str], ...] = (
    ("The `srun` command is available on your system but is not used",
     "Lightning's hint on any machine with SLURM installed; a run under SLURM is started with srun "
     "(see examples/study/slurm_array.sh)"),
    ("`isinstance(treespec, LeafSpec)` is deprecated",
     "Lightning's own use of a torch API deprecated in newer torch; nothing for us to change"),
    ("You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
     "by design: the module's on_after_batch_transfer applies its augmentation on the device"),
)
#: Lightning's info lines that advertise other products.
ADVERTISEMENTS: tuple[str, ...] = ("💡 Tip:",)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


def quiet_known_messages() -> None:
    """Ignore the warnings of :data:`HARMLESS_WARNINGS` and drop Lightning's advertisements (idempotent)."""
    for message, _ in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropAdvertisements) for existing in logger.filters):
            logger.addFilter(_DropAdvertisements())
