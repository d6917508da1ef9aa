"""``cl-robust study``: the whole grid in one command, resumable, ending in the report.

    cl-robust study --config examples/study/smoke.yaml            # run (or resume) everything
    cl-robust study --config examples/study/quick.yaml --list     # run ids, in dependency order
    cl-robust study --config X --only 'pretrain-*'                # one phase / one cell (a glob)
    cl-robust study --config X --report-only                      # report from what is there

Every run's options are checked when the grid is read (so also by ``--list``), before anything trains.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from rich.console import Console

from cl_robust.commands.locations import check_writable_folder
from cl_robust.data.synthetic import write_synthetic_cifar
from cl_robust.errors import ConfigError
from cl_robust.study.grid import Run, StudySpec, load_spec
from cl_robust.study.records import claim_output, failure, is_done
from cl_robust.study.report import print_outcomes, print_summary, write_report
from cl_robust.study.runner import StudyRunner, check_prerequisites
from cl_robust.study.validate import validate_runs

SYNTHETIC_DEFAULTS = {"train_per_class": 16, "test_per_class": 8}


class StudyParser(argparse.ArgumentParser):
    """argparse raising ConfigError, so ``cl-robust`` prints one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"study: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = StudyParser(prog="cl-robust study", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the study's grid file (YAML)")
    parser.add_argument("--output", default=None, help="results folder (default: the grid's output:, "
                                                       "else results/<name>)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="print the run ids (those of --only when given) in "
                                                            "dependency order, '(done)' after finished ones, and stop")
    action.add_argument("--report-only", action="store_true", help="write the report from the finished runs")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at once (default 1): independent runs (other seeds, schemes, cells) start as soon "
                             "as what they need is done; on a CPU each gets cores / jobs torch threads unless "
                             "OMP_NUM_THREADS is set")
    parser.add_argument("--only", action="append", default=None, metavar="GLOB",
                        help="run only the runs matching this id or glob (repeatable); their "
                             "prerequisites must be done or selected too; no report (see --report-only)")
    return parser


def prepare_synthetic_data(spec: StudySpec) -> None:
    """With ``data.source: synthetic``, write a generated CIFAR into ``<out>/data`` (once)."""
    data = spec.option("data")
    if data.get("source") != "synthetic":
        return
    sizes = {**SYNTHETIC_DEFAULTS, **(data.get("synthetic") or {})}
    for dataset in spec.raw["datasets"]:
        marker = spec.output / "data" / f".{dataset}-written"
        if not marker.is_file():
            write_synthetic_cifar(spec.output / "data", dataset, layout="torchvision", **sizes)
            marker.write_text("done\n")


def select(spec: StudySpec, patterns: list[str] | None) -> list[Run] | None:
    """The runs matching any of ``patterns`` in DAG order (None: no selection)."""
    if not patterns:
        return None
    selected = [run for run in spec.runs if any(run in spec.select(pattern) for pattern in patterns)]
    if not selected:
        raise ConfigError(f"--only {' '.join(patterns)} matches no run id; see --list")
    return selected


#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports a process it interrupted).
INTERRUPTED = 130


def print_interrupted(spec: StudySpec, argv: Sequence[str]) -> None:
    """One line on stderr after Ctrl-C: what is saved and the command that resumes."""
    done = sum(is_done(spec.output, run.run_id) for run in spec.runs)
    command = " ".join(shlex.quote(arg) for arg in ["cl-robust", "study", *argv])
    print(f"cl-robust: study interrupted: {done} of {len(spec.runs)} runs done and kept in {spec.output / 'runs'} "
          f"(an interrupted training run continues from its last checkpoint); resume with: {command}",
          file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    """Run the study command; returns the exit status (1 when a run failed)."""
    args = build_parser().parse_args(list(argv))
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be an integer >= 1 (runs at once); got {args.jobs}")
    spec = load_spec(args.config, args.output)
    # A log file or pipe is not a terminal: rich would cut the final tables at 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=200)
    selected = select(spec, args.only)
    check_writable_folder(spec.output, "--output" if args.output else "output")
    validate_runs(spec, selected)  # every (selected) run's options, before anything trains (and in --list)
    if args.list:
        for run in selected or spec.runs:
            console.print(run.run_id + ("  (done)" if is_done(spec.output, run.run_id) else ""), highlight=False)
        return 0
    if args.report_only and not any(is_done(spec.output, run.run_id) or failure(spec.output, run.run_id)
                                    for run in spec.runs):
        raise ConfigError(f"--report-only: no run of the study has finished in {spec.output / 'runs'}, so there is "
                          f"nothing to report; run the study first (cl-robust study --config {args.config}"
                          + (f" --output {args.output}" if args.output else "") + ")")
    claim_output(spec)
    outcomes = {}
    if not args.report_only:
        if selected is not None:
            check_prerequisites(spec, selected)
        prepare_synthetic_data(spec)
        try:
            outcomes = StudyRunner(spec, console, selected, jobs=args.jobs).run()
        except KeyboardInterrupt:
            print_interrupted(spec, argv)
            return INTERRUPTED
    if selected is not None and not args.report_only:
        # Part of a larger schedule (several may run at once): the report is --report-only's job.
        print_outcomes(console, outcomes)
        return 1 if any(outcome.status == "failed" for outcome in outcomes.values()) else 0
    summary = write_report(spec)
    print_summary(console, summary)
    console.print(f"report: {spec.output / 'report.md'}  summary: {spec.output / 'summary.json'}", highlight=False)
    return 1 if any(outcome.status == "failed" for outcome in outcomes.values()) else 0
