"""How long a suite of attacks will take, from one timed gradient pass of the model.

Each attack costs about a number of forward + backward passes per image (its iterations; a
forward-only query counts a third). The original AutoAttack attacks only the images still
robust after each of its attacks, so its figure is an upper bound (every image robust); on a
weak model it ends much sooner.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cl_robust.attacks.state import attack_mode

from .suite import AttackSpec

#: Target classes of AutoAttack's APGD-T and FAB-T (standard version).
TARGETS = 9
#: Below this estimate nothing is printed.
QUIET_SECONDS = 60.0


def passes_per_image(spec: AttackSpec) -> float:
    """Forward + backward passes one image costs under ``spec`` (forward-only queries count 1/3)."""
    if spec.kind in ("clean", "corruption"):  # a forward pass (making a corrupted image costs less)
        return 1 / 3
    if spec.kind == "autoattack":
        # APGD-CE, APGD-T and FAB-T (about two passes an iteration) over 9 targets, then Square's queries.
        return spec.steps * (1 + TARGETS + 2 * TARGETS) + spec.queries / 3
    if spec.kind == "autoattack-fast":
        return 10 * (1 + TARGETS + 2 * TARGETS) + 5000 / 3
    if spec.kind == "square":
        return spec.queries / 3
    return max(spec.steps, 1) + 1 / 3


def seconds_per_pass(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Seconds of one forward + backward pass of ``model`` per image (timed on ``images``, after a warm-up)."""
    model_images = images[:32].clone().requires_grad_(True)
    with attack_mode(model, "eval"), torch.enable_grad():
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            loss = nn.functional.cross_entropy(model(model_images).float(), labels[:32])
            torch.autograd.grad(loss, model_images)
            timings.append(time.perf_counter() - start)
    return timings[-1] / len(model_images)


def estimate_seconds(attacks: Sequence[AttackSpec], images: int, per_pass: float) -> tuple[float, float]:
    """(seconds of the batch-wise attacks, upper bound of the original AutoAttack's) for ``images`` images."""
    batchwise = sum(passes_per_image(spec) for spec in attacks if spec.kind != "autoattack")
    original = sum(passes_per_image(spec) for spec in attacks if spec.kind == "autoattack")
    return batchwise * images * per_pass, original * images * per_pass


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def estimate_line(attacks: Sequence[AttackSpec], images: int, per_pass: float, device: str) -> str | None:
    """One line with the estimated time and how to shrink it; None when the suite is short."""
    batchwise, original = estimate_seconds(attacks, images, per_pass)
    if batchwise + original < QUIET_SECONDS:
        return None
    text = f"about {_minutes(batchwise)} for {images} images x {len(attacks)} attacks on {device}"
    if original:
        text += f", plus up to {_minutes(original)} for AutoAttack (less on a weak model)"
    return (f"{text}; to shrink it pass fewer attacks (--attacks clean pgd20) or fewer images "
            "(--data.test_per_class 10)")
