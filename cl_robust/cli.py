"""``cl-robust``: the entry point, which hands each command to the module that runs it.

    cl-robust --help                      # every command with one line
    cl-robust fit --config examples/configs/pretrain/cl.yaml
    cl-robust evaluate --checkpoint runs/cl/checkpoints/last.ckpt --output results/cl

``fit`` / ``validate`` / ``test`` (and ``predict``) run LightningCLI
(:mod:`cl_robust.commands.lightning_cli`: resuming, run records, SLURM requeue); ``evaluate``,
``analyze`` and ``study`` are the library's own commands (:data:`EXTRA_COMMANDS`). Problems with
options, data or checkpoints print one line (``cl-robust: error: ...``) and exit with status 2
(:mod:`cl_robust.commands.user_errors`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from cl_robust.commands.lightning_cli import TRAINER_DEFAULTS, RobustCLI, run_lightning_cli
from cl_robust.commands.quiet import quiet_known_messages
from cl_robust.commands.user_errors import user_error
from cl_robust.commands.versions import VERSIONED_PACKAGES, library_versions
from cl_robust.errors import ConfigError
from cl_robust.methods.checkpoints import RUN_RECORD_KEY

# The first six live below this module (commands/, methods/) and stay importable from here.
__all__ = ["RUN_RECORD_KEY", "TRAINER_DEFAULTS", "VERSIONED_PACKAGES", "RobustCLI", "library_versions", "user_error",
           "COMMANDS", "EXTRA_COMMANDS", "main", "overview"]

#: Every command with its one line for ``cl-robust --help``.
COMMANDS: dict[str, str] = {
    "fit": "train from a config: pretraining (sl, cl, scl, mixes) or fine-tuning; resumes by itself",
    "validate": "a checkpoint's loss and accuracy on the validation split (same options as fit)",
    "test": "a checkpoint's clean accuracy on the test split (same options as fit, with --ckpt_path)",
    "evaluate": "clean and robust accuracy of a checkpoint under a suite of attacks (PGD, AutoAttack, TM-I)",
    "analyze": "layer redundancy of a checkpoint: CKA between layers on clean and adversarial inputs, probes",
    "study": "a whole grid of runs (pretrain, fine-tune, evaluate, analyze), resumable, ending in a report",
}


def overview() -> str:
    """The text of ``cl-robust --help``: every command with one line."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return ("usage: cl-robust COMMAND [options]   (cl-robust COMMAND --help for its options)\n\n"
            "Robustness and layer redundancy of supervised and contrastive learning.\n\ncommands:\n"
            + "\n".join(lines) + "\n")


# Commands that are not Trainer methods: name -> "module:function" taking argv.
EXTRA_COMMANDS: dict[str, str] = {
    "evaluate": "cl_robust.evaluation.command:main",
    "analyze": "cl_robust.analysis.command:main",
    "study": "cl_robust.study.command:main",
}


def _command(name: str) -> Callable[[Sequence[str]], int | None]:
    module_name, function_name = EXTRA_COMMANDS[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``cl-robust`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_known_messages()
    if not argv or argv[0] in ("-h", "--help"):
        print(overview(), end="")
        sys.exit(0 if argv else 2)
    try:
        if not argv[0].startswith("-") and argv[0] not in (*COMMANDS, "predict"):
            raise ConfigError(f"unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} (cl-robust --help)")
        if argv and argv[0] in EXTRA_COMMANDS:
            code = _command(argv[0])(argv[1:])
            sys.exit(code or 0)
        run_lightning_cli(argv)
    except KeyboardInterrupt:
        print("cl-robust: interrupted; run the same command again to continue (fit resumes from its last.ckpt, "
              "evaluate's AutoAttack from its saved progress)", file=sys.stderr, flush=True)
        sys.exit(130)
    except Exception as error:
        known = user_error(error)
        if known is None:
            raise
        message, status = known
        print(f"cl-robust: error: {message}", file=sys.stderr)
        sys.exit(status)


if __name__ == "__main__":
    main()
