"""PGD on a contrastive loss (NT-Xent or SupCon) through encoder + projection head.

Two threat models of the contrastive literature:

- :func:`contrastive_attack` perturbs one input away from a fixed partner: delta maximises
  ``L_con(f(x0), f(x0 + delta))`` (instance-wise attack of Kim et al. 2020, "Adversarial
  Self-Supervised Contrastive Learning" (RoCL); the study's adversarial pretraining and its
  TM-I evaluation; SupCon passes the labels, NT-Xent passes ``None``);
- :func:`contrastive_attack_pair` perturbs both views jointly to maximise
  ``L_con(f(v1 + d1), f(v2 + d2))`` (Jiang et al. 2020, "Robust Pre-Training by Adversarial
  Contrastive Learning" (ACL)).

Both run projected gradient ascent (Madry et al. 2018): sign steps and a box projection for
L-inf, normalised-gradient steps and a ball projection for L2; FGSM (Goodfellow et al. 2015) is
one step, after a random start as in Wong et al. 2020 when asked. Gradients are taken with
``torch.autograd.grad`` with respect to the perturbation only, so no parameter's ``.grad``
changes, and the loop has no host synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .config import AttackConfig
from .state import attack_mode, gradients_on, usable_for_autograd

Embed = Callable[[Tensor], Tensor]
ContrastiveLoss = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]

_TINY = 1e-12


def _per_sample_l2(tensor: Tensor) -> Tensor:
    """L2 norm of each sample, shaped to broadcast against ``tensor``."""
    norms = tensor.flatten(1).norm(p=2, dim=1)
    return norms.view(-1, *([1] * (tensor.dim() - 1)))


def project(delta: Tensor, images: Tensor, eps: float, norm: str) -> Tensor:
    """Bring ``delta`` back into the eps-ball of ``norm`` and keep ``images + delta`` in [0, 1]."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _per_sample_l2(delta).clamp_min(_TINY)).clamp(max=1.0)
    return (images + delta).clamp(0.0, 1.0) - images


def random_start(images: Tensor, eps: float, norm: str) -> Tensor:
    """A uniform point in the L-inf box, or a random direction at a uniform radius in the L2 ball."""
    if norm == "linf":
        delta = torch.empty_like(images).uniform_(-eps, eps)
    else:
        direction = torch.randn_like(images)
        direction = direction / _per_sample_l2(direction).clamp_min(_TINY)
        radius = torch.rand(images.shape[0], device=images.device, dtype=images.dtype)
        delta = direction * (radius * eps).view(-1, *([1] * (images.dim() - 1)))
    return project(delta, images, eps, norm)


def _pgd_step(delta: Tensor, grad: Tensor, step: float, norm: str) -> Tensor:
    """One ascent step: ``step`` times the gradient's sign (L-inf) or its unit direction (L2)."""
    if norm == "linf":
        return delta + step * grad.sign()
    return delta + step * grad / _per_sample_l2(grad).clamp_min(_TINY)


def _maximise(
    objective: Callable[[Sequence[Tensor]], Tensor], images: Sequence[Tensor], config: AttackConfig
) -> list[Tensor]:
    """Projected gradient ascent of ``objective`` over one perturbation per tensor of ``images``."""
    if config.random_start:
        deltas = [random_start(x, config.eps, config.norm) for x in images]
    else:
        deltas = [torch.zeros_like(x) for x in images]
    for _ in range(config.num_steps):
        deltas = [delta.detach().requires_grad_(True) for delta in deltas]
        loss = objective([x + delta for x, delta in zip(images, deltas, strict=True)])
        grads = torch.autograd.grad(loss, deltas)
        deltas = [
            project(_pgd_step(delta.detach(), grad, config.step, config.norm), x, config.eps, config.norm)
            for x, delta, grad in zip(images, deltas, grads, strict=True)
        ]
    return [(x + delta).detach() for x, delta in zip(images, deltas, strict=True)]


def _float32_loss(loss_fn: ContrastiveLoss, first: Tensor, second: Tensor, labels: Tensor | None) -> Tensor:
    """The contrastive loss computed in float32, also inside ``torch.autocast``."""
    with torch.autocast(device_type=second.device.type, enabled=False):
        return loss_fn(first.float(), second.float(), labels)


@contextmanager
def _modes(module: nn.Module | None, bn_mode: str) -> Iterator[None]:
    if module is None:
        yield
    else:
        with attack_mode(module, bn_mode):
            yield


def contrastive_attack(
    embed: Embed,
    loss_fn: ContrastiveLoss,
    images: Tensor,
    config: AttackConfig,
    labels: Tensor | None = None,
    partner: Tensor | None = None,
    module_for_mode: nn.Module | None = None,
) -> Tensor:
    """Images within eps of ``images`` that maximise ``loss_fn(embed(partner), embed(images + delta), labels)``.

    ``embed`` is encoder + projection head; ``partner`` defaults to ``images`` and its embedding
    is held fixed (Kim et al. 2020). Pass ``module_for_mode`` (the module behind ``embed``) to
    apply ``config.bn_mode`` during the attack; its flags are restored afterwards. Works inside
    ``torch.inference_mode`` and ``torch.autocast``; returns a detached tensor in [0, 1].
    """
    with gradients_on(), _modes(module_for_mode, config.bn_mode):
        images = usable_for_autograd(images)
        labels = None if labels is None else usable_for_autograd(labels)
        with torch.no_grad():
            reference = embed(images if partner is None else usable_for_autograd(partner))
        (adversarial,) = _maximise(
            lambda xs: _float32_loss(loss_fn, reference, embed(xs[0]), labels), [images], config
        )
    return adversarial


def contrastive_attack_pair(
    embed: Embed,
    loss_fn: ContrastiveLoss,
    view1: Tensor,
    view2: Tensor,
    config: AttackConfig,
    labels: Tensor | None = None,
    module_for_mode: nn.Module | None = None,
) -> tuple[Tensor, Tensor]:
    """Both views perturbed jointly to maximise ``loss_fn(embed(v1 + d1), embed(v2 + d2), labels)`` (ACL).

    Same options and guarantees as :func:`contrastive_attack` (Jiang et al. 2020).
    """
    with gradients_on(), _modes(module_for_mode, config.bn_mode):
        views = [usable_for_autograd(view1), usable_for_autograd(view2)]
        labels = None if labels is None else usable_for_autograd(labels)
        adversarial1, adversarial2 = _maximise(
            lambda xs: _float32_loss(loss_fn, embed(xs[0]), embed(xs[1]), labels), views, config
        )
    return adversarial1, adversarial2
