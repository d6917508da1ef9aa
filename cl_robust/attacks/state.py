"""Module modes and autograd state during an attack, restored exactly afterwards.

Attacks in eval mode keep BatchNorm statistics out of the perturbation (the reference's
adversarial training crafted its attacks with BatchNorm in train mode, so batch statistics
shaped each perturbation and the running statistics moved; its evaluation ran in eval mode). A frozen encoder sits in
eval mode under a head in train mode: calling ``.train()`` on the whole model afterwards, as
torchattacks does, would undo that, so every submodule's flag is saved and put back.

Lightning runs validation and test under ``torch.inference_mode``, where autograd is off and
batches are inference tensors; :func:`gradients_on` and :func:`usable_for_autograd` let an
attack run there anyway. :func:`seeded` gives an attack random numbers that depend only on
what it is run on (a batch, an attack), not on what ran before, so sharding the batches
between processes does not change a random start.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from cl_robust.errors import check_choice

from .config import BN_MODES


@contextmanager
def attack_mode(model: nn.Module, bn_mode: str) -> Iterator[nn.Module]:
    """Put ``model`` in the mode an attack asks for, then restore every submodule's flag.

    ``bn_mode`` is ``"eval"`` (all modules in eval mode), ``"train"`` (all in train mode) or
    ``"keep"`` (no change). ``requires_grad`` of the parameters is never touched.
    """
    check_choice("bn_mode", bn_mode, BN_MODES)
    saved = [(module, module.training) for module in model.modules()]
    try:
        if bn_mode == "eval":
            model.eval()
        elif bn_mode == "train":
            model.train()
        yield model
    finally:
        for module, training in saved:
            module.training = training


@contextmanager
def gradients_on() -> Iterator[None]:
    """Allow autograd inside Lightning's validation/test loops, which run under ``inference_mode``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def usable_for_autograd(tensor: Tensor) -> Tensor:
    """A copy of an inference-mode tensor that autograd accepts (call inside ``gradients_on``)."""
    return tensor.clone() if tensor.is_inference() else tensor


def derived_seed(*keys: object) -> int:
    """A 63-bit seed determined by ``keys`` (for example a base seed, a batch index and an attack's name)."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@contextmanager
def seeded(*keys: object, device: torch.device | str | None = None) -> Iterator[None]:
    """Draw random numbers from ``derived_seed(*keys)`` inside; the caller's random state is restored after.

    ``device``: a CUDA device whose generator is seeded and restored too (the CPU's always is).
    """
    device = None if device is None else torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(derived_seed(*keys))
        yield
