"""Every run of a study checked before anything trains: its full option set, as its command will parse it.

Training runs: the composed config is parsed by the ``cl-robust fit`` parser (unknown or
mistyped keys, from the grid or from an override), and the data module, the adversarial
callback and the model are built, which checks every value's domain (a fine-tuning model is
built on what its pretraining run's checkpoint will record, when that run is checked too).
Evaluations and analyses: their arguments are parsed by the command's own parser and checked as
the command checks them (attack names and options, numeric domains). An override whose pattern
matches no run is refused. A problem raises ConfigError naming the run and the option.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from cl_robust.data.subsets import check_labeled_subset
from cl_robust.errors import ConfigError
from cl_robust.study.configs import compose
from cl_robust.study.grid import Run, StudySpec
from cl_robust.study.tools import tool_argv

#: Stands for the checkpoint a run reads: it does not exist before the run before it has trained.
PLACEHOLDER_CHECKPOINT = Path("<checkpoint of the run before>")


def check_overrides(spec: StudySpec) -> None:
    """Refuse an override whose ``runs`` pattern matches no run id (it would be silently ignored)."""
    for index, override in enumerate(spec.raw["overrides"]):
        if not spec.select(str(override["runs"])):
            raise ConfigError(f"overrides[{index}].runs: {override['runs']!r} matches no run id of the grid; "
                              "see cl-robust study --list for the ids")


def _object(node: dict[str, Any], **extra: Any) -> Any:
    """Instantiate a ``class_path`` / ``init_args`` mapping of a composed config (the classes check their values)."""
    from jsonargparse._util import import_object

    return import_object(node["class_path"])(**{**dict(node.get("init_args") or {}), **extra})


#: Values that differ from run to run but not in what the parser checks (their domains are checked
#: when the objects are built): configs equal up to them are parsed once.
_PER_RUN = {("seed_everything",), ("data", "init_args", "dataset"), ("data", "init_args", "seed"),
            ("data", "init_args", "root"), ("adversarial", "init_args", "eps"), ("checkpoint", "dirpath"),
            ("trainer", "default_root_dir"), ("trainer", "logger"), ("model", "init_args", "pretrained_checkpoint")}


def _shape(config: dict[str, Any]) -> str:
    """``config`` with the per-run values blanked, as a key."""
    shape = copy.deepcopy(config)
    for path in _PER_RUN:
        node = shape
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            node[path[-1]] = "<per run>"
    return json.dumps(shape, sort_keys=True, default=str)


class _TrainingConfigs:
    """The ``cl-robust fit`` parser, built once, parsing each distinct composed config."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.parsed: set[str] = set()
        #: Pretraining model config -> the metadata its checkpoint records (built once per config).
        self.pretraining_metadata: dict[str, dict[str, Any]] = {}
        #: Pretraining run id -> that metadata: what a fine-tuning run reading its checkpoint is built on.
        self.pretrained: dict[str, dict[str, Any]] = {}
        self.finetunes_checked: set[str] = set()

    def _parse(self, config: dict[str, Any]) -> None:
        key = _shape(config)
        if key in self.parsed:
            return
        if self.parser is None:
            from cl_robust.commands.lightning_cli import TRAINER_DEFAULTS, RobustCLI
            from cl_robust.data.datamodule import CIFARDataModule
            from cl_robust.methods.base import RobustMethod

            class ParseOnly(RobustCLI):
                def parse_arguments(self, parser: Any, args: Any) -> None:
                    self.config = parser.parse_object(args)

                def _set_seed(self) -> None:
                    """Parsing only: no seed is set."""

                def instantiate_classes(self) -> None:
                    """Parsing only: nothing is built here."""

            self.parser = ParseOnly(RobustMethod, CIFARDataModule, subclass_mode_model=True,
                                    subclass_mode_data=True, args=config, run=False,
                                    trainer_defaults=TRAINER_DEFAULTS, parser_kwargs={"exit_on_error": False},
                                    auto_configure_optimizers=False, save_config_callback=None).parser
        else:
            self.parser.parse_object(config)
        self.parsed.add(key)

    def check(self, run: Run, config: dict[str, Any]) -> None:
        self._parse(config)
        datamodule = _object(config["data"])
        if (config.get("adversarial") or {}).get("class_path"):
            _object(config["adversarial"])
        if run.phase == "pretrain":
            key = json.dumps(config["model"], sort_keys=True, default=str)
            if key not in self.pretraining_metadata:
                model = _object(config["model"], num_classes=datamodule.num_classes)
                self.pretraining_metadata[key] = model.checkpoint_metadata()
            self.pretrained[run.run_id] = self.pretraining_metadata[key]
            fraction = self.pretrained[run.run_id].get("labeled_fraction")
            if fraction is not None and datamodule.per_class is not None:
                check_labeled_subset(datamodule.num_classes, datamodule.per_class - datamodule.val_per_class, fraction)
        elif run.source in self.pretrained:
            # Fine-tuning: its options built against what the pretraining run's checkpoint will record
            # (FineTune takes that record in place of the file, which does not exist yet).
            model = copy.deepcopy(config["model"])
            model.setdefault("init_args", {}).pop("pretrained_checkpoint", None)
            key = json.dumps([model, self.pretrained[run.source]], sort_keys=True, default=str)
            if key not in self.finetunes_checked:
                _object(model, num_classes=datamodule.num_classes, pretrained=self.pretrained[run.source])
                self.finetunes_checked.add(key)


def _check_tool(run: Run, argv: list[str]) -> None:
    """Parse and check an evaluation's or analysis's arguments as the command does, reading no file."""
    if run.phase == "evaluate":
        from cl_robust.evaluation.command import build_parser, check_arguments
    else:
        from cl_robust.analysis.command import build_parser, check_arguments  # type: ignore[assignment]
    check_arguments(build_parser().parse_args(argv[1:]))


def _one_line(error: Exception) -> str | None:
    from cl_robust.commands.user_errors import user_error

    known = user_error(error)
    return None if known is None else known[0]


def validate_runs(spec: StudySpec, runs: list[Run] | None = None) -> None:
    """Check every run of ``spec`` (or ``runs``) as described in the module docstring; ConfigError on the first problem."""
    check_overrides(spec)
    trainings = _TrainingConfigs()
    checked_tools: set[tuple[str, ...]] = set()
    for run in spec.runs if runs is None else runs:
        folder = spec.output / "runs" / run.run_id
        try:
            if run.phase in ("evaluate", "analyze"):
                argv = tool_argv(spec, run, PLACEHOLDER_CHECKPOINT, folder)
                options = tuple(arg for arg in argv if arg != str(folder))
                if options not in checked_tools:
                    _check_tool(run, argv)
                    checked_tools.add(options)
            else:
                source = PLACEHOLDER_CHECKPOINT if run.source else None
                trainings.check(run, compose(spec, run, folder, source))
        except Exception as error:  # every user error becomes one line naming the run
            message = _one_line(error)
            if message is None:
                raise
            raise ConfigError(f"run {run.run_id}: {message}") from None
