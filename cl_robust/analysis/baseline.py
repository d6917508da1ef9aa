"""The untrained network a trained one started from: the baseline of every redundancy figure.

Randomly initialised ResNets already have high layer-to-layer CKA (residual connections carry
the input through many blocks almost unchanged), so "this model is redundant" only means
something next to the same architecture's value before training. Two baselines are built:

- ``init_bn``: the network as initialised, BatchNorm with its initial running statistics
  (mean 0, variance 1), as a network that has barely trained would be;
- ``reestimated_bn``: the same weights with BatchNorm statistics re-estimated on training
  images (a cumulative average over the given batches), so every layer sees normalised inputs
  as a trained network's layers do.

The weights come from building the encoder and the linear head again under ``torch.manual_seed``
with the run's seed: the same architecture, initialisation scheme and seed as the trained model
(and the same input normalisation). A model from elsewhere is rebuilt by its own callable under
the seed (``fresh``); a backbone given as an ``nn.Module`` instance, which has no callable, gets
every submodule's ``reset_parameters()`` under the seed.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from cl_robust.errors import ConfigError
from cl_robust.models.architecture import INSTANCE_PREFIX
from cl_robust.models.factory import build_backbone

BASELINES: tuple[str, ...] = ("init_bn", "reestimated_bn")


def reset_all_parameters(module: nn.Module, what: str = "module") -> nn.Module:
    """Call ``reset_parameters()`` of every submodule of ``module`` that has parameters of its own (in place).

    ConfigError when one has parameters but no ``reset_parameters``: it would keep its trained weights.
    """
    for name, child in module.named_modules():
        if any(True for _ in child.parameters(recurse=False)) or isinstance(child, _BatchNorm):
            reset = getattr(child, "reset_parameters", None)
            if not callable(reset):
                raise ConfigError(f"the untrained baseline of this {what}: {name or type(child).__name__!r} has "
                                  "parameters but no reset_parameters() to initialise them; pass --no_baseline")
            reset()
    return module


def _fresh_encoder(encoder: nn.Module, hparams: dict) -> nn.Module:
    """The encoder as initialised: built again from its spec, or for an instance its parameters reset."""
    if str(hparams["backbone"]).startswith(INSTANCE_PREFIX):
        return reset_all_parameters(copy.deepcopy(encoder), "backbone")
    return build_backbone(hparams["backbone"], hparams.get("backbone_args"), normalize=hparams.get("normalize", True),
                          width=hparams.get("backbone_width"), dual_bn=hparams.get("dual_bn", False))


def untrained_copy(model: nn.Module, seed: int, fresh: Callable[[], nn.Module] | None = None) -> nn.Module:
    """A copy of ``model`` whose ``encoder`` and ``classifier`` are freshly initialised with ``seed``, in eval mode.

    ``model`` is a cl_robust module (``encoder``, ``classifier``: linear); other submodules (a
    projection head) are copied unchanged: analysis does not read them. The encoder keeps the
    trained model's input normalisation. For any other model give ``fresh``, which builds it
    again (the same callable; called under ``torch.manual_seed(seed)``).
    """
    if fresh is not None:
        torch.manual_seed(seed)
        return fresh().eval()
    encoder, classifier = getattr(model, "encoder", None), getattr(model, "classifier", None)
    hparams = getattr(model, "hparams", None)
    if not isinstance(encoder, nn.Module) or not isinstance(classifier, nn.Linear) or hparams is None:
        raise ConfigError("the untrained baseline needs a cl_robust module (encoder, linear classifier, hparams)")
    untrained = copy.deepcopy(model)
    torch.manual_seed(seed)
    fresh_state = _fresh_encoder(encoder, hparams).state_dict()
    fresh_classifier = nn.Linear(classifier.in_features, classifier.out_features)
    # The input normalisation is the data's, not something training learnt: keep the trained model's.
    fresh_state.update({key: value for key, value in encoder.state_dict().items() if key.startswith("normalize.")})
    untrained.encoder.load_state_dict(fresh_state)
    untrained.classifier.load_state_dict(fresh_classifier.state_dict())
    return untrained.eval()


def reestimate_batchnorm(model: nn.Module, batches: Iterable[Tensor]) -> nn.Module:
    """Replace every BatchNorm's running statistics of ``model`` by their average over ``batches`` (in place).

    Only the BatchNorm layers run in train mode (cumulative average, ``momentum=None``); the
    rest of the model, e.g. a frozen encoder's dropout, stays in eval mode. Returns ``model`` in eval mode.
    """
    norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    seen = 0
    with torch.no_grad():
        for images in batches:
            model(images)
            seen += images.shape[0]
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
        norm.eval()
    if norms and seen == 0:
        raise ConfigError("re-estimating BatchNorm statistics needs at least one batch of training images")
    return model.eval()


def untrained_baselines(model: nn.Module, seed: int, train_images: Tensor, batch_size: int,
                        fresh: Callable[[], nn.Module] | None = None) -> dict[str, nn.Module]:
    """``{"init_bn": ..., "reestimated_bn": ...}``: the untrained network, before and after re-estimating BatchNorm.

    ``train_images``: float images in [0, 1] on the model's device (statistics come from them);
    ``fresh``: see :func:`untrained_copy`.
    """
    as_initialised = untrained_copy(model, seed, fresh).to(train_images.device)
    reestimated = reestimate_batchnorm(copy.deepcopy(as_initialised), train_images.split(batch_size))
    return {"init_bn": as_initialised, "reestimated_bn": reestimated}
