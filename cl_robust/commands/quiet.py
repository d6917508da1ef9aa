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
    ("The number of training batches (",
     "Lightning's hint when an epoch has fewer batches than log_every_n_steps (50): step metrics are still logged "
     "every log_every_n_steps steps, counted across epochs (a run of fewer steps logs none), epoch metrics at every "
     "epoch's end; trainer.log_every_n_steps sets a denser interval"),
)
#: (regular expression matching the start of a warning whose text varies, an example of it, why it is harmless)
HARMLESS_PATTERNS: tuple[tuple[str, str, str], ...] = (
    (r"Found \d+ module\(s\) in eval mode at the start of training",
     "Found 43 module(s) in eval mode at the start of training. This may lead to unexpected behavior during training.",
     "by design: the linear probe (FineTune mode linear) keeps its frozen encoder, and every fine-tuned model its "
     "unused projection head, in eval mode so that their BatchNorm statistics stay those of pretraining"),
)
#: Lightning's info lines that advertise other products.
ADVERTISEMENTS: tuple[str, ...] = ("💡 Tip:",)


class _DropAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


def quiet_known_messages() -> None:
    """Ignore the warnings of :data:`HARMLESS_WARNINGS` and :data:`HARMLESS_PATTERNS` and drop Lightning's
    advertisements (idempotent)."""
    for message, _ in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))
    for pattern, _, _ in HARMLESS_PATTERNS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropAdvertisements) for existing in logger.filters):
            logger.addFilter(_DropAdvertisements())
