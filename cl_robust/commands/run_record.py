"""What a ``cl-robust fit`` run records about itself: seed, library versions and command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from cl_robust.commands.versions import library_versions
from cl_robust.methods.checkpoints import RUN_RECORD_KEY


class RunRecord(SaveConfigCallback):
    """Saves ``config.yaml`` and ``versions.json`` (seed, library versions, command line) in the
    run's log folder, and the same record in every checkpoint under ``cl_robust_run``."""

    def run_record(self) -> dict[str, object]:
        return {"seed": self.config.get("seed_everything"), "versions": library_versions(), "argv": sys.argv}

    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        # Runs on rank 0 only, so not through Trainer.log_dir: that broadcasts, and under DDP the
        # other ranks would never join it (the fit hung in setup).
        logger = trainer.loggers[0] if trainer.loggers else None
        if logger is None:
            log_dir = trainer.default_root_dir
        else:
            log_dir = logger.log_dir if isinstance(logger, (CSVLogger, TensorBoardLogger)) else logger.save_dir
        if log_dir is not None:
            with open(os.path.join(log_dir, "versions.json"), "w") as file:
                json.dump(self.run_record(), file, indent=2)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        record = self.run_record()
        versioned = [logger for logger in trainer.loggers if isinstance(logger, (CSVLogger, TensorBoardLogger))]
        if versioned:  # the log folder a resumed run writes to again (continue_in_log_folder)
            record["log_version"] = versioned[0].version
        checkpoint[RUN_RECORD_KEY] = record
