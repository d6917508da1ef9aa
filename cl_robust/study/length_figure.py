"""The report's figure of redundancy against the length of adversarial fine-tuning (``finetune_lengths``).

One panel per scheme, one line per starting point: ``at`` followed by ``full_at`` after each
length, and ``st`` followed by ``st_full_at``; 0 epochs is the starting model itself (its linear
probe's cell; the encoder is the one fine-tuning starts from). Points are means over seeds with
their sd; the grey band is the untrained network's redundancy (mean +- sd over seeds, BatchNorm
re-estimated), the level a redundancy figure must be read against. A second row shows the
reference study's statistic (torch_cka's layer set, whole-matrix mean) when the analyses hold it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cl_robust.study.aggregate import scenario_label  # noqa: E402

#: (starting scenario, fine-tuned scenario) pairs drawn as lines.
STARTS: tuple[tuple[str, str], ...] = (("at", "full_at"), ("st", "st_full_at"))
ROWS: tuple[tuple[str, str], ...] = (("ours", "mean off-diagonal CKA\n(block outputs)"),
                                      ("reference", "whole-matrix mean\n(torch_cka's layer set)"))


def _value(cell: dict[str, Any] | None, row: str) -> dict[str, Any] | None:
    if cell is None:
        return None
    if row == "ours":
        return (cell["redundancy"].get("clean") or {}).get("mean_offdiagonal")
    return cell.get("reference", {}).get("clean")


def _untrained(cells: list[dict[str, Any]], row: str) -> dict[str, Any] | None:
    for cell in cells:  # every cell of a scheme and seed shares its untrained network
        stats = (cell["untrained"]["reestimated_bn"].get("mean_offdiagonal") if row == "ours"
                 else cell.get("reference_untrained", {}).get("reestimated_bn"))
        if stats:
            return stats
    return None


def redundancy_by_length(chosen: list[dict[str, Any]], schemes: list[str], lengths: list[int], title: str,
                         path: Path) -> Path | None:
    """Redundancy against epochs of adversarial fine-tuning, per scheme and starting point; None without data."""
    by_key = {(cell["scheme"], cell["label"]): cell for cell in chosen}
    rows = [row for row in ROWS if any(_value(cell, row[0]) for cell in chosen)]
    if not rows or not any(by_key.get((scheme, scenario_label(tuned, length)))
                           for scheme in schemes for _, tuned in STARTS for length in lengths):
        return None
    figure, axes = plt.subplots(len(rows), len(schemes), figsize=(3.6 * len(schemes), 3.0 * len(rows)),
                                squeeze=False, constrained_layout=True)
    for row_index, (row, ylabel) in enumerate(rows):
        for column, scheme in enumerate(schemes):
            axis = axes[row_index][column]
            scheme_cells = [cell for cell in chosen if cell["scheme"] == scheme]
            band = _untrained(scheme_cells, row)
            if band:
                axis.axhspan(band["mean"] - band["sd"], band["mean"] + band["sd"], color="0.85",
                             label="untrained (mean ± sd)")
                axis.axhline(band["mean"], color="0.6", linewidth=0.8)
            for (start, tuned), marker in zip(STARTS, ("o", "s"), strict=True):
                points = [(0, _value(by_key.get((scheme, start)), row))]
                points += [(length, _value(by_key.get((scheme, scenario_label(tuned, length))), row))
                           for length in lengths]
                shown = [(x, stats) for x, stats in points if stats]
                if len(shown) > 1:
                    axis.errorbar([x for x, _ in shown], [s["mean"] for _, s in shown],
                                  yerr=[s["sd"] for _, s in shown], marker=marker, capsize=3,
                                  label=f"from {start} ({tuned})")
            axis.set_xticks([0, *lengths])
            if row_index == 0:
                axis.set_title(scheme)
            if row_index == len(rows) - 1:
                axis.set_xlabel("epochs of adversarial full fine-tuning")
            if column == 0:
                axis.set_ylabel(ylabel, fontsize=8)
    handles = {label: handle for axis in axes.flat for handle, label in zip(*axis.get_legend_handles_labels(),
                                                                            strict=True)}
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=3, fontsize=8)
    figure.suptitle(f"{title}: redundancy (clean inputs) against adversarial fine-tuning, mean ± sd over seeds",
                    fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
