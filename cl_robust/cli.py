"""``cl-robust``: LightningCLI for fit / validate / test, plus the library's own commands.

    cl-robust fit --config examples/configs/pretrain/cl.yaml
    cl-robust fit --config examples/configs/pretrain/cl.yaml --trainer.max_epochs 5
    cl-robust fit --config examples/configs/finetune/linear.yaml --model.checkpoint runs/cl/.../last.ckpt
    cl-robust fit --print_config          # a full config to start from

Any cl_robust module (or a user's own subclass) is chosen with ``model.class_path``;
``num_classes`` flows from the data module into the model. Problems with options, data or
checkpoints print one line (``cl-robust: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from cl_robust.callbacks.base import AdversarialTraining
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods.base import RobustMethod

# Commands that are not Trainer methods: name -> "module:function" taking argv.
EXTRA_COMMANDS: dict[str, str] = {}

TRAINER_DEFAULTS = {
    "default_root_dir": "runs",
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
}


class RobustCLI(LightningCLI):
    """LightningCLI with ``data.num_classes`` linked into the model and checkpointing as its own key.

    ``checkpoint:`` configures the always-present ``ModelCheckpoint`` (``save_last`` on), so
    overlay configs that set ``trainer.callbacks`` cannot drop it by replacing the list.
    """

    def add_arguments_to_parser(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Optional adversarial training: an overlay config sets adversarial.class_path (none when absent).
        parser.add_lightning_class_args(AdversarialTraining, "adversarial", subclass_mode=True, required=False)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Drop optional callback keys left unset: LightningCLI would pass None as a callback
        (Lightning-AI/pytorch-lightning#21527)."""
        return super()._instantiate_trainer(config, [callback for callback in callbacks if callback is not None])


def run_lightning_cli(argv: Sequence[str]) -> RobustCLI:
    """Parse ``argv`` and run the chosen Trainer subcommand."""
    return RobustCLI(RobustMethod, CIFARDataModule, subclass_mode_model=True, subclass_mode_data=True,
                     args=list(argv), seed_everything_default=0, trainer_defaults=TRAINER_DEFAULTS,
                     save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False)


def _command(name: str) -> Callable[[Sequence[str]], int | None]:
    module_name, function_name = EXTRA_COMMANDS[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def find_config_error(error: BaseException) -> ConfigError | None:
    """The ConfigError behind ``error``, if any (jsonargparse wraps errors raised while instantiating)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConfigError):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``cl-robust`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in EXTRA_COMMANDS:
            code = _command(argv[0])(argv[1:])
            sys.exit(code or 0)
        run_lightning_cli(argv)
    except Exception as error:
        config_error = find_config_error(error)
        if config_error is None:
            raise
        print(f"cl-robust: error: {config_error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
