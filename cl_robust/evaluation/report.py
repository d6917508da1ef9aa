"""Robustness results as JSON, a markdown report and (optionally) a W&B table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import corruption_summary
from .intervals import METHOD
from .suite import eps_text
from .threat_models import AUTOATTACK_FAST_NOTE

COLUMNS = ("attack", "threat model", "norm", "eps", "steps", "step size", "random start", "correct / total",
           "accuracy (%)", "95% interval (%)", "seconds")
NO_STEP_SIZE = ("autoattack", "autoattack-fast", "fgsm", "square")
NO_RANDOM_START = ("clean", "autoattack", "autoattack-fast", "square")


def _interval(record: dict[str, Any]) -> str:
    interval = record.get("ci95")
    return "-" if not interval else f"{100 * interval[0]:.1f} - {100 * interval[1]:.1f}"


def table_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row of strings per attack, in :data:`COLUMNS` order (common corruptions have their own table)."""
    rows = []
    for r in results:
        if r["kind"] == "corruption":
            continue
        clean = r["kind"] == "clean"
        attack_steps = "" if clean or r["kind"] == "square" else str(r["steps"])
        step = "" if clean or r["kind"] in NO_STEP_SIZE else f"{r['step_size']:.4g}"
        if r["skipped"]:
            counts, accuracy = "skipped", "-"
        else:
            counts, accuracy = f"{r['correct']} / {r['total']}", f"{100 * r['accuracy']:.2f}"
        rows.append([r["name"], r["threat_model"], "" if clean else r["norm"], "" if clean else eps_text(r["eps"], r["norm"]),
                     attack_steps, step, "" if r["kind"] in NO_RANDOM_START else ("yes" if r["random_start"] else "no"),
                     counts, accuracy,
                     _interval(r), f"{r['seconds']:.1f}"])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *["| " + " | ".join(row) + " |" for row in rows]]


def _worst_case_lines(cases: list[dict[str, Any]]) -> list[str]:
    if not cases:
        return []
    rows = [[case["norm"], eps_text(case["eps"], case["norm"]), ", ".join(f"`{name}`" for name in case["attacks"]),
             f"{case['correct']} / {case['total']}", f"{100 * case['accuracy']:.2f}", _interval(case)]
            for case in cases]
    return ["", "## Robust accuracy under every attack run", "",
            "An image counts only if it is classified correctly without attack and after every attack of the norm "
            "and at most the eps of the row. Per image: `per_sample.csv`.", "",
            *_table(["norm", "eps", "attacks", "correct / total", "accuracy (%)", "95% interval (%)"], rows)]


def masking_verdict(masking: dict[str, Any]) -> str:
    """The one-line verdict of the masking checks: a check that did not run counts neither way."""
    if masking["suspected"]:
        return ("**Gradient masking suspected**: at least one check FAILED; robust accuracies above are upper bounds "
                "at best.")
    ran = sum(check["passed"] is not None for check in masking["checks"])
    not_run = len(masking["checks"]) - ran
    if ran == 0:
        return ("No gradient-masking check ran: each needs attacks this suite does not include (listed below), so "
                "nothing here says whether the gradients are masked.")
    return (f"No sign of gradient masking in the {ran} check{'s' * (ran != 1)} that ran"
            + (f"; {not_run} did not run (below)." if not_run else "."))


def masking_lines(masking: dict[str, Any] | None) -> list[str]:
    """The markdown section of the gradient-masking checks: the verdict, then each check passed, FAILED or not run."""
    if not masking:
        return []
    lines = ["", "## Gradient-masking checks", "", masking_verdict(masking), ""]
    for check in masking["checks"]:
        state = {True: "passed", False: "**FAILED**", None: "not run"}[check["passed"]]
        lines.append(f"- {state}: `{check['check']}` ({check['rule']}): {check['detail']}")
    return lines


