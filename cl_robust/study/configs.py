"""One complete LightningCLI config per training run, composed from the example configs.

A run's config is the scheme's (or fine-tuning mode's) base config, the adversarial overlay
when the phase is adversarial, then the grid's settings, then the grid's per-run overrides.
It is written whole to ``<run_dir>/config.yaml``, so ``cl-robust fit --config <run_dir>/config.yaml``
repeats the run by hand. Base files default to ``examples/configs`` of this repository; the
grid's ``configs:`` section points them elsewhere.
"""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path
from typing import Any

import yaml

import cl_robust
from cl_robust.errors import ConfigError
from cl_robust.study.grid import MIXES, Run, StudySpec

EXAMPLE_CONFIGS = Path(cl_robust.__file__).resolve().parents[1] / "examples" / "configs"
DEFAULT_CONFIGS: dict[str, dict[str, str]] = {
    "pretrain": {"sl": "pretrain/sl.yaml", "cl": "pretrain/cl.yaml", "scl": "pretrain/scl.yaml",
                 **{mix: f"pretrain/{mix}.yaml" for mix in MIXES}},
    "finetune": {"linear": "finetune/linear.yaml", "full": "finetune/full.yaml"},
    "adversarial": {"pretrain": "adversarial/pretrain_pgd.yaml", "supervised": "adversarial/supervised_pgd.yaml",
                    "finetune": "adversarial/finetune_pgd.yaml"},
}
#: Trainer settings every study run gets (quiet logs; the study shows its own progress).
QUIET_TRAINER = {"enable_progress_bar": False, "enable_model_summary": False}


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Overlay ``overlay`` on ``base`` like successive ``--config`` files.

    Mappings merge key by key; a ``class_path`` that changes drops the old ``init_args``;
    lists and scalars replace.
    """
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if "class_path" in value and value["class_path"] != old.get("class_path"):
                merged[key] = copy.deepcopy(value)
            else:
                merged[key] = merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(c, "data.init_args.batch_size", 8)`` sets ``c["data"]["init_args"]["batch_size"]``."""
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"overrides: {key!r} goes through {part!r}, which is not a mapping")
    node[last] = value


def config_file(spec: StudySpec, group: str, name: str) -> Path:
    """Path of a base config (grid ``configs.<group>.<name>``, relative to the grid file, or the example)."""
    chosen = spec.option("configs").get(group, {}).get(name)
    path = spec.base_dir / chosen if chosen else EXAMPLE_CONFIGS / DEFAULT_CONFIGS[group][name]
    if not path.is_file():
        raise ConfigError(f"configs.{group}.{name}: config file {str(path)!r} does not exist")
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def base_configs(spec: StudySpec, run: Run) -> list[Path]:
    """The config files a training run starts from, in order."""
    if run.phase == "pretrain":
        files = [config_file(spec, "pretrain", run.scheme)]
        if run.adversarial:
            files.append(config_file(spec, "adversarial", "supervised" if run.scheme == "sl" else "pretrain"))
        return files
    files = [config_file(spec, "finetune", run.finetune_mode or "linear")]
    if run.adversarial:
        files.append(config_file(spec, "adversarial", "finetune"))
    return files


def logger_config(spec: StudySpec, run: Run, run_dir: Path) -> dict[str, Any]:
    """CSV logs in the run folder; W&B too when the grid says ``wandb: true`` (one group per study)."""
    csv = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(run_dir), "name": "logs"}}
    wandb = spec.raw.get("wandb")
    if not wandb:
        return csv
    options = wandb if isinstance(wandb, dict) else {}
    init_args = {"project": "cl_robust", "save_dir": str(run_dir), "name": run.run_id, "log_model": False,
                 **options}
    wandb_logger = {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": init_args,
                    "dict_kwargs": {"group": spec.name, "job_type": run.phase,
                                    "tags": [run.dataset, run.scheme, run.scenario]}}
    return [csv, wandb_logger]


def compose(spec: StudySpec, run: Run, run_dir: Path, source_checkpoint: Path | None) -> dict[str, Any]:
    """The complete config of training run ``run`` (pretraining or fine-tuning)."""
    config: dict[str, Any] = {}
    for path in base_configs(spec, run):
        config = merge(config, read_yaml(path))
    phase = spec.option(run.phase)
    model_args: dict[str, Any] = dict(phase.get("model") or {})
    if run.phase == "pretrain":
        model_args["backbone"] = spec.raw["backbone"]
        if run.scheme in MIXES:
            model_args["labeled_fraction"] = spec.raw["labeled_fraction"]
    else:
        model_args.update(pretrained_checkpoint=str(source_checkpoint), expected_scheme=run.scheme)
    data = spec.option("data")
    data_args = {key: value for key, value in data.items() if key not in ("source", "synthetic")}
    data_args["dataset"] = run.dataset
    data_args["seed"] = run.seed  # the shuffle; the test images and their order (order_seed) stay fixed
    if data.get("source") == "synthetic":
        data_args["root"] = str(spec.output / "data")
    trainer = {**QUIET_TRAINER, "default_root_dir": str(run_dir), "logger": logger_config(spec, run, run_dir),
               **{key: value for key, value in phase.items() if key != "model"}, **spec.option("trainer")}
    study = {
        "seed_everything": run.seed,
        "model": {"init_args": model_args},
        "data": {"class_path": "cl_robust.data.CIFARDataModule", "init_args": data_args},
        "trainer": trainer,
        "checkpoint": {"dirpath": str(run_dir / "checkpoints"), "save_last": True, **spec.option("checkpoint")},
    }
    if run.adversarial:
        study["adversarial"] = {"init_args": {**spec.option("attack"), "eps": run.eps}}
    config = merge(config, study)
    lengths = spec.raw.get("finetune_lengths")
    if lengths and run.phase == "finetune" and run.adversarial:
        _keep_lengths(config, lengths)
    for override in spec.raw["overrides"]:
        if fnmatch.fnmatchcase(run.run_id, override["runs"]):
            for key, value in override["set"].items():
                set_dotted(config, key, value)
    if lengths and run.phase == "finetune" and run.adversarial and config["trainer"].get("max_epochs") != lengths[-1]:
        raise ConfigError(f"finetune_lengths trains adversarial fine-tuning for {lengths[-1]} epochs, but overrides set "
                          f"trainer.max_epochs {config['trainer'].get('max_epochs')} for {run.run_id}; drop that "
                          "override or change finetune_lengths")
    return config


def _keep_lengths(config: dict[str, Any], lengths: list[int]) -> None:
    """Train for the longest of ``lengths`` and keep ``epoch<k>.ckpt`` after each (``finetune_lengths``)."""
    trainer = config.setdefault("trainer", {})
    trainer["max_epochs"] = lengths[-1]
    callbacks = list(trainer.get("callbacks") or [])
    callbacks.append({"class_path": "cl_robust.callbacks.EpochCheckpoints", "init_args": {"epochs": list(lengths)}})
    trainer["callbacks"] = callbacks
