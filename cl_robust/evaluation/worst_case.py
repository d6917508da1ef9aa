"""Robust accuracy under every attack run: an image counts only if no attack of the suite broke it.

Attacks of different norms or sizes are different threat models, so the worst case is taken
per threat model: at norm p and size eps, an image counts when it is classified correctly
without attack and after every attack of norm p and size at most eps (a perturbation within
a smaller ball is also within the larger one), whatever the attack's loss (TM-I and TM-II
alike). Common corruptions are no threat model of a norm and take no part. Attacks at an L-inf eps of 0.5 or more can turn any image into uniform grey; they only
serve as a check (:mod:`~cl_robust.evaluation.masking`) and form no threat model here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .intervals import wilson_interval
from .suite import AttackSpec, eps_text

#: L-inf eps from which any image can be made uniform grey: a check, not a threat model.
LARGE_LINF = 0.5


def is_very_large(norm: str, eps: float) -> bool:
    """Whether an eps of ``norm`` is so large that accuracy must fall to about 0 (L-inf 0.5 or more)."""
    return norm == "linf" and eps >= LARGE_LINF


@dataclass
class WorstCase:
    """The images that survived every attack of one threat model."""

    norm: str
    eps: float
    attacks: list[str]
    correct: Tensor

    @property
    def label(self) -> str:
        return f"{self.norm} {eps_text(self.eps, self.norm)}"

    def record(self) -> dict[str, Any]:
        correct, total = int(self.correct.sum()), int(self.correct.numel())
        return {"norm": self.norm, "eps": self.eps, "attacks": self.attacks, "correct": correct, "total": total,
                "accuracy": correct / total if total else None, "ci95": wilson_interval(correct, total)}


def worst_cases(specs: list[AttackSpec], correct: dict[str, Tensor]) -> list[WorstCase]:
    """One :class:`WorstCase` per (norm, eps) of the attacks that ran (``correct``: name -> bool per image)."""
    ran = [spec for spec in specs if spec.kind not in ("clean", "corruption") and spec.name in correct
           and not is_very_large(spec.norm, spec.eps)]
    if not ran:
        return []
    clean = correct.get("clean", torch.ones_like(next(iter(correct.values()))))
    cases = []
    for norm, eps in sorted({(spec.norm, spec.eps) for spec in ran}):
        members = [spec.name for spec in ran if spec.norm == norm and spec.eps <= eps * (1 + 1e-9)]
        survived = clean.clone()
        for name in members:
            survived &= correct[name]
        cases.append(WorstCase(norm, eps, (["clean"] if "clean" in correct else []) + members, survived))
    return cases
