"""How long a suite of attacks will take, from one timed gradient pass of the model.

Each attack costs about a number of forward + backward passes per image (its iterations; a
forward-only query counts a third), timed on a batch of the size the attacks will use. The
original AutoAttack attacks only the images classified correctly and still robust after each of
its attacks: its figure is an upper bound over the images the timed batch classified correctly
(every one of them robust); on a weak model it ends sooner. The advice on how to shrink the suite
names only options that would shrink it from what is set.
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


#: Images per class the advice suggests when ``--data.test_per_class`` is not set.
SUGGESTED_PER_CLASS = 10
#: The short suite the advice suggests.
SUGGESTED_ATTACKS = ("clean", "pgd20")


#: Timed passes after the warm-up; the fastest counts (other work on the machine only ever slows a pass down).
TIMED_PASSES = 3


def seconds_per_pass(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Seconds of one forward + backward pass of ``model`` per image, timed on the whole batch ``images`` (the
    attacks' batch: per-image cost falls with the batch size): the fastest of :data:`TIMED_PASSES` after a warm-up."""
    model_images = images.clone().requires_grad_(True)
    with attack_mode(model, "eval"), torch.enable_grad():
        timings = []
        for _ in range(1 + TIMED_PASSES):
            start = time.perf_counter()
            loss = nn.functional.cross_entropy(model(model_images).float(), labels)
            torch.autograd.grad(loss, model_images)
            timings.append(time.perf_counter() - start)
    return min(timings[1:]) / len(model_images)


def estimate_seconds(attacks: Sequence[AttackSpec], images: int, per_pass: float,
                     clean_accuracy: float = 1.0) -> tuple[float, float]:
    """(seconds of the batch-wise attacks, upper bound of the original AutoAttack's) for ``images`` images.

    AutoAttack attacks only the images classified correctly: ``clean_accuracy`` of them.
    """
    batchwise = sum(passes_per_image(spec) for spec in attacks if spec.kind != "autoattack")
    original = sum(passes_per_image(spec) for spec in attacks if spec.kind == "autoattack")
    return batchwise * images * per_pass, original * images * clean_accuracy * per_pass


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def shrink_advice(attacks: Sequence[AttackSpec], test_per_class: int | None) -> list[str]:
    """How to shrink the suite from the options set: fewer attacks (unless already the short suite), fewer images
    (a smaller ``--data.test_per_class`` than the one given, if any is smaller)."""
    advice = []
    if any(spec.name not in SUGGESTED_ATTACKS for spec in attacks):
        advice.append(f"fewer attacks (--attacks {' '.join(SUGGESTED_ATTACKS)})")
    if test_per_class is None:
        advice.append(f"fewer images (--data.test_per_class {SUGGESTED_PER_CLASS})")
    elif test_per_class > 1:
        advice.append(f"fewer images (--data.test_per_class {min(SUGGESTED_PER_CLASS, test_per_class // 2)} "
                      f"instead of {test_per_class})")
    return advice


def estimate_line(attacks: Sequence[AttackSpec], images: int, per_pass: float, device: str,
                  clean_accuracy: float = 1.0, test_per_class: int | None = None) -> str | None:
    """One line with the estimated time and how to shrink it; None when the suite is short.

    ``clean_accuracy``: share of the timed batch classified correctly (AutoAttack attacks only those);
    ``test_per_class``: the option as set (None: every test image), so the advice shrinks from it.
    """
    batchwise, original = estimate_seconds(attacks, images, per_pass, clean_accuracy)
    if batchwise + original < QUIET_SECONDS:
        return None
    text = f"about {_minutes(batchwise)} for {images} images x {len(attacks)} attacks on {device}"
    if original:
        text += (f", plus up to {_minutes(original)} for AutoAttack (it attacks only the images classified "
                 f"correctly, {100 * clean_accuracy:.0f}% of the timed batch; less on a weak model)")
    advice = shrink_advice(attacks, test_per_class)
    return f"{text}; to shrink it pass {' or '.join(advice)}" if advice else text
