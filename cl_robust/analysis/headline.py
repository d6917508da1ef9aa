"""One-line summaries of an analysis: what was analysed, and its redundancy beside its baselines.

``cl-robust analyze`` ends with the headline (the numbers a reader looks for first) and names
the analysed model in its figure titles by what it is: a fine-tuned model says how it was
fine-tuned and from which pretraining, not only the pretraining scheme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def describe_model(metadata: dict[str, Any], path: str) -> str:
    """``finetune.ckpt: full fine-tuning of a cl encoder`` / ``sl.ckpt: sl model`` / ``cl.ckpt: cl pretraining (online probe)``
    / ``theirs.pt: mymodels:net`` (a model from elsewhere, ``--model``)."""
    name = Path(path).name
    scheme = metadata.get("scheme")
    model = metadata.get("model")  # a model from elsewhere (--model)
    if model:
        return model if name == Path(str(model)).name else f"{name}: {model}"
    if scheme == "finetune":
        return f"{name}: {metadata.get('mode', '?')} fine-tuning of a {metadata.get('pretrained_scheme', '?')} encoder"
    if scheme == "sl":
        return f"{name}: sl model"
    return f"{name}: {scheme} pretraining (online probe)" if scheme else name


def _interval(entry: dict[str, Any], score: str) -> str:
    low_high = ((entry.get("interval") or {}).get(score)) or None
    return f" [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""


def headline(report: dict[str, Any]) -> str:
    """Redundancy (mean off-diagonal CKA, clean inputs) with its interval, its untrained baseline and the change,
    then the reference statistic beside its own baseline."""
    clean = report["clean"]
    scores = clean.get("redundancy")
    if not scores:
        return "redundancy: not defined (a layer with constant output gave NaN CKA)"
    parts = [f"redundancy {scores['mean_offdiagonal']:.3f}{_interval(clean, 'mean_offdiagonal')} "
             f"(mean off-diagonal CKA, {len(report['layers'])} layers, clean inputs)"]
    untrained = (report.get("untrained") or {}).get("reestimated_bn") or {}
    if untrained.get("redundancy"):
        baseline = untrained["redundancy"]["mean_offdiagonal"]
        parts.append(f"untrained {baseline:.3f} (BN re-estimated), change {scores['mean_offdiagonal'] - baseline:+.3f}")
    reference = report.get("reference")
    if reference and reference["clean"].get("redundancy"):
        value = reference["clean"]["redundancy"]["mean_all"]
        text = (f"reference statistic {value:.3f}{_interval(reference['clean'], 'mean_all')} "
                f"(whole-matrix mean, torch_cka's {len(reference['layers'])} layers)")
        base = (reference["untrained"].get("reestimated_bn") or {}).get("redundancy")
        parts.append(text + (f", untrained {base['mean_all']:.3f}" if base else ""))
    return "; ".join(parts)
