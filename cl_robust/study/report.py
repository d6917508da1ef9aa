"""The study's report from whatever its folder holds: ``summary.json``, ``report.md`` and figures.

(a) a verdict for each published claim (C1-C3, :mod:`cl_robust.study.claims`); (b) clean and
robust accuracy per scheme x scenario for each data set and training eps, mean +- sd over seeds,
one column per attack and threat model; (c) the redundancy of each cell beside its untrained
baseline, the change from it and robust accuracy; (d) CKA heatmap grids (mean over seeds, clean
and adversarial, with the untrained network) and per-layer probe curves; then every failed or
skipped run and why.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from cl_robust.study.aggregate import aggregate, group_by_cell
from cl_robust.study.claims import RULE
from cl_robust.study.corruption_table import corruption_report
from cl_robust.study.figures import INPUT_KINDS, cka_grid, probe_curves
from cl_robust.study.grid import MIXES, Run, StudySpec, eps_tag
from cl_robust.study.length_figure import redundancy_by_length
from cl_robust.study.records import DONE_FILE, failure, read_json, run_dir, write_json, write_text
from cl_robust.study.tools import read_analysis, read_robustness
from cl_robust.study.verdicts import (
    REDUNDANCY_SCORE,
    REFERENCE_SCORE,
    claims_table,
    scenario_labels,
    study_claims,
)


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
    """Everything the report knows about one cell of one seed."""
    analyze_id = evaluate.run_id.replace("evaluate-", "analyze-", 1)
    robustness = read_robustness(run_dir(spec.output, evaluate.run_id))
    analysis = read_analysis(run_dir(spec.output, analyze_id)) or {}
    clean = next((row["accuracy"] for row in robustness if row["kind"] == "clean"), None)
    main = main_attack(robustness)
    return {"dataset": evaluate.dataset, "scheme": evaluate.scheme, "scenario": evaluate.scenario,
            "eps": evaluate.eps, "length": evaluate.length, "seed": evaluate.seed, "checkpoint_run": evaluate.source,
            "status": {"evaluate": run_status(spec, evaluate.run_id), "analyze": run_status(spec, analyze_id)},
            "clean_accuracy": clean, "robust_accuracy": main["accuracy"] if main else None,
            "robust_attack": main["name"] if main else None, "attacks": robustness,
            "redundancy": analysis.get("redundancy", {}), "interval": analysis.get("interval", {}),
            "untrained": analysis.get("untrained", {}), "cka": analysis.get("cka", {}),
            "probes": analysis.get("probes", {}), "layers": analysis.get("layers", []),
            "reference": analysis.get("reference", {}), "adversarial_eps": analysis.get("adversarial_eps")}


def stat_text(stats: dict[str, Any] | None, percent: bool = False, digits: int = 3) -> str:
    """``mean +- sd`` (``(n=2)`` when fewer than every seed finished is the caller's business); ``-`` when absent."""
    if not stats:
        return "-"
    scale, places = (100.0, 1) if percent else (1.0, digits)
    text = f"{scale * stats['mean']:.{places}f}"
    return text + (f" ± {scale * stats['sd']:.{places}f}" if stats["n"] > 1 else "")


def _score_stats(cell: dict[str, Any], kind: str = "clean", score: str = REDUNDANCY_SCORE) -> dict[str, Any] | None:
    return (cell["redundancy"].get(kind) or {}).get(score)


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
    """Rows scheme x scenario, one column per attack (threat model in the header), accuracy in % (mean ± sd).

    With one seed, each accuracy carries its 95% binomial interval when the evaluation recorded one.
    """
    attacks: list[tuple[str, str]] = []
    eps: dict[str, Any] = {}
    for cell in chosen:
        for name, entry in cell["attacks"].items():
            if (name, entry["threat_model"]) not in attacks:
                attacks.append((name, entry["threat_model"]))
                eps[name] = entry.get("eps")
    header = ["scheme", "scenario", "seeds",
              *[f"{name} ({model}{f', eps {eps_text(eps[name])}' if eps[name] else ''})" for name, model in attacks]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in chosen:
        shown = []
        for name, _ in attacks:
            entry = cell["attacks"].get(name) or {}
            text = stat_text(entry if "mean" in entry else None, percent=True)
            interval = cell.get("ci95", {}).get(name)
            if interval and entry.get("n") == 1:
                text += f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
            shown.append(text)
        lines.append("| " + " | ".join([cell["scheme"], cell["label"], str(len(cell["seeds_evaluated"])), *shown])
                     + " |")
    return lines


def eps_text(eps: Any) -> str:
    """An attack's eps as recorded (a number in pixels of [0, 1]) in the /255 form: ``0.0314 -> 8/255``."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        return str(eps)
    steps = value * 255
    return f"{round(steps)}/255" if abs(steps - round(steps)) < 1e-3 else f"{value:g}"


def paper_table(chosen: list[dict[str, Any]], schemes: list[str], scenarios: list[str]) -> list[str]:
    """Rows schemes, columns scenarios, ``clean / robust`` (%, mean ± sd over seeds) like the paper's tables."""
    by_key = {(cell["scheme"], cell["label"]): cell for cell in chosen}
    lines = ["| scheme | " + " | ".join(scenarios) + " |", "|---|" + "---|" * len(scenarios)]
    for scheme in schemes:
        entries = []
        for scenario in scenarios:
            cell = by_key.get((scheme, scenario))
            entries.append("" if cell is None else
                           f"{stat_text(cell['clean_accuracy'], True)} / {stat_text(cell['robust_accuracy'], True)}")
        lines.append(f"| {scheme} | " + " | ".join(entries) + " |")
    return lines


def redundancy_table(chosen: list[dict[str, Any]], schemes: list[str], scenarios: list[str]) -> list[str]:
    """Redundancy beside its untrained baselines, the change from them, and robust accuracy (mean ± sd over seeds)."""
    by_key = {(cell["scheme"], cell["label"]): cell for cell in chosen}
    lines = ["| scheme | scenario | redundancy (clean) | ± bootstrap | whole-matrix mean (clean) | "
             "redundancy (adversarial) | untrained, BN init | untrained, BN re-est. | change from untrained "
             "(re-est.) | reference statistic (clean) | its untrained (re-est.) | robust accuracy (%) |",
             "|" + "---|" * 12]
    for scheme in schemes:
        for scenario in scenarios:
            cell = by_key.get((scheme, scenario))
            if cell is None:
                continue
            values = [stat_text(_score_stats(cell)), stat_text(cell.get("bootstrap_halfwidth")),
                      stat_text(_score_stats(cell, score=REFERENCE_SCORE)), stat_text(_score_stats(cell, "adversarial")),
                      stat_text(cell["untrained"]["init_bn"].get(REDUNDANCY_SCORE)),
                      stat_text(cell["untrained"]["reestimated_bn"].get(REDUNDANCY_SCORE)),
                      stat_text(cell["change_from_untrained"]["reestimated_bn"].get(REDUNDANCY_SCORE)),
                      stat_text(cell["reference"].get("clean")), stat_text(cell["reference_untrained"]["reestimated_bn"]),
                      stat_text(cell["robust_accuracy"], True)]
            lines.append(f"| {scheme} | {scenario} | " + " | ".join(values) + " |")
    return lines


def problems(spec: StudySpec) -> list[dict[str, Any]]:
    """Every run that failed or was skipped, with why."""
    found = []
    for run in spec.runs:
        status = run_status(spec, run.run_id)
        if status["status"] in ("failed", "skipped"):
            found.append({"run_id": run.run_id, **status})
    return found


def unfinished_line(statuses: dict[str, dict[str, Any]]) -> str | None:
    """One line saying how much of the grid has not run yet (None when every run finished, failed or was skipped).

    A report written from a study in progress (``--report-only`` while it runs, or between sessions) must say
    so: its means and verdicts hold only the seeds that finished.
    """
    waiting = sum(status["status"] == "not run" for status in statuses.values())
    if not waiting:
        return None
    done = sum(status["status"] == "done" for status in statuses.values())
    return (f"**Unfinished study: {done} of {len(statuses)} runs done, {waiting} not run yet** (the same "
            "`cl-robust study` command resumes them); every mean, interval and verdict below holds only the seeds "
            "that finished in its cell (the claims' `seeds` column).")


def write_report(spec: StudySpec) -> dict[str, Any]:
    """Write ``summary.json``, ``report.md`` and ``figures/*.png`` into the study folder; returns the summary."""
    cells = [cell_summary(spec, run) for run in spec.cells()]
    by_cell = group_by_cell(cells)
    aggregated = [aggregate(group) for group in by_cell.values()]
    claims = study_claims(spec, by_cell)
    schemes = list(spec.raw["schemes"])
    scenarios = scenario_labels(spec)
    seeds = list(spec.raw["seeds"])
    figures_dir = spec.output / "figures"
    statuses = {run.run_id: run_status(spec, run.run_id) for run in spec.runs}
    unfinished = unfinished_line(statuses)
    lines = [f"# Study `{spec.name}`", "", *([unfinished, ""] if unfinished else []),
             f"{len(aggregated)} cells x {len(seeds)} seed(s) ({', '.join(map(str, seeds))}). Numbers are mean ± sd "
             "over the seeds that finished. Accuracy in % on the test split (`cl-robust evaluate`); redundancy = "
             f"{REDUNDANCY_SCORE} of the layer x layer CKA of the block outputs on clean inputs (`cl-robust analyze`), "
             f"beside the whole-matrix mean ({REFERENCE_SCORE}, diagonal included) and the reference study's statistic "
             "(the whole-matrix mean over torch_cka's layer set: every named module of the model), and beside the "
             "untrained network of the same architecture and seed (a redundancy figure means little without it).", "",
             *([f"Semi-supervised mixes ({', '.join(s for s in spec.raw['schemes'] if s in MIXES)}): "
                f"{spec.raw['labeled_fraction']:g} of the training labels (labeled_fraction).", ""]
               if "labeled_fraction" in spec.raw else []),
             "## Published claims", "", f"Rule: {RULE}", "", *claims_table(claims), ""]
    figures: list[str] = []
    for dataset, eps, chosen in groups(spec, aggregated):
        title = f"{dataset}" + (f", training eps {eps}" if eps else "")
        tag = f"{dataset}" + (f"_{eps_tag(eps)}" if eps else "")
        by_key = {(cell["scheme"], cell["label"]): cell for cell in chosen}
        lines += [f"## {title}", "", "### Clean / robust accuracy (%)", "",
                  f"Robust = {next((c['robust_attack'] for c in chosen if c['robust_attack']), 'n/a')}.", "",
                  *paper_table(chosen, schemes, scenarios), "", "Every attack:", "", *accuracy_table(chosen), "",
                  "### Redundancy, its untrained baseline, and robustness", "",
                  "`± bootstrap`: half-width of the 95% bootstrap interval over test batches (mean over seeds).", "",
                  *redundancy_table(chosen, schemes, scenarios), ""]
        made = [cka_grid(by_key, schemes, scenarios, kind, title, figures_dir / f"cka_{tag}_{kind}.png")
                for kind in INPUT_KINDS]
        made.append(probe_curves(by_key, schemes, scenarios, title, figures_dir / f"probes_{tag}.png"))
        if spec.raw.get("finetune_lengths"):
            made.append(redundancy_by_length(chosen, schemes, spec.raw["finetune_lengths"], title,
                                             figures_dir / f"redundancy_by_length_{tag}.png"))
        shown = [path for path in made if path is not None]
        figures += [str(path.relative_to(spec.output)) for path in shown]
        if shown:
            lines += ["### Figures", "", *[f"![{path.stem}](figures/{path.name})" for path in shown], ""]
    # Common corruptions (cl_robust/study/corruption_table.py): only when the grid evaluated them
    corruptions = corruption_report(spec, figures_dir, groups)
    lines += corruptions["lines"]
    figures += corruptions["figures"]
    trouble = problems(spec)
    lines += ["## Failed and skipped runs", ""]
    lines += [f"- `{item['run_id']}`: {item['status']}: {item.get('error') or item.get('reason')}" for item in trouble]
    lines += ["- none"] if not trouble else []
    summary = {"study": spec.name, "spec_hash": spec.spec_hash, "output": str(spec.output), "seeds": seeds,
               "runs": statuses,
               "problems": trouble, "figures": figures, "claims": claims, "claim_rule": RULE,
               "corruptions": corruptions["rows"],
               "aggregated": [{key: value for key, value in cell.items() if key not in ("cka", "cka_untrained")}
                              for cell in aggregated],
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
    """The final tables in the terminal: one row per cell (mean ± sd over seeds), then the claims' verdicts."""
    table = Table(title=f"study {summary['study']}")
    for column in ("dataset", "scheme", "scenario", "eps", "seeds eval./anal.", "clean %", "robust %", "redundancy", "untrained"):
        table.add_column(column)
    for cell in summary["aggregated"]:
        table.add_row(cell["dataset"], cell["scheme"], cell["label"], cell["eps"] or "-",
                      f"{len(cell['seeds_evaluated'])}/{len(cell['seeds_analysed'])}",
                      stat_text(cell["clean_accuracy"], True), stat_text(cell["robust_accuracy"], True),
                      stat_text((cell["redundancy"].get("clean") or {}).get(REDUNDANCY_SCORE)),
                      stat_text(cell["untrained"]["reestimated_bn"].get(REDUNDANCY_SCORE)))
    console.print(table)
    for entry in summary["claims"]:
        console.print(f"{entry['id']} {entry['dataset']} {entry['eps']} {entry['scheme']} {entry['comparison']} "
                      f"({entry['statistic']}, {entry['direction']}): {entry['verdict']}", highlight=False)
    for item in summary["problems"]:
        console.print(f"[red]{item['status']}[/]: {item['run_id']}: {item.get('error') or item.get('reason')}",
                      highlight=False)
