"""``cl-robust fit`` / ``validate`` / ``test``: LightningCLI with the library's defaults and checks.

    cl-robust fit --config examples/configs/pretrain/cl.yaml
    cl-robust fit --config examples/configs/pretrain/cl.yaml --trainer.max_epochs 5
    cl-robust fit --config examples/configs/finetune/linear.yaml --model.checkpoint runs/cl/.../last.ckpt
    cl-robust fit --print_config          # a full config to start from

Any cl_robust module (or a user's own subclass) is chosen with ``model.class_path``;
``num_classes`` flows from the data module into the model.

``cl-robust fit`` resumes by itself: run the same command again after a crash or a kill and it
continues from the run's ``last.ckpt`` (``--ckpt_path`` chooses another checkpoint,
``--ckpt_path null`` starts over; :mod:`cl_robust.commands.resume`). ``checkpoint.every_n_train_steps``
adds mid-epoch checkpoints. A NaN or infinite training loss stops the run with one line
(``nan_guard``). Every run saves ``versions.json`` (seed, library versions, command) beside
``config.yaml`` (:mod:`cl_robust.commands.run_record`). Under SLURM the requeue signal saves
``last.ckpt`` at the end of the step and requeues the job (:mod:`cl_robust.commands.slurm_requeue`).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
import yaml
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from cl_robust.callbacks.base import AdversarialTraining
from cl_robust.callbacks.nan_guard import NonFiniteLossGuard
from cl_robust.callbacks.progress import default_progress_bar
from cl_robust.commands.checkpoint import check_checkpoint_matches
from cl_robust.commands.locations import check_writable_folder
from cl_robust.commands.resume import (
    check_resume_checkpoint,
    continue_in_log_folder,
    hpc_checkpoint,
    resume_notice,
)
from cl_robust.commands.run_record import RunRecord
from cl_robust.commands.slurm_requeue import RequeueAtStepEnd
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods.base import RobustMethod

TRAINER_DEFAULTS = {
    "default_root_dir": "runs",
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
}


class RobustCLI(LightningCLI):
    """LightningCLI with ``data.num_classes`` linked into the model and checkpointing as its own key.

    ``checkpoint:`` configures the always-present ``ModelCheckpoint`` (``save_last`` on), so
    overlay configs that set ``trainer.callbacks`` cannot drop it by replacing the list.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        arguments = kwargs.get("args")
        self.asked_subcommand = arguments[0] if isinstance(arguments, list) and arguments else None
        every, kept = LightningCLI.subcommands(), self.subcommands()
        parser_kwargs = kwargs.get("parser_kwargs") or {}
        kwargs["parser_kwargs"] = {key: value for key, value in parser_kwargs.items() if key not in every or key in kept}
        super().__init__(*args, **kwargs)

    def subcommands(self) -> dict[str, set[str]]:  # type: ignore[override]
        """Lightning's subcommands, only the one ``args`` names when it names one: jsonargparse builds
        each subcommand's parser from every signature it reaches (about a third of a small run's start,
        four times over), and a run uses one. ``cl-robust fit --help`` still shows all of fit's options."""
        every = LightningCLI.subcommands()
        return {self.asked_subcommand: every[self.asked_subcommand]} if self.asked_subcommand in every else every

    def add_arguments_to_parser(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        # Optional adversarial training: an overlay config sets adversarial.class_path (none when absent).
        parser.add_lightning_class_args(AdversarialTraining, "adversarial", subclass_mode=True, required=False)
        parser.add_lightning_class_args(NonFiniteLossGuard, "nan_guard")

    def parse_arguments(self, parser: Any, args: Any) -> None:
        """Parse ``args`` (always given by :func:`main`) without LightningCLI's warning about args and sys.argv."""
        self.config = parser.parse_object(args) if isinstance(args, dict) else parser.parse_args(args)

    def before_instantiate_classes(self) -> None:
        """Check the folders the run writes to (checkpoints, logs) before anything is built."""
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        checkpoint_dir = (config.get("checkpoint") or {}).get("dirpath")
        if checkpoint_dir:
            check_writable_folder(checkpoint_dir, "checkpoint.dirpath")
        trainer = config.get("trainer") or {}
        if trainer.get("default_root_dir"):
            check_writable_folder(trainer["default_root_dir"], "trainer.default_root_dir")
        loggers = trainer.get("logger")
        for index, logger in enumerate(loggers if isinstance(loggers, list) else [loggers]):
            save_dir = ((logger.get("init_args") or {}).get("save_dir")
                        if hasattr(logger, "get") and not isinstance(logger, bool) else None)
            if save_dir:
                where = f"[{index}]" if isinstance(loggers, list) else ""
                check_writable_folder(save_dir, f"trainer.logger{where}.init_args.save_dir")

    def _parse_ckpt_path(self) -> None:
        """Check an explicit ``ckpt_path`` before LightningCLI reads the hyperparameters stored in it."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in ("last", "best", "hpc") and "://" not in str(ckpt_path):
            check_resume_checkpoint(str(ckpt_path))
            if subcommand in ("test", "validate", "predict"):
                # Before LightningCLI replaces the config's model with the class stored in the checkpoint.
                config = self.config[subcommand]
                model_class = _import_class((config.get("model") or {}).get("class_path"))
                dataset = ((config.get("data") or {}).get("init_args") or {}).get("dataset")
                check_checkpoint_matches(str(ckpt_path), model_class, dataset)
        self._apply_checkpoint_hyperparameters()

    def _apply_checkpoint_hyperparameters(self) -> None:
        """LightningCLI's ``_parse_ckpt_path`` (the checkpoint's hyperparameters replace the config's model),
        keeping only the arguments its class takes.

        A module records what it resolved (FineTune: ``backbone_width``, ``dual_bn``), which
        ``load_from_checkpoint`` drops but LightningCLI passed on: ``cl-robust test`` of a fine-tuned
        checkpoint ended in a TypeError.
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not os.path.isfile(str(ckpt_path)):
            return
        checkpoint = torch.load(ckpt_path, weights_only=True, map_location="cpu", mmap=True)
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        if not hparams:
            return
        if "_class_path" in hparams:
            class_path = hparams.pop("_class_path")
            model_class = _import_class(class_path)
            if model_class is not None:
                parameters = inspect.signature(model_class.__init__).parameters
                if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
                    hparams = {key: value for key, value in hparams.items() if key in parameters}
            hparams = {"class_path": class_path, "dict_kwargs": hparams}
        self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def before_fit(self) -> None:
        """Turn ``ckpt_path: last`` into the run's last checkpoint (checked) or a fresh start, and say which.

        "Last" is the newest of the ``last*.ckpt`` files of the run's ``ModelCheckpoint`` and of a
        Lightning ``hpc_ckpt_<n>.ckpt`` (which ``cl-robust fit`` never writes, see ``RequeueAtStepEnd``).
        The path is always passed on, so Lightning loads exactly the file announced here.
        """
        config = self.config_init[self.subcommand]
        ckpt_path = config.get("ckpt_path")
        hpc = hpc_checkpoint(self.trainer)
        if ckpt_path is None and hpc is not None and SLURMEnvironment.detect():
            resume_notice(f"resuming from {hpc} (Lightning loads hpc_ckpt_*.ckpt under SLURM by itself; "
                      "delete it to start over)")
        if ckpt_path == "last":
            candidates = {hpc} if hpc is not None else set()
            for callback in self.trainer.checkpoint_callbacks:
                if isinstance(callback, ModelCheckpoint):
                    candidates |= callback._find_last_checkpoints(self.trainer)
            if not candidates:
                config["ckpt_path"] = None
                resume_notice("starting fresh (no last checkpoint of this run yet)")
                return
            ckpt_path = max(candidates, key=os.path.getmtime)
            config["ckpt_path"] = ckpt_path
        if ckpt_path is not None and ckpt_path not in ("best", "hpc") and "://" not in str(ckpt_path):
            check_resume_checkpoint(str(ckpt_path), self.model)
            continue_in_log_folder(self.trainer, str(ckpt_path))
            resume_notice(f"resuming from {ckpt_path}")

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Drop optional callback keys left unset: LightningCLI would pass None as a callback
        (Lightning-AI/pytorch-lightning#21527). Add ``RequeueAtStepEnd`` (inert outside SLURM) and, unless the
        config chose one, a progress bar whose epoch counter reads the run's real limit (``default_progress_bar``)."""
        callbacks = [callback for callback in callbacks if callback is not None]
        return super()._instantiate_trainer(config, [*callbacks, RequeueAtStepEnd(), *default_progress_bar(config)])


def _import_class(class_path: Any) -> type | None:
    """The class named by a config's ``class_path`` (None when it cannot be imported)."""
    if not isinstance(class_path, str) or "." not in class_path:
        return None
    module_name, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def with_resume_default(argv: Sequence[str]) -> list[str]:
    """``fit`` without ``--ckpt_path`` gets ``--ckpt_path last`` right after it (a config file may still set it)."""
    argv = list(argv)
    given = any(arg == "--ckpt_path" or arg.startswith("--ckpt_path=") for arg in argv)
    if argv and argv[0] == "fit" and not given and "--help" not in argv and "-h" not in argv:
        return ["fit", "--ckpt_path", "last", *argv[1:]]
    return argv


# Parse errors raise (and ``main`` prints one line) instead of printing the whole usage text.
PARSER_KWARGS: dict[str, Any] = {"exit_on_error": False, **{name: {"exit_on_error": False}
                                                           for name in ("fit", "validate", "test", "predict")}}


def check_config_files(argv: Sequence[str]) -> None:
    """ConfigError naming the file when a ``--config`` file is not valid YAML."""
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag in ("-c", "--config") and os.path.isfile(value):
            try:
                with open(value) as file:
                    yaml.safe_load(file)
            except yaml.YAMLError as error:
                where = getattr(error, "problem_mark", None)
                line = f" line {where.line + 1}" if where is not None else ""
                raise ConfigError(f"--config {value}: not valid YAML ({getattr(error, 'problem', None) or error}"
                                  f"{',' if line else ''}{line})") from None


def run_lightning_cli(argv: Sequence[str]) -> RobustCLI:
    """Parse ``argv`` and run the chosen Trainer subcommand."""
    check_config_files(argv)
    return RobustCLI(RobustMethod, CIFARDataModule, subclass_mode_model=True, subclass_mode_data=True,
                     args=with_resume_default(argv), seed_everything_default=0, trainer_defaults=TRAINER_DEFAULTS,
                     parser_kwargs=PARSER_KWARGS,
                     save_config_callback=RunRecord, save_config_kwargs={"overwrite": True},
                     auto_configure_optimizers=False)
