"""The smoke profile runs the whole grid end to end and the report holds every cell."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cl_robust.study.grid import load_spec

from .conftest import SMOKE, study, summary


@pytest.fixture(scope="module")
def smoke_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("smoke") / "out"
    assert study("--config", str(SMOKE), "--output", str(output), "--jobs", "2") == 0  # two runs at once: 2 cores
    return output


def test_every_cell_is_reported_with_accuracies_in_0_1(smoke_output: Path) -> None:
    spec = load_spec(SMOKE, smoke_output)
    result = summary(smoke_output)
    cells = {(c["dataset"], c["scheme"], c["scenario"], c["eps"], c["length"]): c for c in result["cells"]}
    expected = {run.cell for run in spec.cells()}
    assert set(cells) == expected and len(expected) == 34  # 16 of sl, cl, scl + 18 of the three mixes
    assert result["problems"] == []
    assert all(status["status"] == "done" for status in result["runs"].values())
    for key, cell in cells.items():
        assert cell["status"]["evaluate"]["status"] == cell["status"]["analyze"]["status"] == "done", key
        names = [row["name"] for row in cell["attacks"]]
        assert names[0] == "clean" and len(names) == 3, names
        for row in cell["attacks"]:
            assert row["accuracy"] is not None and 0.0 <= row["accuracy"] <= 1.0, (key, row)
        assert 0.0 <= cell["clean_accuracy"] <= 1.0 and 0.0 <= cell["robust_accuracy"] <= 1.0
        for kind in ("clean", "adversarial"):
            score = cell["redundancy"][kind]["mean_offdiagonal"]
            assert -1.0 <= score <= 1.0, (key, kind, score)
    report = (smoke_output / "report.md").read_text()
    for _, scheme, scenario, _, _ in expected:
        assert f"| {scheme} | {scenario} |" in report
    assert "- none" in report.split("## Failed and skipped runs")[1]
    assert_tables_well_formed(report)
    for figure in result["figures"]:
        assert (smoke_output / figure).stat().st_size > 1000
    assert {Path(f).name for f in result["figures"]} >= {"cka_cifar10_eps8_clean.png", "cka_cifar10_eps8_adversarial.png"}


def assert_tables_well_formed(markdown: str) -> None:
    """Every table's separator row is ``|---|...`` with one cell per header cell (else it does not render)."""
    lines = markdown.splitlines()
    separators = [i for i, line in enumerate(lines) if line.startswith("|") and set(line) <= set("|-")]
    assert separators
    for i in separators:
        assert re.fullmatch(r"\|(---\|)+", lines[i]), lines[i]
        assert lines[i].count("---") == lines[i - 1].count("|") - 1, (lines[i - 1], lines[i])


def test_each_run_can_be_repeated_by_hand(smoke_output: Path) -> None:
    run = smoke_output / "runs" / "finetune-cifar10-cl-full_at-eps8"
    command = (run / "command.txt").read_text()
    assert command.split()[1:4] == ["-m", "cl_robust.cli", "fit"] and str(run / "config.yaml") in command
    assert (run / "checkpoints" / "last.ckpt").is_file() and "Trainer.fit" in (run / "stdout.log").read_text()


def test_a_second_invocation_reruns_nothing(smoke_output: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in smoke_output.rglob("done.json")}
    assert study("--config", str(SMOKE), "--output", str(smoke_output)) == 0
    assert {path: path.stat().st_mtime_ns for path in smoke_output.rglob("done.json")} == before
