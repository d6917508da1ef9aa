"""Shared machinery of contrastive pretraining (SimCLR and SupCon): projection head,
two-view loss, and an online linear probe on detached features.

The online probe (as in solo-learn) trains ``classifier`` on ``encoder`` features with the
gradient stopped, so a user sees label accuracy rise during label-free pretraining without
the labels touching the encoder.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cl_robust.errors import ConfigError, check_positive
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.models.factory import Backbone
from cl_robust.models.heads import build_projection_head


class ContrastiveMethod(RobustMethod):
    """Base of two-view contrastive pretraining; subclasses choose the loss and whether it sees labels.

    Args (besides :class:`RobustMethod`'s):
        temperature: softmax temperature tau (0.07 in the reference study).
        projection_hidden_dim: hidden width of the head (None: the backbone's feature dim,
            i.e. 2048 -> 2048 for ResNet-50 as in the reference).
        projection_dim: output dim of the head (128).
        projection_layers: linear layers in the head (2 = SimCLR v1).
        projection_batch_norm: batch norm in the head (off in the reference).
        online_probe: train the linear probe on detached features during pretraining.
    """

    default_views: ClassVar[str] = "contrastive"
    uses_labels: ClassVar[bool] = False

    def __init__(self, backbone: Backbone = "resnet18", num_classes: int = 10, views: str | None = None,
                 optimizer: str = "adam", lr: float = 3e-4, weight_decay: float = 0.0, momentum: float = 0.9,
                 scheduler: str = "none", warmup_epochs: float = 0.0, normalize: bool = True,
                 backbone_width: int | None = None, dual_bn: bool = False, temperature: float = 0.07,
                 projection_hidden_dim: int | None = None, projection_dim: int = 128,
                 projection_layers: int = 2, projection_batch_norm: bool = False, online_probe: bool = True,
                 lr_milestones: list[float] | None = None, backbone_args: dict[str, Any] | None = None,
                 mean: list[float] | None = None, std: list[float] | None = None) -> None:
        super().__init__(backbone=backbone, num_classes=num_classes, views=views, optimizer=optimizer, lr=lr,
                         weight_decay=weight_decay, momentum=momentum, scheduler=scheduler,
                         warmup_epochs=warmup_epochs, normalize=normalize, backbone_width=backbone_width,
                         dual_bn=dual_bn, lr_milestones=lr_milestones,
                         backbone_args=backbone_args, mean=mean, std=std)
        check_positive("temperature", temperature)
        if (views or self.default_views) == "none":
            raise ConfigError("views must be 'contrastive' or 'supervised' for contrastive pretraining "
                              "(two identical views make the contrastive loss trivial); got 'none'")
        self.projection_config = {"hidden_dim": projection_hidden_dim or self.feature_dim,
                                  "output_dim": projection_dim, "num_layers": projection_layers,
                                  "batch_norm": projection_batch_norm}
        self.projector = build_projection_head(self.feature_dim, **self.projection_config)
        self.criterion = self.build_criterion(temperature)

    @property
    def contrastive_terms(self) -> tuple[str, ...]:
        """Names of the scheme's contrastive loss terms: what an adversarial pretraining term mirrors
        (its ``clean_weight`` scales them)."""
        return ("contrastive",)

    def build_criterion(self, temperature: float) -> nn.Module:
        raise NotImplementedError

    def contrastive_loss(self, z1: Tensor, z2: Tensor, labels: Tensor | None) -> Tensor:
        """The scheme's loss between two batches of embeddings (labels used only by SupCon)."""
        raise NotImplementedError

    def embed(self, images: Tensor) -> Tensor:
        """Projection-head output g(f(x)) for images in [0, 1] (what the contrastive loss and TM-I see)."""
        return self.projector(self.encoder(images))

    def training_losses(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        if len(views) == 1:  # one augmented view + the untouched image
            views = (batch["x0"], views[0])
        labels = batch["y"] if self.uses_labels else None
        features = self.encoder(torch.cat(views[:2]))
        z1, z2 = self.projector(features).chunk(2)
        losses = {"contrastive": self.contrastive_loss(z1, z2, labels)}
        if self.hparams.online_probe:
            logits = self.classifier(features.detach())
            labels2 = batch["y"].repeat(2)
            self.log_classifier_accuracy(logits, labels2)
            losses["probe_ce"] = F.cross_entropy(logits.float(), labels2)
        return losses

    def checkpoint_metadata(self) -> dict[str, Any]:
        return {**super().checkpoint_metadata(), "projection": dict(self.projection_config),
                "temperature": self.hparams.temperature}