def _autoattack_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in results:
        if r["kind"] == "autoattack" and not r["skipped"]:
            after = ", ".join(f"{stage['after']} {100 * stage['accuracy']:.2f}%" for stage in r["after_each_attack"]
                              if stage["accuracy"] is not None)
            resumed = (f"; resumed a run that had finished {', '.join(r['resumed']['attacks_done']) or 'no attack'} "
                       f"and {r['resumed']['chunks_done']} chunks of the next" if r.get("resumed") else "")
            lines.append(f"- `{r['name']}`: the original AutoAttack ({r['implementation']}), {r['version']}: "
                         f"{', '.join(r['attacks'])}, {r['iterations']} iterations, {r['queries']} Square queries, "
                         f"{r['target_classes']} target classes, chunks of {r['batch_size']}. Accuracy after each "
                         f"attack: {after}{resumed}.")
        if r["kind"] == "autoattack-fast":
            lines.append(f"- `{r['name']}`: {AUTOATTACK_FAST_NOTE}")
    return lines


def _resized_text(dataset: dict[str, Any]) -> str:
    """``, 100 of them resized from 64x64 to 32x32 (--data.resize)`` when the test images were resized, else empty."""
    resized = (dataset.get("resized") or {}).get("test")
    if not resized:
        return ""
    size = dataset.get("image_size")
    return (f", {sum(resized.values())} of them resized from {', '.join(sorted(resized))} to {size}x{size} "
            "(--data.resize)")


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown: the table with intervals, the worst case, the masking checks and notes."""
    dataset = report["dataset"]
    order = dataset.get("order_seed")
    order_text = ("storage order" if order is None else f"a random order with order seed {order}")
    devices = report.get("devices", 1)
    lines = [f"# Robustness of `{report['checkpoint']['path']}`", "",
             f"Data: {dataset['name']} test split, {dataset['images']} images in {order_text}, batches of "
             f"{dataset.get('batch_size')}" + (f", shared between {devices} processes" if devices > 1 else "")
             + _resized_text(dataset) + ". Model in eval mode; counts are exact over every image; intervals: "
             f"{report.get('interval', METHOD)} over the test images.", ""]
    if report["checkpoint"].get("note"):
        lines += [f"Note: {report['checkpoint']['note']}.", ""]
    lines += _table(list(COLUMNS), table_rows(report["results"]))
    lines += corruption_summary.markdown_lines(report)
    lines += _worst_case_lines(report.get("worst_case") or [])
    lines += masking_lines(report.get("masking"))
    notes = [f"- `{r['name']}` skipped: {r['skipped']}" for r in report["results"] if r["skipped"]]
    for r in report["results"]:
        if r["kind"] == "tm1" and r.get("objective_before") is not None:
            notes += [f"- `{r['name']}` (TM-I) takes its negatives from the batch ({r['batch_size']} images): its "
                      f"strength depends on the batch's size and make-up. Contrastive loss "
                      f"{r['objective_before']:.4f} at the clean images, {r['objective_after']:.4f} after the attack "
                      "(mean over batches)."]
    notes += _autoattack_lines(report["results"])
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``robustness.json`` and ``robustness.md`` into ``folder``."""
    json_path, markdown_path = folder / "robustness.json", folder / "robustness.md"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    markdown_path.write_text(markdown(report))
    return json_path, markdown_path


def log_to_wandb(run: Any, report: dict[str, Any]) -> None:
    """Log the table, one ``robust_acc/<attack>`` scalar per attack and one ``worst_case/<norm eps>`` per threat model."""
    import wandb

    table = wandb.Table(columns=list(COLUMNS), data=table_rows(report["results"]))
    scalars = {f"{'corruption_acc' if r['kind'] == 'corruption' else 'robust_acc'}/{r['name']}": r["accuracy"]
               for r in report["results"] if r["accuracy"] is not None}
    scalars.update({f"worst_case/{case['norm']} {eps_text(case['eps'], case['norm'])}": case["accuracy"]
                    for case in report.get("worst_case") or [] if case["accuracy"] is not None})
    scalars["masking_suspected"] = float(bool((report.get("masking") or {}).get("suspected")))
    scalars.update(corruption_summary.wandb_scalars(report))
    corruptions = corruption_summary.wandb_table(report, wandb.Table)
    run.log({"robustness": table, **scalars, **({"corruptions": corruptions} if corruptions is not None else {})})
