"""Semi-supervised mixes of the reference study: two objectives on one encoder, labels for a fraction of the images.

- ``cl+scl``: NT-Xent (Chen et al. 2020, SimCLR) on every image + SupCon (Khosla et al. 2020) on
  the labelled ones;
- ``cl+sl``: NT-Xent on every image + cross-entropy through encoder + linear head on the labelled ones;
- ``scl+sl``: SupCon + cross-entropy, both on the labelled images only.

``labeled_fraction`` of the training images are labelled: the data module picks them, class by
class and fixed by its seed, and serves the mask with every batch
(:meth:`~cl_robust.data.CIFARDataModule.serve_labeled_fraction`). Labels are read only through
:func:`~cl_robust.methods.labels.known_labels`, which sets every other image's label to -1, and
every labelled term is a mean over the labelled images of the whole (all-rank) batch, so an
unlabelled image's label reaches no loss and no gradient. The reference's script, by contrast,
used the labels of its unlabelled half in SupCon.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from cl_robust.data.datamodule import check_labeled_fraction
from cl_robust.errors import ConfigError, shown
from cl_robust.losses.masked import masked_cross_entropy
from cl_robust.losses.objectives import CONTRASTIVE_TERMS, ContrastiveObjective
from cl_robust.methods.base import Batch, Views
from cl_robust.methods.contrastive import ContrastiveMethod
from cl_robust.methods.labels import LABELED, known_labels
from cl_robust.models.factory import Backbone

#: Each mix and its loss terms (``ce``: cross-entropy of the linear head, trained end to end).
MIXES: dict[str, tuple[str, ...]] = {
    "cl+scl": ("nt_xent", "supcon"),
    "cl+sl": ("nt_xent", "ce"),
    "scl+sl": ("supcon", "ce"),
}


def check_mix(mix: str) -> None:
    """ConfigError unless ``mix`` is one of :data:`MIXES` (every mix needs an objective that uses labels)."""
    if mix not in MIXES:
        parts = [part for part in str(mix).split("+") if part]
        why = (f" ({' and '.join(sorted(set(parts)))} leaves no labels to mix)"
               if parts and set(parts) <= {"cl"} else "")
        raise ConfigError(f"mix must be one of {', '.join(map(repr, MIXES))} (a label-free or supervised "
                          f"objective joined with one that uses labels); got {shown(mix)}{why}")


class SemiSupervisedMix(ContrastiveMethod):
    """Two objectives summed on one encoder, labels only for ``labeled_fraction`` of the images.

    Args (besides :class:`ContrastiveMethod`'s):
        mix: ``cl+scl``, ``cl+sl`` or ``scl+sl`` (the scheme).
        labeled_fraction: share of training images whose label the scheme may use, in (0, 1]
            (the reference: 0.5).
        loss_weights: weight of each term (``nt_xent``, ``supcon``, ``ce``; ``probe_ce`` for the online
            probe of ``cl+scl``), 1 when absent.

    ``cl+sl`` and ``scl+sl`` train the linear head end to end with their cross-entropy; ``cl+scl``
    trains it as an online probe on detached features of the labelled images.
    """

    uses_labels = True

    def __init__(self, mix: str = "cl+scl", labeled_fraction: float = 0.5, loss_weights: dict[str, float] | None = None,
                 backbone: Backbone = "resnet18", num_classes: int = 10, views: str | None = None,
                 optimizer: str = "adam", lr: float = 3e-4, weight_decay: float = 0.0, momentum: float = 0.9,
                 scheduler: str = "none", warmup_epochs: float = 0.0, normalize: bool = True,
                 backbone_width: int | None = None, dual_bn: bool = False, temperature: float = 0.07,
                 projection_hidden_dim: int | None = None, projection_dim: int = 128,
                 projection_layers: int = 2, projection_batch_norm: bool = False, online_probe: bool = True,
                 lr_milestones: list[float] | None = None, backbone_args: dict[str, Any] | None = None,
                 mean: list[float] | None = None, std: list[float] | None = None) -> None:
        check_mix(mix)
        check_labeled_fraction(labeled_fraction)
        super().__init__(backbone=backbone, num_classes=num_classes, views=views, optimizer=optimizer, lr=lr,
                         weight_decay=weight_decay, momentum=momentum, scheduler=scheduler,
                         warmup_epochs=warmup_epochs, normalize=normalize, backbone_width=backbone_width,
                         dual_bn=dual_bn, temperature=temperature, projection_hidden_dim=projection_hidden_dim,
                         projection_dim=projection_dim, projection_layers=projection_layers,
                         projection_batch_norm=projection_batch_norm, online_probe=online_probe,
                         lr_milestones=lr_milestones, backbone_args=backbone_args, mean=mean, std=std)
        self.loss_weights.update(self._checked_weights(loss_weights or {}))

    # ----------------------------------------------------------------- scheme
    @property
    def scheme(self) -> str:  # type: ignore[override]
        return self.hparams.mix

    @property
    def objectives(self) -> tuple[str, ...]:
        return MIXES[self.hparams.mix]

    @property
    def contrastive_terms(self) -> tuple[str, ...]:
        return CONTRASTIVE_TERMS[self.hparams.mix]

    @property
    def probe_term(self) -> str | None:
        """The term that trains the linear head: its own ``ce``, else the online probe (or none)."""
        if "ce" in self.objectives:
            return "ce"
        return "probe_ce" if self.hparams.online_probe else None

    def _checked_weights(self, weights: dict[str, float]) -> dict[str, float]:
        names = self.objectives + (("probe_ce",) if self.probe_term == "probe_ce" else ())
        for name, value in weights.items():
            if name not in names:
                raise ConfigError(f"loss_weights: {self.scheme} has no term {name!r}; its terms: {', '.join(names)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"loss_weights: {name} must be a number >= 0; got {shown(value)}")
        if all(weights.get(name, 1.0) == 0 for name in self.objectives):
            raise ConfigError(f"loss_weights: every term of {self.scheme} ({', '.join(self.objectives)}) is weighted 0; "
                              "nothing would train the encoder")
        return {name: float(value) for name, value in weights.items()}

    def build_criterion(self, temperature: float) -> nn.Module:
        return ContrastiveObjective(self.hparams.mix, temperature, gather_distributed=True)

    def contrastive_loss(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """The sum of the mix's contrastive terms (what adversarial pretraining and threat model I attack)."""
        return self.criterion(z1, z2, labels)

    # -------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        """Ask the data module to serve the labelled mask of ``labeled_fraction`` with each training batch."""
        super().setup(stage)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "fit" and datamodule is not None:
            serve = getattr(datamodule, "serve_labeled_fraction", None)
            if serve is None:
                raise ConfigError(f"labeled_fraction: {type(datamodule).__name__} cannot serve a labelled mask; use "
                                  "cl_robust.data.CIFARDataModule or batches of (images, labels, labeled)")
            serve(self.hparams.labeled_fraction)

    def training_losses(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        if LABELED not in batch:
            raise ConfigError(f"{self.scheme} trains on batches with a labelled mask (batch['labeled']); the data "
                              "module did not serve one (CIFARDataModule does, for the model's labeled_fraction)")
        if len(views) == 1:  # one augmented view + the untouched image
            views = (batch["x0"], views[0])
        labels = known_labels(batch)
        features = self.encoder(torch.cat(views[:2]))
        z1, z2 = self.projector(features).chunk(2)
        losses = self.criterion.terms(z1, z2, labels)
        head = self.probe_term
        if head is not None:
            logits = self.classifier(features if head == "ce" else features.detach())
            labels2 = labels.repeat(2)
            self.log_classifier_accuracy(logits, labels2)
            losses[head] = masked_cross_entropy(logits, labels2)
        self.log("train/labeled", batch[LABELED].float().mean(), on_step=False, on_epoch=True,
                 batch_size=labels.shape[0])
        return losses

    def checkpoint_metadata(self) -> dict[str, Any]:
        return {**super().checkpoint_metadata(), "labeled_fraction": self.hparams.labeled_fraction}
