"""A cell that fails is reported with its error; what needs it is skipped; the others complete."""
from __future__ import annotations

import json
from pathlib import Path

from .conftest import study, summary, write_grid


def test_failed_run_is_reported_and_the_others_complete(tmp_path: Path) -> None:
    impossible = {"runs": "pretrain-*-sl-at-*", "set": {"trainer.max_steps": -5}}  # refused by Lightning, at run time
    grid = write_grid(tmp_path, schemes=["sl"], scenarios=["st", "at"], overrides=[impossible])
    output = tmp_path / "out"
    assert study("--config", str(grid), "--output", str(output)) == 1
    result = summary(output)
    failed = result["runs"]["pretrain-cifar10-sl-at-eps8"]
    assert failed["status"] == "failed" and "max_steps" in failed["error"]
    for phase in ("evaluate", "analyze"):
        skipped = result["runs"][f"{phase}-cifar10-sl-at-eps8"]
        assert skipped == {"status": "skipped", "reason": "needs pretrain-cifar10-sl-at-eps8, which failed"}
    cells = {cell["scenario"]: cell for cell in result["cells"]}
    assert 0.0 <= cells["st"]["clean_accuracy"] <= 1.0 and cells["st"]["status"]["analyze"]["status"] == "done"
    assert cells["at"]["clean_accuracy"] is None
    report = (output / "report.md").read_text().split("## Failed and skipped runs")[1]
    assert "`pretrain-cifar10-sl-at-eps8`: failed:" in report and "`evaluate-cifar10-sl-at-eps8`: skipped" in report


def test_jobs_run_independent_runs_at_once_and_keep_the_failure_rules(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from .conftest import smoke_grid

    impossible = {"runs": "pretrain-*-cl-at-*", "set": {"trainer.max_steps": -5}}
    grid = write_grid(tmp_path, schemes=["sl", "cl"], scenarios={"sl": ["st"], "cl": ["at"]}, overrides=[impossible],
                      evaluate={**smoke_grid()["evaluate"], "attacks": ["clean"]})
    output = tmp_path / "out"
    assert study("--config", str(grid), "--output", str(output), "--jobs", "2") == 1
    result = summary(output)["runs"]
    assert result["pretrain-cifar10-cl-at-eps8"]["status"] == "failed"
    assert result["finetune-cifar10-cl-at-eps8"]["status"] == "skipped"
    assert all(result[f"{phase}-cifar10-sl-st"]["status"] == "done" for phase in ("pretrain", "evaluate", "analyze"))
    # The two pretraining runs need nothing: both start at once, and each ends after the other started.
    # (Runs that become ready while a worker is busy need not overlap: which pretraining ends first
    # depends on which worker had to start its fork server, so the test reads these two.)
    done = json.loads((output / "runs" / "pretrain-cifar10-sl-st" / "done.json").read_text())
    sl_span = (datetime.fromisoformat(done["started"]), datetime.fromisoformat(done["finished"]))
    failed_dir = output / "runs" / "pretrain-cifar10-cl-at-eps8"
    header = (failed_dir / "stdout.log").read_text().splitlines()[0]  # "==== <started> <run id>: start"
    cl_started = datetime.fromisoformat(header.split()[1])
    cl_span = (cl_started, cl_started + timedelta(seconds=json.loads((failed_dir / "failed.json").read_text())["seconds"]))
    assert sl_span[0] < cl_span[1] and cl_span[0] < sl_span[1], (sl_span, cl_span)
