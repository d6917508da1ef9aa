"""Helpers for the study tests: grids derived from the smoke profile, and running the command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cl_robust.cli import main

SMOKE = Path(__file__).resolve().parents[2] / "examples" / "study" / "smoke.yaml"


def smoke_grid() -> dict[str, Any]:
    return yaml.safe_load(SMOKE.read_text())


def write_grid(folder: Path, **changes: Any) -> Path:
    """The smoke grid with ``changes`` applied, written to ``folder/grid.yaml``."""
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump({**smoke_grid(), **changes}, sort_keys=False))
    return path


def study(*args: str) -> int:
    """Run ``cl-robust study ARGS`` in this process; its exit status."""
    try:
        main(["study", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def study_process(*args: str) -> subprocess.CompletedProcess:
    """Run ``cl-robust study ARGS`` in a fresh process (stderr captured)."""
    return subprocess.run([sys.executable, "-m", "cl_robust.cli", "study", *args], capture_output=True, text=True,
                          timeout=120)


def summary(output: Path) -> dict[str, Any]:
    return json.loads((output / "summary.json").read_text())


def cell_numbers(output: Path) -> dict[tuple, dict[str, float | None]]:
    """(dataset, scheme, scenario, eps) -> every accuracy and redundancy score of that cell."""
    numbers = {}
    for cell in summary(output)["cells"]:
        values: dict[str, float | None] = {f"acc/{row['name']}": row["accuracy"] for row in cell["attacks"]}
        for kind, scores in cell["redundancy"].items():
            values.update({f"redundancy/{kind}/{name}": value for name, value in scores.items()})
        numbers[(cell["dataset"], cell["scheme"], cell["scenario"], cell["eps"])] = values
    return numbers


@pytest.fixture
def grid_dir(tmp_path: Path) -> Path:
    return tmp_path
