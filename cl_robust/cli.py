"""``cl-robust``: LightningCLI for fit / validate / test, plus the library's own commands.

    cl-robust fit --config examples/configs/pretrain/cl.yaml
    cl-robust fit --config examples/configs/pretrain/cl.yaml --trainer.max_epochs 5
    cl-robust fit --config examples/configs/finetune/linear.yaml --model.checkpoint runs/cl/.../last.ckpt
    cl-robust fit --print_config          # a full config to start from

Any cl_robust module (or a user's own subclass) is chosen with ``model.class_path``;
``num_classes`` flows from the data module into the model. Problems with options, data or
checkpoints print one line (``cl-robust: error: ...``) and exit with status 2.

``cl-robust fit`` resumes by itself: run the same command again after a crash or a kill and it
continues from the run's ``last.ckpt`` (``--ckpt_path`` chooses another checkpoint,
``--ckpt_path null`` starts over). ``checkpoint.every_n_train_steps`` adds mid-epoch checkpoints.
A NaN or infinite training loss stops the run with one line (``nan_guard``). Every run saves
``versions.json`` (seed, library versions, command) beside ``config.yaml``.

Under SLURM (``srun cl-robust fit ...``, Lightning's ``SLURMEnvironment(auto_requeue=True)``) the
requeue signal (``#SBATCH --signal=USR1@90``) saves ``last.ckpt`` at the end of the current
training step, requeues the job and stops it; when the job runs again, the same command resumes
from that ``last.ckpt`` exactly (``RequeueAtStepEnd``).
"""

from __future__ import annotations

import csv
import importlib
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from cl_robust.callbacks.base import AdversarialTraining
from cl_robust.callbacks.nan_guard import NonFiniteLossError, NonFiniteLossGuard
from cl_robust.callbacks.progress import default_progress_bar
from cl_robust.commands.checkpoint import check_checkpoint_matches
from cl_robust.commands.locations import check_writable_folder
from cl_robust.commands.quiet import quiet_known_messages
from cl_robust.commands.versions import VERSIONED_PACKAGES, library_versions  # noqa: F401 (VERSIONED_PACKAGES: imported from here)
from cl_robust.data.datamodule import CIFARDataModule
from cl_robust.errors import ConfigError
from cl_robust.methods.base import RobustMethod
from cl_robust.methods.checkpoints import RUN_RECORD_KEY

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

TRAINER_DEFAULTS = {
    "default_root_dir": "runs",
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
}


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


def continue_in_log_folder(trainer: Trainer, ckpt_path: str) -> None:
    """A resumed run logs into the folder of the run it resumes, not into a new ``version_N``.

    Applies to CSV and TensorBoard loggers whose version the config leaves unset; the checkpoint
    records the version it was written under. CSV metrics are appended to the same ``metrics.csv``.
    """
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # checked by check_resume_checkpoint already; nothing to continue here
        return
    version = (checkpoint.get(RUN_RECORD_KEY) or {}).get("log_version")
    if version is None:
        return
    for logger in trainer.loggers:
        if isinstance(logger, (CSVLogger, TensorBoardLogger)) and logger._version is None:
            logger._version = version
            if isinstance(logger, CSVLogger):
                _keep_earlier_metrics(logger, int(checkpoint.get("global_step", 0)))


@rank_zero_only
def _keep_earlier_metrics(logger: CSVLogger, resumed_step: int) -> None:
    """Lightning's CSV writer deletes an existing ``metrics.csv``: hand its rows before ``resumed_step``
    (the later ones are logged again by the resumed run) to the new writer, which saves them first."""
    path = os.path.join(logger.log_dir, "metrics.csv")
    if not os.path.isfile(path):
        return
    with open(path, newline="") as file:
        rows = [{key: value for key, value in row.items() if value != ""} for row in csv.DictReader(file)]
    earlier = [row for row in rows if int(float(row.get("step", 0))) < resumed_step]
    writer = logger.experiment  # created now: the old file is gone, its rows are kept here
    writer.metrics = [*earlier, *writer.metrics]


