"""Fine-tuning a pretrained encoder with a new linear head (the study's second phase).

``mode="linear"``: a linear probe; the encoder is frozen (no gradients) and held in eval
mode, whatever ``.train()`` calls happen (Lightning's loop, torchattacks), so BatchNorm
statistics never move. ``mode="full"``: encoder and head are trained together.

The projection head of a contrastive checkpoint is kept (frozen, unused in training) so that
threat model I can attack through encoder + projection head later.

An encoder pretrained with dual BatchNorm (``dual_bn``, ACL) is fine-tuned, evaluated and
analysed through one branch, chosen here (``bn_branch``) and recorded in the checkpoint: the
adversarial branch by default, as ACL fine-tunes and evaluates.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from cl_robust.errors import ConfigError, check_choice
from cl_robust.methods.base import Batch, RobustMethod, Views
from cl_robust.methods.checkpoints import PRETRAINING_SCHEMES, read_checkpoint, submodule_state
from cl_robust.models.architecture import ARCHITECTURE_KEY, INSTANCE_PREFIX, rebuild
from cl_robust.models.dual_bn import ADVERSARIAL, BRANCHES, set_bn_branch
from cl_robust.models.factory import Backbone, describe_backbone
from cl_robust.models.heads import build_projection_head

MODES = ("linear", "full")


class FineTune(RobustMethod):
    """Linear probe or full fine-tuning from a pretraining checkpoint of any scheme.

    Args (besides :class:`RobustMethod`'s):
        pretrained_checkpoint: path of the pretraining ``.ckpt`` (any pretraining scheme: sl, cl, scl,
            cl+scl, cl+sl, scl+sl). None only when the module is rebuilt from its own fine-tuning
            checkpoint (``load_from_checkpoint``).
        mode: ``linear`` (encoder frozen, eval mode) or ``full``.
        expected_scheme: refuse a checkpoint of another scheme.
        backbone: None takes the checkpoint's (a spec is built again with its recorded ``backbone_args``,
            an instance from its recorded architecture); a different one is refused. A module may be
            given for a checkpoint whose backbone was an instance of its class.
        normalize: None takes the checkpoint's; the encoder keeps the mean and std it was pretrained with.
        bn_branch: for an encoder pretrained with ``dual_bn``: the BatchNorm branch every forward pass
            uses (``clean`` or ``adversarial``; None: ``adversarial``). Refused for other encoders.
    """

    scheme: ClassVar[str] = "finetune"
    default_views: ClassVar[str] = "none"

    def __init__(self, pretrained_checkpoint: str | None = None, mode: str = "linear", expected_scheme: str | None = None,
                 backbone: Backbone | None = None, num_classes: int = 10, views: str | None = None,
                 optimizer: str = "adam", lr: float = 3e-4, weight_decay: float = 0.0, momentum: float = 0.9,
                 scheduler: str = "none", warmup_epochs: float = 0.0, normalize: bool | None = None,
                 pretrained: dict[str, Any] | None = None, bn_branch: str | None = None,
                 lr_milestones: list[float] | None = None) -> None:
        check_choice("mode", mode, MODES)
        if expected_scheme is not None:
            check_choice("expected_scheme", expected_scheme, PRETRAINING_SCHEMES)
        state: dict[str, Tensor] | None = None
        record: bytes | None = None
        checkpoint = pretrained_checkpoint
        if checkpoint is not None:
            loaded = read_checkpoint(checkpoint, option="pretrained_checkpoint")
            pretrained, state, record = loaded["cl_robust"], loaded["state_dict"], loaded.get(ARCHITECTURE_KEY)
            if pretrained.get("scheme") not in PRETRAINING_SCHEMES:
                raise ConfigError(f"pretrained_checkpoint: {checkpoint!r} is a {pretrained.get('scheme')!r} checkpoint; "
                                  f"fine-tuning starts from a pretraining checkpoint ({', '.join(PRETRAINING_SCHEMES)})")
        elif pretrained is None:
            raise ConfigError("pretrained_checkpoint is required: the path of a pretraining .ckpt "
                              f"({', '.join(PRETRAINING_SCHEMES)})")
        if expected_scheme is not None and pretrained["scheme"] != expected_scheme:
            raise ConfigError(f"pretrained_checkpoint: expected a {expected_scheme!r} checkpoint (expected_scheme), "
                              f"got a {pretrained['scheme']!r} one from {checkpoint!r}")
        if backbone is not None and describe_backbone(backbone) != pretrained["backbone"]:
            raise ConfigError(f"backbone: the checkpoint holds a {pretrained['backbone']!r} encoder, "
                              f"not {describe_backbone(backbone)!r}; leave backbone unset to take the checkpoint's")
        normalize = pretrained.get("normalize", True) if normalize is None else normalize
        dual_bn = bool(pretrained.get("dual_bn", False))
        bn_branch = resolve_bn_branch(bn_branch, dual_bn, checkpoint)
        statistics = pretrained.get("normalization") or {}
        super().__init__(backbone=pretrained_backbone(pretrained, backbone, record, checkpoint), num_classes=num_classes,
                         views=views, optimizer=optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum,
                         scheduler=scheduler, warmup_epochs=warmup_epochs, normalize=normalize,
                         backbone_width=pretrained.get("backbone_width"), dual_bn=dual_bn, lr_milestones=lr_milestones,
                         backbone_args=pretrained.get("backbone_args") or None, mean=statistics.get("mean"),
                         std=statistics.get("std"))
        # The encoder keeps the statistics it was pretrained with, whatever data it is fine-tuned on.
        if self.normalization_source is not None:
            self.normalization_source = f"the pretrained encoder's ({statistics.get('source', 'recorded in its weights')})"
        # Record what was resolved, so load_from_checkpoint(..., pretrained_checkpoint=None) rebuilds the same module.
        self.hparams.update({"backbone": pretrained["backbone"], "backbone_width": pretrained.get("backbone_width"),
                             "backbone_args": pretrained.get("backbone_args") or None,
                             "normalize": normalize, "pretrained": pretrained,
                             "pretrained_checkpoint": checkpoint, "dual_bn": dual_bn, "bn_branch": bn_branch})
        # mean and std are the pretrained encoder's (in "pretrained"), not options of FineTune: kept out of the
        # hyper-parameters, where Lightning refused them beside a data module's own mean and std.
        for key in ("mean", "std"):
            self.hparams.pop(key, None)
            self._hparams_initial.pop(key, None)  # what Lightning logs and merges with the data module's
        if bn_branch is not None:
            set_bn_branch(self.encoder, bn_branch)
        self.pretrained = pretrained
        self.projector = None
        if "projection" in pretrained:
            self.projector = build_projection_head(pretrained["feature_dim"], **pretrained["projection"])
            self.projector.requires_grad_(False)
        if state is not None:
            self._load_pretrained(state, checkpoint)
        if mode == "linear":
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def _load_pretrained(self, state: dict[str, Tensor], checkpoint: str | None) -> None:
        missing = self.encoder.load_state_dict(submodule_state(state, "encoder"), strict=False)
        if missing.missing_keys or missing.unexpected_keys:
            raise ConfigError(f"pretrained_checkpoint: encoder weights in {checkpoint!r} do not fit a "
                              f"{self.hparams.backbone!r} backbone (missing {missing.missing_keys[:3]}, "
                              f"unexpected {missing.unexpected_keys[:3]})")
        if self.projector is not None:
            self.projector.load_state_dict(submodule_state(state, "projector"))

    @property
    def takes_data_normalization(self) -> bool:
        """Never: the encoder keeps the mean and std it was pretrained with."""
        return False

    @property
    def frozen_encoder(self) -> bool:
        return self.hparams.mode == "linear"

    @property
    def trains_both_branches(self) -> bool:
        """Never: a dual-BN encoder is fine-tuned through the one branch of ``bn_branch``."""
        return False

    def train(self, mode: bool = True) -> FineTune:
        """Like ``nn.Module.train``, but a frozen encoder and the projector always stay in eval mode."""
        super().train(mode)
        if self.frozen_encoder:
            self.encoder.eval()
        if self.projector is not None:
            self.projector.eval()
        return self

    def embed(self, images: Tensor) -> Tensor:
        """Projection-head output of the pretrained model (threat model I); contrastive checkpoints only."""
        if self.projector is None:
            raise ConfigError(f"this model was fine-tuned from a {self.pretrained['scheme']!r} checkpoint, "
                              "which has no projection head; threat model I needs a cl or scl checkpoint")
        return self.projector(self.encoder(images))

    def training_losses(self, batch: Batch, views: Views) -> dict[str, Tensor]:
        logits = self(views[0])
        self.log_classifier_accuracy(logits, batch["y"])
        return {"ce": F.cross_entropy(logits.float(), batch["y"])}

    def checkpoint_metadata(self) -> dict[str, Any]:
        return {**super().checkpoint_metadata(), "pretrained_scheme": self.pretrained["scheme"],
                "mode": self.hparams.mode, "bn_branch": self.hparams.get("bn_branch"), **({"projection": self.pretrained["projection"],
                                              "temperature": self.pretrained.get("temperature")}
                                             if "projection" in self.pretrained else {})}


def pretrained_backbone(pretrained: dict[str, Any], given: Backbone | None, record: bytes | None,
                        checkpoint: str | None) -> Backbone:
    """What builds the pretrained encoder again: its recorded spec, or for an instance the module given or
    the architecture its checkpoint recorded."""
    recorded = pretrained["backbone"]
    if not str(recorded).startswith(INSTANCE_PREFIX):
        return recorded
    if isinstance(given, nn.Module):
        return given
    if record is None:
        raise ConfigError(f"backbone: the encoder of {checkpoint!r} was an nn.Module instance ({recorded}); pass that "
                          "module as backbone, or give the path of the checkpoint, which records its architecture")
    return rebuild(record, option="pretrained_checkpoint")


def resolve_bn_branch(bn_branch: str | None, dual_bn: bool, checkpoint: str | None) -> str | None:
    """The branch a dual-BN encoder runs (``adversarial`` unless chosen); None for an encoder without dual BN."""
    if not dual_bn:
        if bn_branch is not None:
            raise ConfigError(f"bn_branch: the encoder of {checkpoint!r} was pretrained without dual_bn (one BatchNorm "
                              "per layer); bn_branch applies only to dual-BN checkpoints; leave it unset (null)")
        return None
    branch = ADVERSARIAL if bn_branch is None else bn_branch
    check_choice("bn_branch", branch, BRANCHES)
    return branch
