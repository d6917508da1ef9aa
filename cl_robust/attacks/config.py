"""Threat model and optimiser settings of an attack, checked when built.

One ``AttackConfig`` describes the attacks of the study: L-inf or L2 PGD (Madry et al. 2018,
"Towards Deep Learning Models Resistant to Adversarial Attacks"), FGSM (Goodfellow et al.
2015, "Explaining and Harnessing Adversarial Examples") and FGSM with a random start (Wong et
al. 2020, "Fast is better than free: Revisiting adversarial training"). Inputs are pixels in
[0, 1]; ``eps`` is measured in those units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cl_robust.errors import ConfigError, check_choice, shown

METHODS = ("pgd", "fgsm")
NORMS = ("linf", "l2")
BN_MODES = ("eval", "train", "keep")

#: Step of FGSM after a random start, as a multiple of eps (Wong et al. 2020 use 1.25).
FGSM_RANDOM_START_STEP = 1.25


def parse_eps(value: float | int | str, name: str = "eps") -> float:
    """Read a perturbation size given as a number or a fraction such as ``"8/255"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number or a fraction such as 8/255; got {shown(value)}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                numerator, denominator = text.split("/")
                return float(numerator) / float(denominator)
            return float(text)
        except (ValueError, ZeroDivisionError):
            pass
    raise ConfigError(f"{name} must be a number or a fraction such as 8/255; got {shown(value)}")


@dataclass
class AttackConfig:
    """Settings of one attack.

    Args:
        method: ``"pgd"`` (Madry et al. 2018) or ``"fgsm"`` (Goodfellow et al. 2015). FGSM takes
            one step and ignores ``steps`` and ``step_size``: the step is ``eps``, or
            ``1.25 * eps`` after a random start (Wong et al. 2020), then projected to the ball.
        norm: ``"linf"`` (sign steps) or ``"l2"`` (normalised-gradient steps).
        eps: radius of the ball around the clean image, in [0, 1] pixel units; a string such as
            ``"8/255"`` is accepted.
        step_size: PGD step (``alpha``), in the same units as ``eps``.
        steps: number of PGD steps.
        random_start: start from a uniform point in the ball instead of the clean image.
        bn_mode: module mode during the attack: ``"eval"`` (every module in eval mode, so
            BatchNorm uses and keeps its running statistics), ``"train"`` (every module in train
            mode; BatchNorm uses batch statistics and updates its running statistics), or
            ``"keep"`` (leave each module as the caller set it). The caller's flags are restored
            afterwards in every case.
    """

    method: str = "pgd"
    norm: str = "linf"
    eps: float = 8 / 255
    step_size: float = 0.01
    steps: int = 5
    random_start: bool = False
    bn_mode: str = "eval"

    def __post_init__(self) -> None:
        self.method = str(self.method).lower()
        self.norm = str(self.norm).lower()
        self.bn_mode = str(self.bn_mode).lower()
        check_choice("method", self.method, METHODS)
        check_choice("norm", self.norm, NORMS)
        check_choice("bn_mode", self.bn_mode, BN_MODES)
        self.eps = parse_eps(self.eps, "eps")
        self.step_size = parse_eps(self.step_size, "step_size")
        self._check_eps()
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ConfigError(f"step_size must be a number > 0 (e.g. 2/255 or 0.01); got {self.step_size!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps must be an integer >= 1; got {self.steps!r}")

    def _check_eps(self) -> None:
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ConfigError(f"eps must be a number >= 0 (pixels are in [0, 1]); got {self.eps!r}")
        if self.norm == "linf" and self.eps > 1:
            raise ConfigError(
                f"eps must be in [0, 1] for norm 'linf' because pixels are in [0, 1]; got {self.eps:g} "
                f"(did you mean {self.eps:g}/255 ≈ {self.eps / 255:.4f}?)"
            )

    @property
    def num_steps(self) -> int:
        """Steps the attack takes: ``steps`` for PGD, one for FGSM."""
        return 1 if self.method == "fgsm" else self.steps

    @property
    def step(self) -> float:
        """Size of each step: ``step_size`` for PGD; ``eps`` (or 1.25 eps after a random start) for FGSM."""
        if self.method == "fgsm":
            return self.eps * (FGSM_RANDOM_START_STEP if self.random_start else 1.0)
        return self.step_size