def check_resume_checkpoint(path: str, model: Any = None) -> None:
    """ConfigError unless ``path`` is a complete training checkpoint (of ``model``'s architecture when given).

    A kill while copying a checkpoint across file systems can truncate it; a foreign file gives
    Lightning's long tracebacks. The file is memory-mapped, so checking costs little.
    """
    if not os.path.isfile(path):
        raise ConfigError(f"ckpt_path: no such file {path!r}; give a .ckpt written by cl-robust fit, "
                          "'last' or null (start over)")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"ckpt_path: {path!r} is truncated or not a checkpoint (a run killed while writing it "
                          "can leave this); delete or rename it to resume from another checkpoint in "
                          f"{os.path.dirname(path) or '.'!r}, or pass --ckpt_path null to start over")
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:
        raise ConfigError(f"ckpt_path: {path!r} cannot be read ({type(error).__name__}); give a .ckpt written by "
                          "cl-robust fit or pass --ckpt_path null to start over") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise ConfigError(f"ckpt_path: {path!r} is not a training checkpoint (no state_dict / loop state); "
                          "to start from pretrained weights use the fine-tuning config's pretrained_checkpoint")
    if model is not None:
        expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
        found = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items()}
        if expected != found:
            different = sorted(set(expected) ^ set(found)) or [n for n in expected if expected[n] != found[n]]
            raise ConfigError(f"ckpt_path: {path!r} holds another model ({len(different)} tensors differ, e.g. "
                              f"{different[0]!r}); resume with the options it was trained with, or pass "
                              "--ckpt_path null to start over")


@rank_zero_only
def _announce(message: str) -> None:
    print(f"cl-robust: {message}", flush=True)


def slurm_job_id() -> str:
    """The id ``scontrol requeue`` takes for this job (``<array job>_<task>`` for an array task)."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job is not None:
        return f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ["SLURM_JOB_ID"]


class RequeueAtStepEnd(Callback):
    """SLURM's requeue signal: ``last.ckpt`` at the end of the current training step, then requeue and stop.

    Lightning's own handler (``SLURMEnvironment(auto_requeue=True)``) saves ``hpc_ckpt_<n>.ckpt`` from
    inside the signal handler, wherever the step is (say after the forward pass, with the step's
    random numbers drawn and the optimiser step not taken), which a resumed run cannot continue
    exactly, and which is not the ``last.ckpt`` that ``cl-robust fit`` resumes from. Here the signal
    only sets a flag. At the end of the step (where ``ModelCheckpoint`` saves; under DDP at the
    same step on every rank) the run logs the step's metrics, saves ``last.ckpt`` through its
    ``ModelCheckpoint``, rank 0 runs ``scontrol requeue`` as Lightning does, and every rank stops at once through Lightning's
    SIGTERM path (no collective after the requeue, whose SIGTERM is on its way), with exit status
    143. If the requeue fails the run stops all the same, saying so: the signal means the job is
    about to end, and the same command continues from ``last.ckpt``. Active only when Lightning
    chose a ``SLURMEnvironment`` with ``auto_requeue`` (its ``requeue_signal``, SIGUSR1 by default)
    and the run has a ``ModelCheckpoint``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.signalled = False
        self._previous: Any = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def _install(self) -> None:
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signum, self._on_signal)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        environment = trainer._accelerator_connector.cluster_environment
        if (stage != "fit" or not isinstance(environment, SLURMEnvironment) or not environment.auto_requeue
                or not isinstance(trainer.checkpoint_callback, ModelCheckpoint) or not hasattr(signal, "SIGUSR1")):
            return
        self.signum = int(environment.requeue_signal or signal.SIGUSR1)
        self.signalled = False
        self._previous = signal.getsignal(self.signum)
        # Installed before Lightning registers its handlers: it leaves a signal that has one alone.
        self._install()

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._install()  # whatever a Lightning version did meanwhile

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        if self.signum is None or not trainer.strategy.reduce_boolean_decision(self.signalled, all=False):
            return
        self.signalled = False
        # Log this step's metrics first (Lightning does so only after this hook), so that the logs
        # before the requeue and those after it leave no step out.
        trainer._logger_connector.on_batch_end()
        trainer._logger_connector.update_train_step_metrics()
        checkpoint = trainer.checkpoint_callback
        assert isinstance(checkpoint, ModelCheckpoint)
        if checkpoint.save_last:
            checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))
            path = checkpoint.last_model_path
        else:
            path = os.path.join(checkpoint.dirpath or trainer.default_root_dir, "last.ckpt")
            trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.save()
            job = slurm_job_id()
            try:
                requeued = subprocess.run(["scontrol", "requeue", job], check=False).returncode == 0
            except OSError:
                requeued = False
            _announce(f"saved {path} at step {trainer.global_step}; " + (
                f"requeued SLURM job {job}, which continues from it when it runs again" if requeued
                else f"scontrol requeue {job} failed; stopped, the same command continues from it"))
        raise SIGTERMException(REQUEUED_EXIT_STATUS)

    def teardown(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signum, self._previous)
        self.signum = None


