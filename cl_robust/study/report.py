"""The study's report from whatever its folder holds: ``summary.json``, ``report.md`` and figures.

(a) clean and robust accuracy per scheme x scenario for each data set and training eps, one
column per attack and threat model; (b) CKA heatmap grids, clean and adversarial; (c) the
redundancy of each cell next to its robust accuracy, with one automatic reading per scheme
(does adversarial full fine-tuning lower redundancy compared with ``at``?); (d) per-layer
probe curves; then every failed or skipped run and why.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from cl_robust.study.figures import INPUT_KINDS, cka_grid, probe_curves
from cl_robust.study.grid import SCENARIOS, Run, StudySpec, eps_tag
from cl_robust.study.records import DONE_FILE, failure, read_json, run_dir, write_json, write_text
from cl_robust.study.tools import read_analysis, read_robustness

#: Redundancy score the report reads (mean off-diagonal layer x layer CKA on clean inputs).
REDUNDANCY_SCORE = "mean_offdiagonal"
#: A change in redundancy smaller than this reads as "about the same".
REDUNDANCY_TOLERANCE = 0.01


def run_status(spec: StudySpec, run_id: str) -> dict[str, Any]:
    """``done`` / ``failed`` (with its error) / ``skipped`` (with the failed prerequisite) / ``not run``."""
    folder = run_dir(spec.output, run_id)
    if (folder / DONE_FILE).is_file():
        return {"status": "done", "seconds": read_json(folder / DONE_FILE).get("seconds")}
    failed = failure(spec.output, run_id)
    if failed is not None:
        return {"status": "failed", "error": failed["error"][-1], "log": failed.get("log")}
    for need in spec.run(run_id).needs:
        upstream = run_status(spec, need)
        if upstream["status"] in ("failed", "skipped"):
            return {"status": "skipped", "reason": f"needs {need}, which {upstream['status']}"}
    return {"status": "not run"}


def main_attack(robustness: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The robust number a table shows first: the first PGD, else the first attack that ran."""
    attacked = [row for row in robustness if row["kind"] != "clean" and row["accuracy"] is not None]
    pgd = [row for row in attacked if row["kind"] == "pgd"]
    return (pgd or attacked or [None])[0]


def cell_summary(spec: StudySpec, evaluate: Run) -> dict[str, Any]:
    """Everything the report knows about one cell."""
    analyze_id = evaluate.run_id.replace("evaluate-", "analyze-", 1)
    robustness = read_robustness(run_dir(spec.output, evaluate.run_id))
    analysis = read_analysis(run_dir(spec.output, analyze_id)) or {}
    clean = next((row["accuracy"] for row in robustness if row["kind"] == "clean"), None)
    main = main_attack(robustness)
    return {"dataset": evaluate.dataset, "scheme": evaluate.scheme, "scenario": evaluate.scenario,
            "eps": evaluate.eps, "checkpoint_run": evaluate.source,
            "status": {"evaluate": run_status(spec, evaluate.run_id), "analyze": run_status(spec, analyze_id)},
            "clean_accuracy": clean, "robust_accuracy": main["accuracy"] if main else None,
            "robust_attack": main["name"] if main else None, "attacks": robustness,
            "redundancy": analysis.get("redundancy", {}), "cka": analysis.get("cka", {}),
            "probes": analysis.get("probes", {}), "layers": analysis.get("layers", [])}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _score(cell: dict[str, Any], kind: str = "clean") -> float | None:
    return (cell["redundancy"].get(kind) or {}).get(REDUNDANCY_SCORE)


def groups(spec: StudySpec, cells: list[dict[str, Any]]) -> list[tuple[str, str | None, list[dict[str, Any]]]]:
    """(dataset, eps, cells) per table: cells without a training eps (``st``) join every eps."""
    eps_list: list[str | None] = list(spec.raw["eps"]) or [None]
    out = []
    for dataset in spec.raw["datasets"]:
        for eps in eps_list:
            chosen = [cell for cell in cells if cell["dataset"] == dataset and cell["eps"] in (eps, None)]
            if chosen:
                out.append((dataset, eps, chosen))
    return out


