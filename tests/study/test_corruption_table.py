"""The study's common-corruption section: the report's table and figure, and the script that makes them for a
finished study from its checkpoints."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cl_robust.evaluation.corruption_summary import summarize
from cl_robust.study.command import prepare_synthetic_data
from cl_robust.study.grid import spec_from_dict
from cl_robust.study.records import claim_output, run_dir, write_json
from cl_robust.study.report import write_report
from cl_robust.study.runner import last_checkpoint

from .conftest import smoke_grid

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_study(output: Path, attacks: list[str]) -> Any:
    """The smoke grid cut to sl x (st, at) with two seeds."""
    raw = {**smoke_grid(), "schemes": ["sl"], "scenarios": {"sl": ["st", "at"]}, "seeds": [0, 1], "output": str(output),
           "evaluate": {"attacks": attacks, "batch_size": 40}}
    raw.pop("seed", None)
    raw.pop("labeled_fraction", None)
    return spec_from_dict(raw, ROOT)


def fake_robustness(clean: float, accuracies: dict[str, list[float]]) -> dict[str, Any]:
    results = [{"name": "clean", "kind": "clean", "threat_model": "clean", "accuracy": clean, "correct": 40 * clean,
                "total": 40, "ci95": [0, 1], "skipped": None}]
    for name, values in accuracies.items():
        results += [{"name": f"{name}-s{s}", "kind": "corruption", "threat_model": "corruption", "corruption": name,
                     "severity": s, "accuracy": a, "correct": round(40 * a), "total": 40, "ci95": [0, 1],
                     "skipped": None} for s, a in enumerate(values, 1)]
    return {"results": results, "corruptions": summarize(results)}


def test_report_adds_the_corruption_table_and_figure(tmp_path: Path) -> None:
    spec = small_study(tmp_path / "study", ["clean", "corruptions:names=fog,gaussian_noise:severities=1,2"])
    claim_output(spec)
    for index, run in enumerate(spec.cells()):
        shift = 0.1 * index
        write_json(run_dir(spec.output, run.run_id) / "robustness.json",
                   fake_robustness(0.8, {"fog": [0.5 + shift, 0.3], "gaussian_noise": [0.7, 0.6 - shift / 2]}))
    summary = write_report(spec)
    report = (spec.output / "report.md").read_text()
    section = report.split("## Common corruptions")[1]
    assert "| scheme | scenario | seeds | clean | mean corruption accuracy | noise | blur | weather | digital |" in section
    assert "Over fog, gaussian_noise at severities 1, 2." in section
    rows = {(row["scheme"], row["scenario"]): row for row in summary["corruptions"]}
    st = rows[("sl", "st")]["numbers"]
    assert rows[("sl", "st")]["seeds"] == [0, 1] and st["clean"]["mean"] == pytest.approx(0.8)
    assert st["weather"]["n"] == 2 and st["blur"] is None
    fog = rows[("sl", "st")]["per_corruption"]["fog"]  # mean over severities, then over seeds (shifts 0 and 0.2)
    assert fog["values"] == pytest.approx([0.4, 0.5]) and fog["mean"] == pytest.approx(0.45)
    assert "figures/corruptions_cifar10_eps8.png" in summary["figures"]
    assert (spec.output / "figures" / "corruptions_cifar10_eps8.png").is_file()
    # the attack tables do not get 4 corruption columns: those live in their own section
    assert "fog-s1" not in report.split("## Common corruptions")[0]


def test_no_section_without_corruptions(tmp_path: Path) -> None:
    spec = small_study(tmp_path / "study", ["clean"])
    claim_output(spec)
    summary = write_report(spec)
    assert summary["corruptions"] == [] and "Common corruptions" not in (spec.output / "report.md").read_text()


@pytest.mark.slow  # four evaluations of a tiny model (about 10 s each on 2 busy cores)
def test_script_makes_the_table_of_a_finished_study_from_its_checkpoints(tmp_path: Path) -> None:
    tiny = _module(ROOT / "tests" / "evaluation" / "tiny_checkpoints.py", "tiny_checkpoints")
    spec = small_study(tmp_path / "study", ["clean"])
    claim_output(spec)
    prepare_synthetic_data(spec)
    checkpoint = tiny.supervised_checkpoint(str(spec.output / "data"), tmp_path, steps=5)
    cells = spec.cells()
    for run in cells:  # the last cell's checkpoint is missing: reported, the others go on
        if run is not cells[-1]:
            path = last_checkpoint(spec.output, run.source)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(checkpoint, path)
        if run is not cells[-2]:  # the one before still trains: its last.ckpt is not read
            write_json(run_dir(spec.output, run.source) / "done.json", {})
    script = _module(ROOT / "scripts" / "corruption_table.py", "corruption_table_script")
    output = tmp_path / "table"
    arguments = [str(spec.output), "--output", str(output), "--attacks", "clean",
                 "corruptions:names=contrast,impulse_noise:severities=5", "--batch_size", "20"]
    assert script.main(arguments) == 0
    table = (output / "corruptions.md").read_text()
    assert [run.run_id.split("-")[3] + run.run_id[-1] for run in cells] == ["st0", "at0", "st1", "at1"]
    assert "| sl | st | 1 |" in table and "| sl | at | 1 |" in table  # seed 1 of st unfinished, of at missing
    assert f"- {cells[-1].run_id}: no checkpoint" in table
    assert f"- {cells[-2].run_id}: {cells[-2].source} has not finished" in table
    assert (output / "figures" / "corruptions_cifar10_eps8.png").is_file()
    first = json.loads((run_dir(output, cells[0].run_id) / "robustness.json").read_text())
    assert first["seed"] == cells[0].seed and first["dataset"]["images"] == 40
    stamp = (run_dir(output, cells[0].run_id) / "robustness.json").stat().st_mtime
    assert script.main(arguments) == 0  # again: evaluated cells are kept
    assert (run_dir(output, cells[0].run_id) / "robustness.json").stat().st_mtime == stamp
    only = [str(spec.output), "--output", str(tmp_path / "only"), "--attacks", "clean", "--only", "*-st-seed0"]
    assert script.main(only) == 0
    assert [path.name for path in (tmp_path / "only" / "runs").iterdir()] == ["evaluate-cifar10-sl-st-seed0"]
    assert "--only *-st-seed0" in (tmp_path / "only" / "corruptions.md").read_text()
    with pytest.raises(SystemExit, match="--only: no cell"):
        script.main([*only[:-1], "*-nothing"])