# A run stopped by the requeue signal exits with this status (128 + SIGTERM, as if the requeue's SIGTERM
# had ended it), so a job script does not go on to what needs the finished run.
REQUEUED_EXIT_STATUS = 143


def hpc_checkpoint(trainer: Trainer) -> str | None:
    """Lightning's SLURM requeue checkpoint (``hpc_ckpt_<n>.ckpt`` in ``default_root_dir``), if any: under
    SLURM, ``Trainer.fit(ckpt_path=None)`` loads it by itself."""
    return trainer._checkpoint_connector._hpc_resume_path


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
            _announce(f"resuming from {hpc} (Lightning loads hpc_ckpt_*.ckpt under SLURM by itself; "
                      "delete it to start over)")
        if ckpt_path == "last":
            candidates = {hpc} if hpc is not None else set()
            for callback in self.trainer.checkpoint_callbacks:
                if isinstance(callback, ModelCheckpoint):
                    candidates |= callback._find_last_checkpoints(self.trainer)
            if not candidates:
                config["ckpt_path"] = None
                _announce("starting fresh (no last checkpoint of this run yet)")
                return
            ckpt_path = max(candidates, key=os.path.getmtime)
            config["ckpt_path"] = ckpt_path
        if ckpt_path is not None and ckpt_path not in ("best", "hpc") and "://" not in str(ckpt_path):
            check_resume_checkpoint(str(ckpt_path), self.model)
            continue_in_log_folder(self.trainer, str(ckpt_path))
            _announce(f"resuming from {ckpt_path}")

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


def _command(name: str) -> Callable[[Sequence[str]], int | None]:
    module_name, function_name = EXTRA_COMMANDS[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)


def find_config_error(error: BaseException, kind: type[Exception] = ConfigError) -> Exception | None:
    """The ``kind`` error (ConfigError) behind ``error``, if any (jsonargparse wraps errors raised while
    instantiating)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def one_line(message: str) -> str:
    """A multi-line parser message as one line: its first line and its most specific (last) one."""
    noise = ("Given value", "Subtypes", "Errors", "Does not validate", "tip:")
    lines = [line.strip(" -") for line in str(message).splitlines()
             if line.strip(" -") and not line.strip(" -").startswith(noise) and "NoneType" not in line]
    if len(lines) <= 1:
        return lines[0] if lines else "invalid arguments"
    return f"{lines[0].rstrip(':')}: {lines[-1]}"


def user_error(error: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit status) for errors the user can fix; None for real bugs."""
    config_error = find_config_error(error)
    if config_error is not None:
        return str(config_error), 2
    for kind in (ArgumentError, MisconfigurationException):
        found = find_config_error(error, kind)
        if found is not None:
            return one_line(str(found)), 2
    training_error = find_config_error(error, NonFiniteLossError)
    if training_error is not None:
        return str(training_error), 1
    return None


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
