"""A cell that fails is reported with its error; what needs it is skipped; the others complete."""
from __future__ import annotations

from pathlib import Path

from .conftest import study, summary, write_grid


def test_failed_run_is_reported_and_the_others_complete(tmp_path: Path) -> None:
    impossible = {"runs": "pretrain-*-sl-at-*", "set": {"data.init_args.batch_size": 100000}}
    grid = write_grid(tmp_path, schemes=["sl"], scenarios=["st", "at"], overrides=[impossible])
    output = tmp_path / "out"
    assert study("--config", str(grid), "--output", str(output)) == 1
    result = summary(output)
    failed = result["runs"]["pretrain-cifar10-sl-at-eps8"]
    assert failed["status"] == "failed" and "batch_size=100000 is larger than the training set" in failed["error"]
    for phase in ("evaluate", "analyze"):
        skipped = result["runs"][f"{phase}-cifar10-sl-at-eps8"]
        assert skipped == {"status": "skipped", "reason": "needs pretrain-cifar10-sl-at-eps8, which failed"}
    cells = {cell["scenario"]: cell for cell in result["cells"]}
    assert 0.0 <= cells["st"]["clean_accuracy"] <= 1.0 and cells["st"]["status"]["analyze"]["status"] == "done"
    assert cells["at"]["clean_accuracy"] is None
    report = (output / "report.md").read_text().split("## Failed and skipped runs")[1]
    assert "`pretrain-cifar10-sl-at-eps8`: failed:" in report and "`evaluate-cifar10-sl-at-eps8`: skipped" in report
