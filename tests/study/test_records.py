"""What a study folder remembers, read back: the grid in study.json gives the same runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from cl_robust.errors import ConfigError
from cl_robust.study.grid import spec_from_dict
from cl_robust.study.records import claim_output, stored_grid

from .conftest import smoke_grid


@pytest.mark.parametrize("seeds", [[0, 1], {"sl": [0, 1, 2], "cl": [0]}])
def test_stored_grid_expands_to_the_same_runs(tmp_path: Path, seeds: list[int] | dict[str, list[int]]) -> None:
    raw = {**smoke_grid(), "schemes": ["sl", "cl"], "scenarios": ["st", "at"], "seeds": seeds,
           "output": str(tmp_path / "study")}
    raw.pop("seed", None)
    spec = spec_from_dict(raw, Path("."))
    claim_output(spec)
    again = spec_from_dict(stored_grid(spec.output), Path("."))  # per-scheme seeds once failed: 'seeds_by_scheme'
    assert [run.run_id for run in again.runs] == [run.run_id for run in spec.runs]
    assert len({run.seed for run in spec.runs if run.scheme == "sl"}) == (3 if isinstance(seeds, dict) else 2)


def test_a_folder_without_a_study_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no study"):
        stored_grid(tmp_path)
