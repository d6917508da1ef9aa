"""The shared LightningModule every learning scheme builds on.

Data flow of a training step (see README, "Architecture"):
uint8 batch from the data module -> ``on_after_batch_transfer`` turns it into
``{"x0": float images in [0, 1], "y": labels}`` on the device -> the scheme's augmentation
makes its views -> ``training_losses`` (the scheme's own objective) -> plus every registered
loss term (adversarial callbacks add theirs) -> one scalar loss.

Every module has ``encoder`` (backbone, normalises inside with the data's statistics; any module,
see :mod:`cl_robust.models.factory`) and ``classifier`` (linear head:
end-to-end for supervised learning, an online probe on detached features for contrastive
pretraining, the fine-tuned head for fine-tuning), so ``forward(x)`` always returns logits
and every checkpoint can be attacked end to end (threat model II).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

import cl_robust
from cl_robust.data.augment import AUGMENTS, make_augment, to_float
from cl_robust.data.record import check_same_data
from cl_robust.errors import ConfigError, check_choice, shown
from cl_robust.losses.masked import UNKNOWN
from cl_robust.methods.checkpoints import CHECKPOINT_KEY
from cl_robust.methods.inputs import (
    DEFAULT_SOURCE,
    GIVEN_SOURCE,
    check_encoder,
    check_images,
    data_normalization,
)
from cl_robust.methods.labels import LABELED
from cl_robust.methods.optim import build_optimizer, build_scheduler, validate_optimization
from cl_robust.models.architecture import ARCHITECTURE_KEY, architecture_record
from cl_robust.models.backbones import Normalize
from cl_robust.models.dual_bn import CLEAN, bn_branch
from cl_robust.models.factory import Backbone, build_backbone, describe_backbone
from cl_robust.notices import announce

#: Name under which validation metrics are logged when validation reads the test split (no held-out images).
VALIDATION_ON_TEST = "val_on_test"

Batch = dict[str, Tensor]
Views = tuple[Tensor, ...]
LossTerm = Callable[["RobustMethod", Batch, Views], dict[str, Tensor]]


class RobustMethod(L.LightningModule):
    """Base class: encoder + linear classifier, optimisation, metrics, loss-term hooks.

    Args:
        backbone: a registered name (``resnet18``, ``resnet50``, ...), ``package.module:callable``,
            ``torchvision:NAME`` or ``timm:NAME`` (head removed), or an ``nn.Module`` mapping images
            to features ``[N, D]`` (:mod:`cl_robust.models.factory`); D is found by itself.
        backbone_args: keyword arguments of a callable, torchvision or timm backbone.
        num_classes: classes of the linear classifier (linked from the data module by the CLI).
        views: augmentation for training (``contrastive``, ``supervised``, ``none``);
            None takes the scheme's default.
        optimizer, lr, weight_decay, momentum: optimiser (``adam`` lr 3e-4 is the reference's).
        scheduler, warmup_epochs: ``none``, ``cosine`` or ``piecewise`` (divided by 10 at
            ``lr_milestones``, epochs; default half and three quarters of training), after a linear warm-up.
        normalize: normalise inputs inside the encoder with the data's per-channel mean and std (the data
            module's ``normalization()``, taken when training starts); false for a backbone that
            normalises inside itself or expects images in [0, 1].
        mean, std: the statistics to normalise with instead of the data's (one value a channel).
        backbone_width: channels of the backbone's first stage (None: the standard 64; 16 gives a
            ResNet-18 with its block structure at about 1/16 of the compute, for CPUs).
        dual_bn: a clean and an adversarial branch in every BatchNorm (ACL, Jiang et al. 2020): the
            scheme's own loss runs through the clean branch, adversarial loss terms through the
            adversarial one, which is also the branch of every other forward pass (validation,
            attacks, fine-tuning). Needs an adversarial loss term to train that branch.
    """

    scheme: ClassVar[str] = "base"
    default_views: ClassVar[str] = "none"

    def __init__(self, backbone: Backbone = "resnet18", num_classes: int = 10, views: str | None = None,
                 optimizer: str = "adam", lr: float = 3e-4, weight_decay: float = 0.0, momentum: float = 0.9,
                 scheduler: str = "none", warmup_epochs: float = 0.0, normalize: bool = True,
                 backbone_width: int | None = None, dual_bn: bool = False,
                 lr_milestones: list[float] | None = None, backbone_args: dict[str, Any] | None = None,
                 mean: list[float] | None = None, std: list[float] | None = None) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"num_classes must be an integer >= 2, got {shown(num_classes)}")
        validate_optimization(optimizer, lr, weight_decay, momentum, scheduler, warmup_epochs, lr_milestones)
        instance = isinstance(backbone, nn.Module)
        # An instance is recorded by its architecture (on_save_checkpoint), not pickled into the hyper-parameters.
        self.save_hyperparameters(ignore=["backbone"] if instance else None)
        self.hparams["backbone"] = describe_backbone(backbone)
        self.encoder = build_backbone(backbone, backbone_args, normalize=normalize, mean=mean, std=std,
                                      width=backbone_width, dual_bn=dual_bn)
        #: The architecture of a backbone given as an instance, which checkpoints keep to rebuild it.
        self.backbone_record: bytes | None = architecture_record(backbone) if instance else None
        #: Where the normalisation's mean and std come from (None: the encoder does not normalise).
        self.normalization_source: str | None = (None if not normalize else GIVEN_SOURCE if mean is not None
                                                  else DEFAULT_SOURCE)
        #: Side of the data's square images, known once a data module that states it sets the module up.
        self.image_size: int | None = None
        self._batch_checked = False
        self.feature_dim: int = self.encoder.feature_dim
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        check_choice("views", views or self.default_views, tuple(AUGMENTS))
        self.augment = make_augment(views or self.default_views)
        # validate_args=False: the argument checks read tensors back to the host on every update.
        # Training accuracy skips unknown labels (-1: the unlabelled images of semi-supervised schemes).
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro", ignore_index=UNKNOWN,
                                                 validate_args=False)
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self._loss_terms: dict[str, LossTerm] = {}
        #: Weight of each named loss term in the summed loss (1 when absent; a term weighted 0 is
        #: logged but not back-propagated). Adversarial callbacks set the clean/adversarial weights here.
        self.loss_weights: dict[str, float] = {}

    # ----------------------------------------------------------------- model
    def forward(self, images: Tensor) -> Tensor:
        """Logits of the linear classifier for images in [0, 1]."""
        return self.classifier(self.encoder(images))

    def register_loss_term(self, name: str, term: LossTerm) -> None:
        """Add ``term(module, batch, views) -> {name: loss}`` to every training step's loss.

        Adversarial callbacks use this to add, e.g., L_con(x0, x0 + delta) to the scheme's own
        objective. Registering the same name again replaces the earlier term.
        """
        self._loss_terms[name] = term

    def unregister_loss_term(self, name: str) -> None:
        self._loss_terms.pop(name, None)

    @property
    def trains_both_branches(self) -> bool:
        """Whether training routes clean inputs through the clean BatchNorm branch and adversarial
        ones through the adversarial branch (``dual_bn``)."""
        return bool(self.hparams.get("dual_bn", False))

    # ------------------------------------------------------------------ data
    @property
    def takes_data_normalization(self) -> bool:
        """Whether ``setup`` gives the encoder the data's mean and std (not when they were given or fixed)."""
        return self.normalization_source == DEFAULT_SOURCE

    def setup(self, stage: str) -> None:
        """Before training: refuse a data module whose class count differs from the classifier's, take its
        normalisation statistics, and check the encoder on images of its size."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        data_classes = getattr(datamodule, "num_classes", None)
        if data_classes is not None and data_classes != self.hparams.num_classes:
            raise ConfigError(f"num_classes: the model has {self.hparams.num_classes} classes but the data "
                              f"has {data_classes}; set model num_classes to {data_classes}")
        if self.takes_data_normalization:
            self.normalization_source = data_normalization(self.encoder, datamodule, self.hparams.backbone) or (
                self.normalization_source)
        size = getattr(datamodule, "image_size", None)
        if isinstance(size, int):
            self.image_size = size
            normalize = getattr(self.encoder, "normalize", None)
            channels = normalize.mean.numel() if isinstance(normalize, Normalize) else 3
            check_encoder(self.encoder, self.hparams.backbone, self.feature_dim, size, channels)
        if stage == "fit" and self.trains_both_branches and not self._loss_terms:
            raise ConfigError("dual_bn: true needs adversarial training (only an adversarial loss term trains the "
                              "adversarial BatchNorm branch); add an adversarial overlay such as "
                              "examples/configs/adversarial/acl.yaml, or set dual_bn false")
        self.validation_name = "val"
        if getattr(datamodule, "validates_on_test", False):
            self.validation_name = VALIDATION_ON_TEST
            if stage == "fit" and self.trainer.limit_val_batches != 0:
                announce(f"validation reads the test split (data val_per_class is 0), so its metrics are logged as "
                         f"{VALIDATION_ON_TEST}/loss and {VALIDATION_ON_TEST}/acc; set data val_per_class N to hold "
                         "out N training images a class instead")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Batch:
        """``(uint8 images, labels[, labelled mask])`` -> ``{"x0": float images in [0, 1], "y": labels
        [, "labeled": mask]}``, on the device."""
        if isinstance(batch, dict):
            return batch
        images, labels = batch[0], batch[1]
        if not self._batch_checked:
            check_images(images, labels)
            self._batch_checked = True
        converted = {"x0": to_float(images), "y": labels}
        if len(batch) > 2:
            converted[LABELED] = batch[2]
        return converted

    # -------------------------------------------------------------- training
    def training_losses(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        """The scheme's own objective as named terms (summed into the loss)."""
        raise NotImplementedError

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        views = self.augment(batch["x0"])
        with bn_branch(self.encoder, CLEAN) if self.trains_both_branches else nullcontext():
            losses = self.training_losses(batch, views)
        for term in list(self._loss_terms.values()):
            losses.update(term(self, batch, views))
        weights = {name: self.loss_weights.get(name, 1.0) for name in losses}
        loss = torch.stack([weights[name] * value.float() for name, value in losses.items() if weights[name] != 0]).sum()
        batch_size = batch["x0"].shape[0]
        self.log_dict({f"train/{name}": value.detach() for name, value in losses.items()}, batch_size=batch_size)
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=batch_size)
        return loss

    def log_classifier_accuracy(self, logits: Tensor, labels: Tensor) -> None:
        self.train_accuracy(logits.detach(), labels)
        self.log("train/acc", self.train_accuracy, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=labels.shape[0])

    # ------------------------------------------------------------ evaluation
    def _evaluate(self, batch: Batch, stage: str, metric: MulticlassAccuracy) -> None:
        logits = self(batch["x0"])
        loss = F.cross_entropy(logits.float(), batch["y"])
        metric(logits, batch["y"])
        self.log(f"{stage}/loss", loss, batch_size=batch["y"].shape[0], sync_dist=True)
        self.log(f"{stage}/acc", metric, prog_bar=True, batch_size=batch["y"].shape[0])

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Loss and accuracy on the validation split, logged as ``val/*`` (``val_on_test/*`` when that is the
        test split)."""
        self._evaluate(batch, getattr(self, "validation_name", "val"), self.val_accuracy)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_accuracy)

    # ---------------------------------------------------------- optimisation
    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = build_optimizer(self.trainable_parameters(), hp.optimizer, hp.lr, hp.weight_decay, hp.momentum)
        if hp.scheduler == "none":
            return optimizer
        # The schedule spans the optimiser steps the run takes: max_steps when it ends the run before
        # max_epochs (a schedule stretched over epochs that never run would barely decay), and its
        # epochs (warm-up, milestones) are epochs of the real number of steps.
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        if not math.isfinite(self.trainer.num_training_batches):  # max_steps alone: Lightning skipped the count
            self.trainer.fit_loop.setup_data()  # what estimated_stepping_batches calls otherwise
        batches = self.trainer.num_training_batches
        per_epoch = (max(1, math.ceil(batches / self.trainer.accumulate_grad_batches)) if math.isfinite(batches)
                     else steps)
        max_epochs = max(1, math.ceil(steps / per_epoch))
        scheduler = build_scheduler(optimizer, hp.scheduler, hp.warmup_epochs, max_epochs, per_epoch,
                                    hp.get("lr_milestones"), total_steps=steps)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    # ----------------------------------------------------------- checkpoints
    def checkpoint_metadata(self) -> dict[str, Any]:
        """What a fine-tuning or evaluation run needs to know about this checkpoint."""
        normalize = getattr(self.encoder, "normalize", None)
        statistics = normalize.statistics() if isinstance(normalize, Normalize) else None
        return {"scheme": self.scheme, "backbone": self.hparams.backbone,
                "backbone_args": dict(self.hparams.get("backbone_args") or {}),
                "backbone_width": self.hparams.get("backbone_width"),
                "dual_bn": bool(self.hparams.get("dual_bn", False)), "feature_dim": self.feature_dim,
                "num_classes": self.hparams.num_classes, "normalize": self.hparams.normalize,
                "normalization": None if statistics is None else {
                    "mean": statistics[0], "std": statistics[1], "source": self.normalization_source},
                "image_size": self.image_size, "version": cl_robust.__version__}

    def _datamodule_record(self) -> dict[str, Any] | None:
        """The record of the trainer's cl_robust data module (class names, image size, ...), if any."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        record = getattr(datamodule, "record", None)
        return record() if callable(record) and getattr(datamodule, "classes", None) else None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = self.checkpoint_metadata()
        if self.backbone_record is not None:
            checkpoint[ARCHITECTURE_KEY] = self.backbone_record
        data = self._datamodule_record()
        if data is not None:
            checkpoint[CHECKPOINT_KEY]["data"] = data

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to resume or test on data with other class names or another image size than the checkpoint's."""
        data = self._datamodule_record()
        if data is not None:
            recorded = (checkpoint.get(CHECKPOINT_KEY) or {}).get("data")
            path = getattr(self._trainer, "ckpt_path", None)
            check_same_data(recorded, data, f"ckpt_path: {path!r}" if path else "ckpt_path: the checkpoint")
