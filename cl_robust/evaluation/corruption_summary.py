"""Common-corruption results of an evaluation: the table, the means and the mean corruption error.

From the ``corruption`` records of a suite (one per corruption and severity, each an exact
count with its 95% Wilson interval):

- the **mean corruption accuracy**: the mean of the accuracies over every corruption and severity
  that ran (over the 15 x 5 of CIFAR-10-C for ``corruptions``), and the mean within each family
  (noise, blur, weather, digital). It carries no interval: the same test images are scored under
  every corruption, so the 75 accuracies are not independent samples;
- with a baseline model scored on the same corrupted images, the **mean corruption error**
  (Hendrycks & Dietterich 2019, "Benchmarking neural network robustness to common corruptions
  and perturbations", Sec. 3): for each corruption c, CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}
  (errors E = 1 - accuracy, summed over severities s), mCE = the mean of CE_c over the
  corruptions, in %; and the relative mCE, the mean of
  sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean), when clean accuracy was run.
  The paper's baseline is AlexNet on ImageNet-C; on CIFAR any model may serve, so the figure is
  only comparable between evaluations that name the same baseline checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import mean
from typing import Any

from cl_robust.corruptions import CORRUPTIONS, FAMILIES, SEVERITIES, family_of

Record = dict[str, Any]
MEAN_NOTE = ("mean of the accuracies per corruption and severity; no interval, since the same test images are "
             "scored under every corruption")
IMPLEMENTATION = ("cl_robust.corruptions: CIFAR-10-C's corruptions with the severity constants of its published "
                  "generator (make_cifar_c.py), made on the fly from the test split")


def corruption_records(results: list[Record]) -> list[Record]:
    return [r for r in results if r.get("kind") == "corruption" and not r.get("skipped") and r.get("total")]


def _clean_accuracy(results: list[Record]) -> float | None:
    return next((r["accuracy"] for r in results if r.get("kind") == "clean" and r.get("accuracy") is not None), None)


def _grid(records: list[Record]) -> dict[str, dict[int, float]]:
    """corruption -> severity -> accuracy, corruptions in the order they ran."""
    grid: dict[str, dict[int, float]] = {}
    for r in records:
        grid.setdefault(r["corruption"], {})[int(r["severity"])] = r["accuracy"]
    return grid


def _corruption_error(model: dict[int, float], base: dict[int, float], model_clean: float | None,
                      base_clean: float | None) -> tuple[float | None, float | None]:
    """(CE_c, relative CE_c) in %, over the severities both were scored at."""
    severities = sorted(set(model) & set(base))
    errors, base_errors = sum(1 - model[s] for s in severities), sum(1 - base[s] for s in severities)
    ce = 100 * errors / base_errors if base_errors > 0 else None
    relative = None
    if model_clean is not None and base_clean is not None:
        drop = sum((1 - model[s]) - (1 - model_clean) for s in severities)
        base_drop = sum((1 - base[s]) - (1 - base_clean) for s in severities)
        relative = 100 * drop / base_drop if base_drop > 0 else None
    return ce, relative


def _mean_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return mean(known) if known and len(known) == len(values) else None


def mean_corruption_error(results: list[Record], baseline_results: list[Record], baseline_path: str) -> Record:
    """mCE and relative mCE (%) of the model's ``results`` against the baseline's on the same corrupted images."""
    model, base = _grid(corruption_records(results)), _grid(corruption_records(baseline_results))
    model_clean, base_clean = _clean_accuracy(results), _clean_accuracy(baseline_results)
    per_corruption = {}
    for name in model:
        if name in base:
            ce, relative = _corruption_error(model[name], base[name], model_clean, base_clean)
            per_corruption[name] = {"ce": ce, "relative_ce": relative}
    return {
        "baseline": baseline_path,
        "baseline_clean_accuracy": base_clean,
        "baseline_mean_accuracy": mean(a for row in base.values() for a in row.values()) if base else None,
        "baseline_accuracy": {name: {str(s): a for s, a in row.items()} for name, row in base.items()},
        "mce": _mean_or_none([v["ce"] for v in per_corruption.values()]),
        "relative_mce": _mean_or_none([v["relative_ce"] for v in per_corruption.values()]),
        "per_corruption": per_corruption,
        "definition": "Hendrycks & Dietterich (2019): CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}, mCE = mean_c CE_c (%); "
                      "relative: errors minus the clean error",
    }


def summarize(results: list[Record], baseline: Record | None = None) -> Record | None:
    """The ``corruptions`` entry of ``robustness.json`` (None when no corruption ran).

    ``baseline``: ``{"checkpoint": path, "results": records}`` of the baseline model on the same images.
    """
    records = corruption_records(results)
    if not records:
        return None
    grid = _grid(records)
    severities = sorted({s for row in grid.values() for s in row})
    families = {family: mean(a for name in members if name in grid for a in grid[name].values())
                for family, members in FAMILIES.items() if any(name in grid for name in members)}
    summary: Record = {
        "implementation": IMPLEMENTATION,
        "corruptions": list(grid), "severities": severities,
        "cifar10c_set": set(CORRUPTIONS) <= set(grid) and not set(grid) - set(CORRUPTIONS)
        and severities == list(SEVERITIES),
        "pixels": next((r.get("pixels") for r in records if r.get("pixels")), None),
        "mean_accuracy": mean(r["accuracy"] for r in records), "mean_note": MEAN_NOTE,
        "families": families,
        "per_corruption": {name: mean(row.values()) for name, row in grid.items()},
        "clean_accuracy": _clean_accuracy(results),
        "mce": None,
    }
    if baseline is not None:
        summary["mce"] = mean_corruption_error(results, baseline["results"], baseline["checkpoint"])
    return summary


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _cell(record: Record | None) -> str:
    if record is None:
        return ""
    low, high = record["ci95"]
    return f"{100 * record['accuracy']:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def markdown_lines(report: Record) -> list[str]:
    """The "Common corruptions" section of ``robustness.md`` (empty without corruptions)."""
    summary = report.get("corruptions")
    if not summary:
        return []
    records = {(r["corruption"], int(r["severity"])): r for r in corruption_records(report["results"])}
    severities = summary["severities"]
    mce = summary.get("mce")
    header = ["corruption", "family", *[f"severity {s}" for s in severities], "mean"]
    if mce:
        header.append("CE (%)")
    rows = []
    for name in summary["corruptions"]:
        row = [f"`{name}`", family_of(name), *[_cell(records.get((name, s))) for s in severities],
               _percent(summary["per_corruption"][name])]
        if mce:
            ce = (mce["per_corruption"].get(name) or {}).get("ce")
            row.append("-" if ce is None else f"{ce:.1f}")
        rows.append(row)
    what = ("CIFAR-10-C's 15 corruptions at its 5 severities" if summary["cifar10c_set"]
            else f"{len(summary['corruptions'])} corruptions at severities {', '.join(map(str, severities))}")
    lines = ["", "## Common corruptions", "",
             f"{what} (Hendrycks & Dietterich 2019), made on the fly by `cl_robust.corruptions` with the "
             f"published generator's constants; pixels: {summary.get('pixels') or '-'}. Accuracy (%) and its 95% "
             "interval over the test images.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *["| " + " | ".join(r) + " |" for r in rows], "",
             f"**Mean corruption accuracy: {_percent(summary['mean_accuracy'], 2)}%** ({summary['mean_note']}); "
             + ", ".join(f"{family} {_percent(value, 2)}%" for family, value in summary["families"].items())
             + (f"; clean {_percent(summary['clean_accuracy'], 2)}%." if summary.get("clean_accuracy") is not None else ".")]
    if mce:
        relative = "-" if mce["relative_mce"] is None else f"{mce['relative_mce']:.1f}%"
        mce_text = "-" if mce["mce"] is None else f"{mce['mce']:.1f}%"
        if mce["relative_mce"] is None and mce["mce"] is not None:
            relative += (" (undefined: needs clean accuracy of both models, and for every corruption a baseline "
                         "error above its clean error)")
        lines += ["", f"**mCE {mce_text}**, relative mCE {relative}, against `{mce['baseline']}` (its mean corruption "
                  f"accuracy {_percent(mce['baseline_mean_accuracy'], 2)}%, clean "
                  f"{_percent(mce['baseline_clean_accuracy'], 2)}%) on the same corrupted images; {mce['definition']}."]
    return lines


def wandb_scalars(report: Record) -> dict[str, float]:
    """``corruption/mean_accuracy``, ``corruption/<family>``, ``corruption/mce`` ... for W&B."""
    summary = report.get("corruptions")
    if not summary:
        return {}
    scalars = {"corruption/mean_accuracy": summary["mean_accuracy"],
               **{f"corruption/{family}": value for family, value in summary["families"].items()}}
    mce = summary.get("mce") or {}
    scalars.update({f"corruption/{key}": mce[key] for key in ("mce", "relative_mce") if mce.get(key) is not None})
    return scalars


def wandb_table(report: Record, make_table: Callable[..., Any]) -> Any | None:
    """A W&B table (``make_table(columns=..., data=...)``): one row per corruption and severity."""
    records = corruption_records(report.get("results") or [])
    if not records:
        return None
    return make_table(columns=["corruption", "family", "severity", "correct", "total", "accuracy", "ci95 low", "ci95 high"],
                      data=[[r["corruption"], family_of(r["corruption"]), r["severity"], r["correct"], r["total"],
                             r["accuracy"], *r["ci95"]] for r in records])