def accuracy_table(chosen: list[dict[str, Any]]) -> list[str]:
    """(a) rows scheme x scenario, one column per attack (threat model in the header), accuracy in %."""
    attacks: list[tuple[str, str]] = []
    for cell in chosen:
        for row in cell["attacks"]:
            if (row["name"], row["threat_model"]) not in attacks:
                attacks.append((row["name"], row["threat_model"]))
    header = ["scheme", "scenario", *[f"{name} ({model})" for name, model in attacks]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in chosen:
        values = {(row["name"], row["threat_model"]): row["accuracy"] for row in cell["attacks"]}
        shown = [_number(values.get(key)) if cell["attacks"] else cell["status"]["evaluate"]["status"]
                 for key in attacks]
        lines.append("| " + " | ".join([cell["scheme"], cell["scenario"], *shown]) + " |")
    return lines


def paper_table(chosen: list[dict[str, Any]], schemes: list[str], scenarios: list[str]) -> list[str]:
    """Rows schemes, columns scenarios, ``clean / robust`` (%) like the paper's tables."""
    by_key = {(cell["scheme"], cell["scenario"]): cell for cell in chosen}
    lines = ["| scheme | " + " | ".join(scenarios) + " |", "|---|" + "---|" * len(scenarios)]
    for scheme in schemes:
        entries = []
        for scenario in scenarios:
            cell = by_key.get((scheme, scenario))
            entries.append("" if cell is None else f"{_number(cell['clean_accuracy'])} / {_number(cell['robust_accuracy'])}")
        lines.append(f"| {scheme} | " + " | ".join(entries) + " |")
    return lines


def redundancy_reading(scheme: str, by_key: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One line: does adversarial full fine-tuning lower redundancy compared with ``at`` for ``scheme``?"""
    at, full = by_key.get((scheme, "at")), by_key.get((scheme, "full_at"))
    if at is None or full is None or _score(at) is None or _score(full) is None:
        return f"{scheme}: no reading (needs the redundancy of both at and full_at)"
    change = _score(full) - _score(at)
    verb = "lowers" if change < -REDUNDANCY_TOLERANCE else "raises" if change > REDUNDANCY_TOLERANCE else "hardly changes"
    expected = verb == "lowers" if scheme == "cl" else verb != "lowers"
    robust = ""
    if at["robust_accuracy"] is not None and full["robust_accuracy"] is not None:
        robust = f"; robust accuracy {_number(at['robust_accuracy'])} -> {_number(full['robust_accuracy'])} %"
    verdict = "consistent with" if expected else "unlike"
    return (f"{scheme}: adversarial full fine-tuning {verb} redundancy vs at ({_score(at):.3f} -> {_score(full):.3f}"
            f"{robust}), {verdict} the published finding (lower for cl, not for scl / sl)")


def redundancy_table(chosen: list[dict[str, Any]], schemes: list[str], scenarios: list[str]) -> list[str]:
    """(c) redundancy (clean / adversarial inputs) next to robust accuracy, and the reading per scheme."""
    by_key = {(cell["scheme"], cell["scenario"]): cell for cell in chosen}
    lines = ["| scheme | scenario | redundancy (clean) | redundancy (adversarial) | robust accuracy (%) |",
             "|---|---|---|---|---|"]
    for scheme in schemes:
        for scenario in scenarios:
            cell = by_key.get((scheme, scenario))
            if cell is None:
                continue
            scores = [_score(cell, kind) for kind in INPUT_KINDS]
            lines.append(f"| {scheme} | {scenario} | " + " | ".join("-" if s is None else f"{s:.3f}" for s in scores)
                         + f" | {_number(cell['robust_accuracy'])} |")
    lines += ["", *[f"- {redundancy_reading(scheme, by_key)}" for scheme in schemes]]
    return lines


def problems(spec: StudySpec) -> list[dict[str, Any]]:
    """Every run that failed or was skipped, with why."""
    found = []
    for run in spec.runs:
        status = run_status(spec, run.run_id)
        if status["status"] in ("failed", "skipped"):
            found.append({"run_id": run.run_id, **status})
    return found


def write_report(spec: StudySpec) -> dict[str, Any]:
    """Write ``summary.json``, ``report.md`` and ``figures/*.png`` into the study folder; returns the summary."""
    cells = [cell_summary(spec, run) for run in spec.cells()]
    schemes = list(spec.raw["schemes"])
    scenarios = [name for name in SCENARIOS if any(name in spec.raw["scenarios"][s] for s in schemes)]
    figures_dir = spec.output / "figures"
    lines = [f"# Study `{spec.name}`", "",
             f"{len(cells)} cells; accuracy in % on the test split as evaluated by `cl-robust evaluate`; "
             f"redundancy = {REDUNDANCY_SCORE} of the layer x layer CKA (`cl-robust analyze`).", ""]
    figures: list[str] = []
    for dataset, eps, chosen in groups(spec, cells):
        title = f"{dataset}" + (f", training eps {eps}" if eps else "")
        tag = f"{dataset}" + (f"_{eps_tag(eps)}" if eps else "")
        by_key = {(cell["scheme"], cell["scenario"]): cell for cell in chosen}
        lines += [f"## {title}", "", "### Clean / robust accuracy (%)", "",
                  f"Robust = {next((c['robust_attack'] for c in chosen if c['robust_attack']), 'n/a')}.", "",
                  *paper_table(chosen, schemes, scenarios), "", "Every attack:", "", *accuracy_table(chosen), "",
                  "### Redundancy and robustness", "", *redundancy_table(chosen, schemes, scenarios), ""]
        made = [cka_grid(by_key, schemes, scenarios, kind, title, figures_dir / f"cka_{tag}_{kind}.png")
                for kind in INPUT_KINDS]
        made.append(probe_curves(by_key, schemes, scenarios, title, figures_dir / f"probes_{tag}.png"))
        shown = [path for path in made if path is not None]
        figures += [str(path.relative_to(spec.output)) for path in shown]
        if shown:
            lines += ["### Figures", "", *[f"![{path.stem}](figures/{path.name})" for path in shown], ""]
    trouble = problems(spec)
    lines += ["## Failed and skipped runs", ""]
    lines += [f"- `{item['run_id']}`: {item['status']}: {item.get('error') or item.get('reason')}" for item in trouble]
    lines += ["- none"] if not trouble else []
    summary = {"study": spec.name, "spec_hash": spec.spec_hash, "output": str(spec.output),
               "runs": {run.run_id: run_status(spec, run.run_id) for run in spec.runs},
               "problems": trouble, "figures": figures,
               "cells": [{key: value for key, value in cell.items() if key != "cka"} for cell in cells]}
    write_json(spec.output / "summary.json", summary)
    write_text(spec.output / "report.md", "\n".join(lines) + "\n")
    return summary


def print_outcomes(console: Console, outcomes: dict[str, Any]) -> None:
    """The outcome of each run of this invocation (for ``--only``)."""
    table = Table(title="runs")
    for column in ("run", "status", "seconds", "why"):
        table.add_column(column)
    for outcome in outcomes.values():
        table.add_row(outcome.run_id, outcome.status, f"{outcome.seconds:.1f}", outcome.reason)
    console.print(table)


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    """The final table in the terminal: one row per cell."""
    table = Table(title=f"study {summary['study']}")
    for column in ("dataset", "scheme", "scenario", "eps", "clean %", "robust %", "redundancy", "status"):
        table.add_column(column)
    for cell in summary["cells"]:
        score = (cell["redundancy"].get("clean") or {}).get(REDUNDANCY_SCORE)
        statuses = {cell["status"][phase]["status"] for phase in ("evaluate", "analyze")}
        table.add_row(cell["dataset"], cell["scheme"], cell["scenario"], cell["eps"] or "-",
                      _number(cell["clean_accuracy"]), _number(cell["robust_accuracy"]),
                      "-" if score is None else f"{score:.3f}", "/".join(sorted(statuses)))
    console.print(table)
    for item in summary["problems"]:
        console.print(f"[red]{item['status']}[/]: {item['run_id']}: {item.get('error') or item.get('reason')}",
                      highlight=False)
