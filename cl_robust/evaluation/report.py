"""Robustness results as JSON, a markdown table and (optionally) a W&B table."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import lightning
import torch
import torchattacks

import cl_robust

from .threat_models import AUTOATTACK_NOTE

COLUMNS = ("attack", "threat model", "norm", "eps", "steps", "step size", "random start", "correct / total",
           "accuracy (%)", "seconds")


def versions() -> dict[str, str]:
    """Versions of the software that produced the numbers."""
    return {"cl_robust": cl_robust.__version__, "torch": torch.__version__, "torchattacks": torchattacks.__version__,
            "lightning": lightning.__version__, "python": platform.python_version()}


def _eps_text(eps: float, norm: str) -> str:
    if norm == "linf" and eps > 0:
        scaled = eps * 255
        if abs(scaled - round(scaled)) < 1e-6:
            return f"{round(scaled)}/255"
    return f"{eps:.4g}"


def table_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row of strings per attack, in :data:`COLUMNS` order."""
    rows = []
    for r in results:
        clean = r["kind"] == "clean"
        attack_steps = "" if clean or r["kind"] == "autoattack" else str(r["steps"])
        step = "" if clean or r["kind"] in ("autoattack", "fgsm") else f"{r['step_size']:.4g}"
        if r["skipped"]:
            counts, accuracy = "skipped", "-"
        else:
            counts, accuracy = f"{r['correct']} / {r['total']}", f"{100 * r['accuracy']:.2f}"
        rows.append([r["name"], r["threat_model"], "" if clean else r["norm"], "" if clean else _eps_text(r["eps"], r["norm"]),
                     attack_steps, step, "" if clean else ("yes" if r["random_start"] else "no"), counts, accuracy,
                     f"{r['seconds']:.1f}"])
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table with the checkpoint, data set and notes."""
    dataset = report["dataset"]
    order = dataset.get("order_seed")
    order_text = ("storage order" if order is None else f"a random order with order seed {order}")
    lines = [f"# Robustness of `{report['checkpoint']['path']}`", "",
             f"Data: {dataset['name']} test split, {dataset['images']} images in {order_text}, batches of "
             f"{dataset.get('batch_size')}. Model in eval mode; counts are exact over every image.", ""]
    if report["checkpoint"].get("note"):
        lines += [f"Note: {report['checkpoint']['note']}.", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["results"])]
    skipped = [r for r in report["results"] if r["skipped"]]
    lines += ["", *[f"- `{r['name']}` skipped: {r['skipped']}" for r in skipped]]
    for r in report["results"]:
        if r["kind"] == "tm1" and r.get("objective_before") is not None:
            lines += [f"- `{r['name']}` (TM-I) takes its negatives from the batch ({r['batch_size']} images): its "
                      f"strength depends on the batch's size and make-up. Contrastive loss "
                      f"{r['objective_before']:.4f} at the clean images, {r['objective_after']:.4f} after the attack "
                      "(mean over batches)."]
    if any(r["kind"] == "autoattack" for r in report["results"]):
        lines += [f"- {AUTOATTACK_NOTE}"]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``robustness.json`` and ``robustness.md`` into ``folder``."""
    json_path, markdown_path = folder / "robustness.json", folder / "robustness.md"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    markdown_path.write_text(markdown(report))
    return json_path, markdown_path


def log_to_wandb(run: Any, report: dict[str, Any]) -> None:
    """Log the table and one ``robust_acc/<attack>`` scalar per attack."""
    import wandb

    table = wandb.Table(columns=list(COLUMNS), data=table_rows(report["results"]))
    scalars = {f"robust_acc/{r['name']}": r["accuracy"] for r in report["results"] if r["accuracy"] is not None}
    run.log({"robustness": table, **scalars})
