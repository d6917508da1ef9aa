"""The common-corruption table of a finished study, from its checkpoints, without running the study again.

For every cell of the study in STUDY (a folder written by ``cl-robust study``), this runs
``cl-robust evaluate --attacks clean corruptions`` on the checkpoint the cell's evaluation read
(same data set, data root, test subset and seed as the study's own evaluation), into
``OUTPUT/runs/<evaluate run id>/``, then writes ``OUTPUT/corruptions.md`` (the table per data
set and training eps: clean, mean corruption accuracy and each family, mean ± sd over seeds),
``OUTPUT/corruptions.json`` and ``OUTPUT/figures/corruptions_*.png``. Cells already evaluated in
OUTPUT are kept (run it again after an interruption); a cell whose source run has not finished,
whose checkpoint is missing or whose evaluation fails is listed and the others go on, so the
script also tables a study still running. ``--only GLOB ...`` limits it to matching cells. A cell
of a fine-tuning length (``-ep<k>``) reads that epoch's checkpoint, as the study did.

    python scripts/corruption_table.py results/cpu --output docs/results/cpu/corruptions \\
        --batch_size 250 --test_per_class 100
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import sys
import time
from pathlib import Path

from cl_robust.errors import ConfigError
from cl_robust.evaluation.command import main as evaluate
from cl_robust.study.corruption_table import corruption_report
from cl_robust.study.grid import spec_from_dict
from cl_robust.study.records import is_done, run_dir, stored_grid, write_json, write_text
from cl_robust.study.report import groups
from cl_robust.study.runner import input_checkpoint
from cl_robust.study.tools import data_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="folder of a study written by cl-robust study")
    parser.add_argument("--output", type=Path, required=True, help="folder for the evaluations, table and figures")
    parser.add_argument("--attacks", nargs="+", default=["clean", "corruptions"],
                        help="what to evaluate (default: clean corruptions, i.e. the 15 x 5 of CIFAR-10-C)")
    parser.add_argument("--test_per_class", type=int, default=None,
                        help="test images a class (default: the study's own test subset)")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", default=None, metavar="GLOB",
                        help="evaluate only the cells whose evaluate run id matches one of these globs "
                             "(e.g. 'evaluate-*-ep4-*'); the table says which")
    args = parser.parse_args(argv)
    try:
        raw = stored_grid(args.study)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    study = spec_from_dict(copy.deepcopy(raw), args.study.resolve())
    study.raw["output"] = str(args.study.resolve())  # data of a synthetic study lives in its folder
    tables = spec_from_dict(copy.deepcopy(raw), args.study.resolve())
    tables.raw["output"] = str(args.output.resolve())
    problems = []
    cells = study.cells()
    if args.only:
        cells = [run for run in cells if any(fnmatch.fnmatchcase(run.run_id, glob) for glob in args.only)]
        if not cells:
            raise SystemExit(f"--only: no cell of {args.study} matches {' '.join(args.only)}; cells look like "
                             f"{study.cells()[0].run_id}")
    for run in cells:
        folder = run_dir(tables.output, run.run_id)
        if (folder / "robustness.json").is_file():
            continue
        if run.source and not is_done(study.output, run.source):  # a run still training has a last.ckpt too
            problems.append(f"{run.run_id}: {run.source} has not finished")
            continue
        checkpoint = input_checkpoint(study.output, run) if run.source else None
        if checkpoint is None or not checkpoint.is_file():
            problems.append(f"{run.run_id}: no checkpoint {checkpoint}")
            continue
        data = data_args(study, run)
        if args.test_per_class is not None:
            if "--data.test_per_class" in data:
                at = data.index("--data.test_per_class")
                del data[at: at + 2]
            data += ["--data.test_per_class", str(args.test_per_class)]
        argv_run = ["--checkpoint", str(checkpoint), "--output", str(folder), *data, "--seed", str(run.seed),
                    "--attacks", *args.attacks, "--batch_size", str(args.batch_size), "--device", args.device]
        start = time.perf_counter()
        try:
            evaluate(argv_run)
        except ConfigError as error:
            problems.append(f"{run.run_id}: {error}")
            continue
        print(f"{run.run_id}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    section = corruption_report(tables, tables.output / "figures", groups)
    lines = [f"# Common corruptions of study `{study.name}`", "",
             f"`python scripts/corruption_table.py {args.study} --output {args.output} --attacks "
             f"{' '.join(args.attacks)}{' --only ' + ' '.join(args.only) if args.only else ''}`; per cell: `cl-robust evaluate` of the checkpoint the study's own "
             "evaluation read, with the study's data options and seed.", "", *section["lines"]]
    if problems:
        lines += ["## Cells left out", "", *[f"- {problem}" for problem in problems], ""]
    write_text(tables.output / "corruptions.md", "\n".join(lines) + "\n")
    write_json(tables.output / "corruptions.json", {"study": study.name, "rows": section["rows"], "problems": problems})
    print(json.dumps({"cells": len(section["rows"]), "problems": problems}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
