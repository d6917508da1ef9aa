"""The study through SLURM: ``examples/study/slurm_array.sh`` submits a part of the smoke grid to
the local cluster. Every phase's array runs, each phase starts after the one it depends on ends
(``afterany``), the ``--report-only`` task writes the report, and the report and ``summary.json``
are those of a local run of the same grid (timings and the output folder aside). One pretraining
run fails on purpose: the report lists it, and only the runs that need it are skipped.

The grid: cl and scl, scenario st, on the smoke profile's generated data and settings (2 pretraining,
2 fine-tuning, 2 evaluation and 2 analysis runs, then the report: 9 jobs in 5 submissions).
"""
from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..warm_process import WarmServer
from .conftest import REPO, Cluster

ARRAY_SCRIPT = REPO / "examples" / "study" / "slurm_array.sh"
FAILING = "pretrain-cifar10-scl-st"
PHASES = ("pretrain", "finetune", "evaluate", "analyze")
OUTCOMES = {
    "pretrain-cifar10-cl-st": "done", FAILING: "failed",
    "finetune-cifar10-cl-st": "done", "finetune-cifar10-scl-st": "skipped",
    "evaluate-cifar10-cl-st": "done", "evaluate-cifar10-scl-st": "skipped",
    "analyze-cifar10-cl-st": "done", "analyze-cifar10-scl-st": "skipped",
}


def grid() -> dict[str, Any]:
    """The smoke grid cut to cl and scl, scenario st, with one pretraining run that fails (a bad max_steps)."""
    spec = yaml.safe_load((REPO / "examples" / "study" / "smoke.yaml").read_text())
    spec.update(name="slurm-smoke", schemes=["cl", "scl"], scenarios=["st"],
                overrides=[{"runs": FAILING, "set": {"trainer.max_steps": -5}}])
    spec.pop("labeled_fraction", None)
    return spec


@pytest.fixture(scope="module")
def study(slurm: Cluster, tmp_path_factory: pytest.TempPathFactory, warm_server: WarmServer) -> dict[str, Any]:
    """Submit the grid through slurm_array.sh, run it locally meanwhile, wait for both.

    The array tasks' ``cl-robust`` (the script's ``CL_ROBUST``) is the warm server's shim: each task is
    still a SLURM job whose exit status is its run's, without a fresh interpreter's imports; the local
    run is the console script in a fresh process."""
    folder = tmp_path_factory.mktemp("study")
    grid_file = folder / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(grid()))
    env = warm_server.path_env(dict(slurm.env, GPUS_PER_TASK="0", CPUS_PER_TASK="1"))
    env["CL_ROBUST"] = str(warm_server.shim_folder / "cl-robust")
    submitted = subprocess.run([str(ARRAY_SCRIPT), str(grid_file), str(folder / "slurm")], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    jobs = dict(re.findall(r"(\w+) (\d+)", submitted.stdout.splitlines()[0]))
    assert set(jobs) == {*PHASES, "report"}, submitted.stdout
    local = subprocess.Popen(["cl-robust", "study", "--config", str(grid_file), "--output", str(folder / "local")],
                             cwd=folder, env=slurm.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        slurm.wait_ended(*jobs.values(), timeout=900)
        _, local_errors = local.communicate(timeout=600)
    finally:
        local.kill()
    assert local.returncode == 1, f"the local run reports its failed run with status 1: {local_errors[-2000:]}"
    return {"folder": folder, "jobs": jobs, "records": {name: slurm.jobs(job) for name, job in jobs.items()}}


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def test_every_array_runs_and_each_phase_starts_after_the_previous_ends(study: dict[str, Any]) -> None:
    records = study["records"]
    for phase in PHASES:
        runs = (study["folder"] / "slurm" / "slurm" / f"{phase}.txt").read_text().split()
        assert sorted(runs) == sorted(run for run in OUTCOMES if run.startswith(f"{phase}-"))
        assert sorted(int(task["ArrayTaskId"]) for task in records[phase]) == list(range(len(runs)))
    states = {phase: sorted(task["JobState"] for task in records[phase]) for phase in records}
    # A task exits non-zero when its run fails or when it refuses a run whose prerequisite failed.
    assert states == {"pretrain": ["COMPLETED", "FAILED"], "finetune": ["COMPLETED", "FAILED"],
                      "evaluate": ["COMPLETED", "FAILED"], "analyze": ["COMPLETED", "FAILED"],
                      "report": ["COMPLETED"]}
    for later, earlier in (("finetune", ["pretrain"]), ("evaluate", ["pretrain", "finetune"]),
                           ("analyze", ["pretrain", "finetune"]), ("report", list(PHASES))):
        earlier_end = max(when(task["EndTime"]) for phase in earlier for task in records[phase])
        assert min(when(task["StartTime"]) for task in records[later]) >= earlier_end, later
        assert all(task["Dependency"] == "(null)" for task in records[later]), "dependencies were met"


def without_timings(value: Any, output: Path) -> Any:
    """``value`` with every ``seconds`` entry left out and the output folder written as ``OUT``."""
    if isinstance(value, dict):
        return {key: without_timings(item, output) for key, item in value.items() if key != "seconds"}
    if isinstance(value, list):
        return [without_timings(item, output) for item in value]
    return value.replace(str(output), "OUT") if isinstance(value, str) else value


def test_report_and_summary_equal_a_local_run(study: dict[str, Any]) -> None:
    folder = study["folder"]
    through_slurm, local = folder / "slurm", folder / "local"
    summary = json.loads((through_slurm / "summary.json").read_text())
    assert {run: record["status"] for run, record in summary["runs"].items()} == OUTCOMES
    assert summary["aggregated"], "the finished cell has numbers"
    assert without_timings(summary, through_slurm) == without_timings(
        json.loads((local / "summary.json").read_text()), local)
    report = (through_slurm / "report.md").read_text()
    assert "seconds" not in report and str(through_slurm) not in report
    assert report == (local / "report.md").read_text()


def test_a_failed_task_is_reported_and_stops_only_what_needs_it(study: dict[str, Any]) -> None:
    folder = study["folder"] / "slurm"
    summary = json.loads((folder / "summary.json").read_text())
    failed = summary["runs"][FAILING]
    assert failed["status"] == "failed" and "max_steps" in failed["error"]
    report = (folder / "report.md").read_text()
    assert f"`{FAILING}`: failed: cl-robust: error: `max_steps`" in report
    for run in ("finetune-cifar10-scl-st", "evaluate-cifar10-scl-st", "analyze-cifar10-scl-st"):
        assert f"`{run}`: skipped: needs " in report
        phase = run.split("-")[0]
        task = (folder / "slurm" / f"{phase}.txt").read_text().split().index(run)
        log = (folder / "slurm" / f"{phase}-{task}.out").read_text()
        assert f"run {run!r} needs " in log and "which is not done" in log, log[-1000:]
    for run, outcome in OUTCOMES.items():
        assert (folder / "runs" / run / "done.json").is_file() == (outcome == "done"), run
