"""The study report's common-corruption section: a table and a figure per data set and training eps.

When the grid's ``evaluate: attacks`` holds ``corruptions`` (CIFAR-10-C's 15 corruptions at 5
severities, or a choice of them), each cell's ``robustness.json`` carries a ``corruptions``
summary. This section shows, per scheme x scenario and as mean ± sd over seeds: clean accuracy,
the mean corruption accuracy, and the mean of each family (noise, blur, weather, digital), the
question being whether adversarial training helps or hurts robustness to common corruptions
(for supervised models it is known to help noise and hurt fog and contrast). The figure draws
the same numbers as bars with the seed sd as error bars.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

from cl_robust.corruptions import FAMILIES
from cl_robust.study.aggregate import scenario_label, seed_stats
from cl_robust.study.grid import StudySpec, eps_tag
from cl_robust.study.records import run_dir
from cl_robust.study.tools import read_corruptions
from cl_robust.study.verdicts import scenario_labels

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: The numbers of a cell, in the table's and the figure's order.
COLUMNS: tuple[str, ...] = ("clean", "mean", *FAMILIES)
Groups = Callable[[StudySpec, list[dict[str, Any]]], list[tuple[str, "str | None", list[dict[str, Any]]]]]


def cell_numbers(summary: dict[str, Any]) -> dict[str, float | None]:
    """Clean accuracy, mean corruption accuracy and each family's mean (fractions) of one evaluation."""
    families = summary.get("families") or {}
    return {"clean": summary.get("clean_accuracy"), "mean": summary.get("mean_accuracy"),
            **{family: families.get(family) for family in FAMILIES}}


def corruption_rows(spec: StudySpec) -> list[dict[str, Any]]:
    """One row per (dataset, scheme, scenario, eps) whose evaluation ran corruptions: each number's seed stats."""
    cells: dict[tuple[str, str, str, str | None], list[dict[str, Any]]] = {}
    described: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    for run in spec.cells():
        summary = read_corruptions(run_dir(spec.output, run.run_id))
        if not summary:
            continue
        key = (run.dataset, run.scheme, scenario_label(run.scenario, run.length), run.eps)
        cells.setdefault(key, []).append({"seed": run.seed, **cell_numbers(summary),
                                          "per_corruption": summary.get("per_corruption") or {}})
        described.setdefault(key, {"corruptions": summary.get("corruptions"), "severities": summary.get("severities"),
                                   "cifar10c_set": summary.get("cifar10c_set")})
    rows = []
    for (dataset, scheme, scenario, eps), seeds in cells.items():
        rows.append({"dataset": dataset, "scheme": scheme, "scenario": scenario, "eps": eps,
                     "seeds": [entry["seed"] for entry in seeds], **described[(dataset, scheme, scenario, eps)],
                     "numbers": {column: seed_stats(entry[column] for entry in seeds) for column in COLUMNS},
                     # each corruption's accuracy, mean over its severities: mean ± sd over seeds (JSON only)
                     "per_corruption": {name: seed_stats(entry["per_corruption"].get(name) for entry in seeds)
                                        for name in seeds[0]["per_corruption"]}})
    return rows


def _text(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    return f"{100 * stats['mean']:.1f}" + (f" ± {100 * stats['sd']:.1f}" if stats["n"] > 1 else "")


def corruption_table(rows: list[dict[str, Any]], schemes: list[str], scenarios: list[str]) -> list[str]:
    """Rows scheme x scenario; columns seeds, clean, mean corruption accuracy and the four families (%)."""
    by_key = {(row["scheme"], row["scenario"]): row for row in rows}
    header = ["scheme", "scenario", "seeds", "clean", "mean corruption accuracy", *FAMILIES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scheme in schemes:
        for scenario in scenarios:
            row = by_key.get((scheme, scenario))
            if row is not None:
                numbers = [_text(row["numbers"][column]) for column in COLUMNS]
                lines.append(f"| {scheme} | {scenario} | {len(row['seeds'])} | " + " | ".join(numbers) + " |")
    return lines


def corruption_figure(rows: list[dict[str, Any]], schemes: list[str], scenarios: list[str], title: str,
                      path: Path) -> Path | None:
    """Grouped bars: for each scheme x scenario, clean, mean corruption and family accuracy (%), sd as error bars."""
    cells = [(scheme, scenario) for scheme in schemes for scenario in scenarios
             if any(row["scheme"] == scheme and row["scenario"] == scenario for row in rows)]
    if not cells:
        return None
    by_key = {(row["scheme"], row["scenario"]): row for row in rows}
    width = 0.8 / len(COLUMNS)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.1 * len(cells) + 2), 4.2), constrained_layout=True)
    for index, column in enumerate(COLUMNS):
        stats = [by_key[cell]["numbers"][column] for cell in cells]
        means = [100 * s["mean"] if s else float("nan") for s in stats]  # a family not evaluated: no bar
        errors = [100 * s["sd"] if s and s["n"] > 1 else 0.0 for s in stats]
        positions = [c + (index - (len(COLUMNS) - 1) / 2) * width for c in range(len(cells))]
        axis.bar(positions, means, width, yerr=errors, capsize=2, label=column,
                 color="0.6" if column == "clean" else ("0.15" if column == "mean" else None))
    axis.set_xticks(range(len(cells)), [f"{scheme}\n{scenario}" for scheme, scenario in cells])
    axis.set_ylabel("accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"Common corruptions, {title}", fontsize="medium")
    axis.legend(ncols=len(COLUMNS), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def corruption_report(spec: StudySpec, figures_dir: Path, groups: Groups) -> dict[str, Any]:
    """``{"lines", "figures", "rows"}``: the report's section (empty when no cell evaluated corruptions).

    ``groups``: the report's grouping of cells into tables (per data set and training eps).
    """
    rows = corruption_rows(spec)
    if not rows:
        return {"lines": [], "figures": [], "rows": []}
    schemes = list(spec.raw["schemes"])
    scenarios = scenario_labels(spec)
    lines = ["## Common corruptions", "",
             "Accuracy (%) under CIFAR-10-C's corruptions (Hendrycks & Dietterich 2019), made on the fly by "
             "`cl_robust.corruptions` with the published generator's constants: mean over every corruption and "
             "severity evaluated, and per family; mean ± sd over seeds.", ""]
    figures = []
    for dataset, eps, chosen in groups(spec, rows):
        title = f"{dataset}" + (f", training eps {eps}" if eps else "")
        first = chosen[0]
        what = ("the 15 corruptions x 5 severities" if first.get("cifar10c_set") else
                f"{', '.join(first.get('corruptions') or [])} at severities "
                f"{', '.join(map(str, first.get('severities') or []))}")
        lines += [f"### {title}", "", f"Over {what}.", "", *corruption_table(chosen, schemes, scenarios), ""]
        tag = f"{dataset}" + (f"_{eps_tag(eps)}" if eps else "")
        made = corruption_figure(chosen, schemes, scenarios, title, figures_dir / f"corruptions_{tag}.png")
        if made is not None:
            figures.append(str(made.relative_to(spec.output)))
            lines += [f"![{made.stem}](figures/{made.name})", ""]
    return {"lines": lines, "figures": figures, "rows": rows}
