"""Signs of gradient masking in a suite's results (Athalye, Carlini & Wagner 2018, "Obfuscated
gradients give a false sense of security", Sec. 3.1; Carlini et al. 2019, "On evaluating
adversarial robustness").

A model that hides its gradients defeats gradient-based attacks without being robust. Its
results then break rules that hold for an honest evaluation, each checked on the same images:

- ``eps_monotone``: robust accuracy does not rise when the same attack gets a larger eps;
- ``more_steps``: PGD with more steps (same eps, step and start) is not weaker;
- ``one_step``: FGSM is not stronger than PGD at the same eps;
- ``black_box``: Square, which never reads a gradient, is not stronger than the white-box attacks
  (AutoAttack's own check, and a ``square`` run against every white-box run of its eps);
- ``unbounded``: at an eps that allows any image (L-inf 0.5 and more) accuracy is near 0;
- AutoAttack's own checks of the model (``autoattack/...``): not randomised, not dynamic,
  logits rather than probabilities, enough classes for its 9 targets, no zero gradients.

Comparisons allow a tolerance of :data:`TOLERANCE` of the images (AutoAttack's own for Square),
at least one image. A check with nothing to compare is reported as not run (``passed: null``, its
``detail`` saying what it needs), never as passed; ``checks_run`` counts those that ran.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .worst_case import LARGE_LINF, is_very_large

TOLERANCE = 0.002
#: Accuracy that counts as "near 0" for the unbounded check (a fraction of the images).
NEAR_ZERO = 0.01
GRADIENT_KINDS = ("fgsm", "pgd", "autoattack", "autoattack-fast")
Record = dict[str, Any]


def _ran(records: Iterable[Record]) -> list[Record]:
    """The attacks that ran (common corruptions are no attack: no check applies to them)."""
    return [r for r in records if not r.get("skipped") and r.get("correct") is not None and r.get("total")
            and r.get("kind") != "corruption"]


def _slack(a: Record, b: Record) -> int:
    return max(1, math.floor(TOLERANCE * max(a["total"], b["total"])))


def _percent(record: Record) -> str:
    return f"`{record['name']}` {100 * record['correct'] / record['total']:.2f}%"


def _check(name: str, rule: str, failures: list[str], compared: int, missing: str) -> Record:
    if not compared:
        return {"check": name, "rule": rule, "passed": None, "detail": missing}
    detail = "; ".join(failures) if failures else f"{compared} comparison{'s' * (compared != 1)}, all consistent"
    return {"check": name, "rule": rule, "passed": not failures, "detail": detail}


def _pairs(records: list[Record], group: Callable[[Record], tuple[Any, ...]], order: str) -> list[tuple[Record, Record]]:
    """Neighbouring pairs (smaller ``order`` first) within each group."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for record in records:
        groups[group(record)].append(record)
    pairs = []
    for members in groups.values():
        members.sort(key=lambda r: r[order])
        pairs += [(a, b) for a, b in zip(members, members[1:], strict=False) if a[order] < b[order]]
    return pairs


def eps_monotone(records: list[Record]) -> Record:
    attacked = [r for r in _ran(records) if r["kind"] != "clean"]
    pairs = _pairs(attacked, lambda r: (r["kind"], r["threat_model"], r["norm"], r["steps"], r["random_start"],
                                        r.get("queries", 0)), "eps")
    failures = [f"{_percent(b)} above {_percent(a)} at the smaller eps" for a, b in pairs
                if b["correct"] > a["correct"] + _slack(a, b)]
    return _check("eps_monotone", "robust accuracy does not rise with eps", failures, len(pairs),
                  "needs one attack at two eps")


def more_steps(records: list[Record]) -> Record:
    iterative = [r for r in _ran(records) if r["kind"] in ("pgd", "tm1")]
    pairs = _pairs(iterative, lambda r: (r["kind"], r["threat_model"], r["norm"], r["eps"], r["step_size"],
                                         r["random_start"]), "steps")
    failures = [f"{_percent(b)} above {_percent(a)} with fewer steps" for a, b in pairs
                if b["correct"] > a["correct"] + _slack(a, b)]
    return _check("more_steps", "PGD with more steps is not weaker", failures, len(pairs),
                  "needs PGD at two step counts, other settings equal (e.g. pgd20 and pgd100)")


def one_step(records: list[Record]) -> Record:
    ran = _ran(records)
    pairs = [(f, p) for f in ran if f["kind"] == "fgsm" for p in ran
             if p["kind"] == "pgd" and (p["norm"], p["eps"]) == (f["norm"], f["eps"])]
    failures = [f"{_percent(f)} below {_percent(p)}" for f, p in pairs if f["correct"] < p["correct"] - _slack(f, p)]
    return _check("one_step", "FGSM is not stronger than PGD at the same eps", failures, len(pairs),
                  "needs fgsm and pgd at the same eps")


def black_box(records: list[Record]) -> Record:
    ran = _ran(records)
    failures, compared = [], 0
    for record in ran:
        square = (record.get("checks") or {}).get("square") if record["kind"] == "autoattack" else None
        if square is not None:
            compared += 1
            if not square["passed"]:
                failures.append(f"`{record['name']}`: {square['message']}")
    for square in (r for r in ran if r["kind"] == "square"):
        for white in (r for r in ran if r["kind"] in GRADIENT_KINDS and (r["norm"], r["eps"]) == (square["norm"], square["eps"])):
            compared += 1
            if square["correct"] < white["correct"] - _slack(square, white):
                failures.append(f"{_percent(square)} below {_percent(white)}")
    return _check("black_box", "Square (black-box) is not stronger than the white-box attacks", failures, compared,
                  "needs autoattack, or square beside a white-box attack of its eps")


def unbounded(records: list[Record]) -> Record:
    large = [r for r in _ran(records) if r["kind"] in GRADIENT_KINDS and is_very_large(r["norm"], r["eps"])]
    failures = [f"{_percent(r)} at eps {r['eps']:g}, not near 0" for r in large
                if r["correct"] > NEAR_ZERO * r["total"]]
    return _check("unbounded", f"at L-inf eps >= {LARGE_LINF} accuracy is at most {100 * NEAR_ZERO:g}%", failures,
                  len(large), "needs an attack at a very large eps (pgd20-unbounded)")


def autoattack_own(records: list[Record]) -> list[Record]:
    """AutoAttack's checks of the model (Square's is part of :func:`black_box`)."""
    found = []
    for record in _ran(records):
        for name, check in (record.get("checks") or {}).items():
            if record["kind"] == "autoattack" and name != "square":
                found.append({"check": f"autoattack/{name}", "rule": f"AutoAttack's check '{name}' of `{record['name']}`",
                              "passed": check["passed"], "detail": check["message"] or "passed"})
    return found


def masking_checks(records: list[Record]) -> dict[str, Any]:
    """Every check on the suite's result records; ``suspected`` when any failed."""
    checks = [eps_monotone(records), more_steps(records), one_step(records), black_box(records), unbounded(records),
              *autoattack_own(records)]
    return {"suspected": any(check["passed"] is False for check in checks),
            "checks_run": sum(check["passed"] is not None for check in checks), "tolerance": TOLERANCE,
            "near_zero": NEAR_ZERO, "checks": checks}
