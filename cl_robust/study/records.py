"""What the study folder remembers: which study it holds, and each run's outcome.

``<out>/study.json`` holds the grid and its hash; a folder holding another study is refused.
``<run_dir>/done.json`` is written (atomically) after a run succeeds and makes later
invocations skip it; ``<run_dir>/failed.json`` records a failure and its error lines.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cl_robust.errors import ConfigError
from cl_robust.study.grid import StudySpec

STUDY_FILE = "study.json"
DONE_FILE = "done.json"
FAILED_FILE = "failed.json"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON to ``path`` atomically."""
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def stored_study(output: Path) -> dict[str, Any] | None:
    """The study recorded in ``output``, or None for a new folder."""
    path = output / STUDY_FILE
    return read_json(path) if path.is_file() else None


def stored_grid(output: Path) -> dict[str, Any]:
    """The grid of the study in ``output`` (its study.json), in the form ``spec_from_dict`` reads.

    study.json keeps the normalised grid, where per-scheme seeds sit under ``seeds_by_scheme``
    beside the list of all seeds; they go back under ``seeds``, as the grid file gives them.
    """
    stored = stored_study(output)
    if stored is None:
        raise ConfigError(f"{output} holds no study ({STUDY_FILE} missing)")
    grid = dict(stored["spec"])
    if "seeds_by_scheme" in grid:
        grid["seeds"] = grid.pop("seeds_by_scheme")
    return grid


def claim_output(spec: StudySpec) -> None:
    """Record ``spec`` in its output folder; refuse a folder that holds a different study."""
    stored = stored_study(spec.output)
    if stored is not None and stored.get("spec_hash") != spec.spec_hash:
        raise ConfigError(f"output folder {str(spec.output)!r} holds a different study ({stored.get('name')!r}, "
                          f"grid hash {stored.get('spec_hash')} != {spec.spec_hash}); nothing was changed. "
                          "Choose another output (--output or output:) or delete that folder")
    if stored is None:
        if spec.output.exists() and any(path.name != "data" for path in spec.output.iterdir()):
            raise ConfigError(f"output folder {str(spec.output)!r} is not empty and holds no study; "
                              "choose another output")
        write_json(spec.output / STUDY_FILE, {"name": spec.name, "spec_hash": spec.spec_hash, "spec": spec.raw})


def run_dir(output: Path, run_id: str) -> Path:
    return output / "runs" / run_id


def is_done(output: Path, run_id: str) -> bool:
    return (run_dir(output, run_id) / DONE_FILE).is_file()


def failure(output: Path, run_id: str) -> dict[str, Any] | None:
    path = run_dir(output, run_id) / FAILED_FILE
    return read_json(path) if path.is_file() else None
