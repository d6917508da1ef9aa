"""Rebuild a classifier (encoder + linear head) from any cl_robust checkpoint, with clear errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from cl_robust.data.record import check_same_data
from cl_robust.errors import ConfigError
from cl_robust.methods import SCHEMES, FineTune, RobustMethod
from cl_robust.methods.checkpoints import CHECKPOINT_KEY, RUN_RECORD_KEY, read_checkpoint
from cl_robust.models.architecture import ARCHITECTURE_KEY, INSTANCE_PREFIX, rebuild

ONLINE_PROBE_NOTE = ("this is a {scheme!r} pretraining checkpoint: its linear head is the online probe trained on "
                     "detached features during pretraining, not a fine-tuned classifier; fine-tune it for the "
                     "study's numbers")


@dataclass
class LoadedClassifier:
    """A classifier in eval mode (a cl_robust module, or a model from elsewhere), its metadata and a note."""

    model: nn.Module
    metadata: dict[str, Any]
    path: str
    note: str | None = None
    #: ``seed_everything`` of the run that wrote the checkpoint (None when not recorded).
    seed: int | None = None
    #: The data set the checkpoint was trained on (None when not recorded).
    dataset: str | None = None
    #: Builds the same model again, untrained (a model from elsewhere; None for cl_robust modules, whose
    #: encoder and head :func:`cl_robust.analysis.baseline.untrained_copy` rebuilds).
    fresh: Callable[[], nn.Module] | None = None


def load_classifier(path: str | os.PathLike, option: str = "checkpoint") -> LoadedClassifier:
    """The module saved in ``path``: a fine-tuned model, an ``sl`` model, or a ``cl`` / ``scl`` one (online probe).

    Raises ConfigError naming ``option`` for files that are not cl_robust checkpoints.
    """
    path = os.fspath(path)
    checkpoint = read_checkpoint(path, option=option)
    metadata = dict(checkpoint[CHECKPOINT_KEY])
    seed = (checkpoint.get(RUN_RECORD_KEY) or {}).get("seed")
    dataset = (checkpoint.get("datamodule_hyper_parameters") or {}).get("dataset")
    scheme = metadata.get("scheme")
    if scheme == FineTune.scheme:
        module_class: type[RobustMethod] = FineTune
        extra: dict[str, Any] = {"pretrained_checkpoint": None}
    elif scheme in SCHEMES:
        module_class, extra = SCHEMES[scheme], {}
    else:
        raise ConfigError(f"{option}: {path!r} holds a {scheme!r} module, not a classifier "
                          f"(expected a fine-tuned, sl, cl or scl checkpoint)")
    if str(metadata.get("backbone", "")).startswith(INSTANCE_PREFIX):  # rebuilt from its recorded architecture
        if ARCHITECTURE_KEY not in checkpoint:
            raise ConfigError(f"{option}: {path!r} holds a backbone given as an nn.Module instance "
                              f"({metadata['backbone']}) but no record of its architecture")
        extra["backbone"] = rebuild(checkpoint[ARCHITECTURE_KEY], option)
    try:
        model = module_class.load_from_checkpoint(path, map_location="cpu", **extra)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"{option}: {path!r} could not be rebuilt as a {module_class.__name__} "
                          f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'})"
                          ) from None
    model.eval()
    note = ONLINE_PROBE_NOTE.format(scheme=scheme) if scheme in ("cl", "scl") else None
    return LoadedClassifier(model=model, metadata=metadata, path=path, note=note,
                            seed=seed if isinstance(seed, int) else None,
                            dataset=dataset if isinstance(dataset, str) else None)


def check_checkpoint_matches(path: str, model_class: type | None, dataset: str | None,
                             option: str = "ckpt_path") -> None:
    """ConfigError unless the checkpoint at ``path`` was written by the config's kind of module, on its data set.

    Without this check LightningCLI rebuilds whatever module the checkpoint holds: an sl pretraining
    checkpoint given to the linear-probe config was tested as the sl model.
    """
    import torch

    checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    found = (checkpoint.get(CHECKPOINT_KEY) or {}).get("scheme")
    expected = getattr(model_class, "scheme", None)
    if found and expected and found != expected:
        what = "a fine-tuned model" if found == FineTune.scheme else f"a {found!r} pretraining run"
        name = getattr(model_class, "__name__", str(model_class))
        raise ConfigError(f"{option}: {path!r} was written by {what} but the config's model is {name} "
                          f"(scheme {expected!r}); give the config it was trained with (or a checkpoint of this "
                          "config's runs)")
    trained_on = (checkpoint.get("datamodule_hyper_parameters") or {}).get("dataset")
    if isinstance(trained_on, str) and isinstance(dataset, str) and trained_on != dataset:
        raise ConfigError(f"{option}: {path!r} was trained on {trained_on}, not {dataset}; set "
                          f"--data.init_args.dataset {trained_on}")


def check_fits(loaded: LoadedClassifier, dataset: str, num_classes: int, option: str = "checkpoint",
               image_size: int | None = None) -> None:
    """ConfigError unless the classifier of ``loaded`` was trained for ``dataset``, its ``num_classes`` classes
    and (when both are known) images of ``image_size``.

    A CIFAR-10 classifier scored on CIFAR-100 labels gives a meaningless accuracy, and its attacks
    index logits that do not exist.
    """
    trained_size = loaded.metadata.get("image_size")
    if isinstance(trained_size, int) and image_size is not None and trained_size != image_size:
        raise ConfigError(f"{option}: {loaded.path!r} was trained on {trained_size}x{trained_size} images but the "
                          f"data's are {image_size}x{image_size}; pass --data.image_size {trained_size} (image "
                          "folders) or the data it was trained on")
    hparams = getattr(loaded.model, "hparams", None)
    classes = int(getattr(hparams, "num_classes", 0) or loaded.metadata.get("num_classes") or 0)
    trained_on = f" (trained on {loaded.dataset})" if loaded.dataset else ""
    if classes and classes != num_classes:
        raise ConfigError(f"{option}: {loaded.path!r} is a {classes}-class classifier{trained_on} but --data.dataset "
                          f"{dataset} has {num_classes} classes; pass the data set it was trained on"
                          f"{f' (--data.dataset {loaded.dataset})' if loaded.dataset else ''}")
    if loaded.dataset and loaded.dataset != dataset:
        raise ConfigError(f"{option}: {loaded.path!r} was trained on {loaded.dataset}, not {dataset}; pass "
                          f"--data.dataset {loaded.dataset}")


def check_checkpoint_data(path: str, data: dict[str, Any], option: str = "checkpoint") -> None:
    """ConfigError when ``data`` (a data module's record) has other class names or another image size than the
    data the checkpoint at ``path`` recorded, for the same data set (another data set is :func:`check_fits`'s)."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # unreadable: load_classifier says so
        return
    recorded = ((checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None) or {}).get("data")
    if recorded and recorded.get("dataset") == data.get("dataset"):
        check_same_data(recorded, data, f"{option}: {path!r}")
