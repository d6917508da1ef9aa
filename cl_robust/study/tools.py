"""The study's view of ``cl-robust evaluate`` and ``cl-robust analyze``: their arguments and result files.

Only this file knows those commands' options and file formats; the runner and the report
go through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cl_robust.study.grid import Run, StudySpec
from cl_robust.study.records import read_json

RESULT_FILES: dict[str, str] = {"evaluate": "robustness.json", "analyze": "analysis.json"}


def option_args(options: dict[str, Any]) -> list[str]:
    """``{"attacks": ["clean", "fgsm"], "batch_size": 64}`` -> ``["--attacks", "clean", "fgsm", "--batch_size", "64"]``."""
    args: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        args.append(f"--{key}")
        if value is True:
            continue
        args += [str(item) for item in value] if isinstance(value, (list, tuple)) else [str(value)]
    return args


def data_args(spec: StudySpec, run: Run) -> list[str]:
    """The data options both commands share (same data set, root, test subset and resize as training)."""
    data = spec.option("data")
    root = str(spec.output / "data") if data.get("source") == "synthetic" else data.get("root")
    args = ["--data.dataset", run.dataset]
    if root is not None:
        args += ["--data.root", str(root)]
    if data.get("test_per_class") is not None:
        args += ["--data.test_per_class", str(data["test_per_class"])]
    if data.get("resize"):
        args.append("--data.resize")
    return args


def tool_argv(spec: StudySpec, run: Run, checkpoint: Path, output: Path) -> list[str]:
    """``cl-robust`` arguments of an evaluation or analysis run of ``checkpoint``."""
    options = spec.option(run.phase)
    device = spec.option("trainer").get("accelerator")
    if device in ("cpu", "cuda", "gpu") and "device" not in options:
        options["device"] = "cuda" if device == "gpu" else device
    if spec.raw.get("wandb") and run.phase == "evaluate":
        options.setdefault("wandb", True)
    return [run.phase, "--checkpoint", str(checkpoint), "--output", str(output), *data_args(spec, run),
            "--seed", str(run.seed), *option_args(options)]


def result_file(run: Run, run_dir: Path) -> Path:
    return run_dir / RESULT_FILES[run.phase]


def read_robustness(run_dir: Path) -> list[dict[str, Any]]:
    """Per attack: ``name``, ``threat_model``, ``accuracy`` (None when skipped) and its settings.

    Common corruptions (75 records for ``corruptions``) are left out: :func:`read_corruptions` reads their summary.
    """
    path = run_dir / RESULT_FILES["evaluate"]
    if not path.is_file():
        return []
    rows = []
    for result in read_json(path)["results"]:
        if result["kind"] == "corruption":
            continue
        rows.append({"name": result["name"], "threat_model": result["threat_model"], "kind": result["kind"],
                     "eps": result.get("eps"), "steps": result.get("steps"),
                     "accuracy": None if result.get("skipped") else result["accuracy"],
                     "ci95": result.get("ci95"), "skipped": result.get("skipped") or None})
    return rows


def read_analysis(run_dir: Path) -> dict[str, Any] | None:
    """The analysis of one cell as ``layers``, ``cka`` / ``redundancy`` / ``interval`` / ``probes`` keyed by
    input kind (``clean``, ``adversarial``: the first adversarial eps the analysis used), ``adversarial_eps``,
    and ``untrained``: the baselines' ``cka`` and ``redundancy`` keyed by ``init_bn`` / ``reestimated_bn``."""
    path = run_dir / RESULT_FILES["analyze"]
    if not path.is_file():
        return None
    analysis = read_json(path)
    entries = {"clean": analysis["clean"]}
    label = next(iter(analysis.get("adversarial") or {}), None)
    if label is not None:
        entries["adversarial"] = analysis["adversarial"][label]
    records = (analysis.get("probes") or {}).get("layers") or []
    probes = {kind: [record.get(kind) for record in records] for kind in ("clean", "adversarial")
              if records and kind in records[0]}
    untrained = {name: {"cka": entry["cka"], "redundancy": entry.get("redundancy") or {}}
                 for name, entry in (analysis.get("untrained") or {}).items() if isinstance(entry, dict)}
    intervals = {kind: {key: value for key, value in entry["interval"].items() if not key.startswith("cka_")}
                 for kind, entry in entries.items() if entry.get("interval")}
    return {"layers": analysis.get("layers", []), "adversarial_eps": label,
            "cka": {kind: entry["cka"] for kind, entry in entries.items()},
            "redundancy": {kind: entry.get("redundancy") or {} for kind, entry in entries.items()},
            "interval": intervals, "untrained": untrained, "probes": probes,
            "reference": _reference(analysis.get("reference"), label)}


def _reference(reference: dict[str, Any] | None, label: str | None) -> dict[str, Any]:
    """The reference statistic's redundancy scores (torch_cka's layer set) by input kind and untrained baseline."""
    if not reference:
        return {}
    kinds = {"clean": reference.get("clean")}
    if label is not None and label in (reference.get("adversarial") or {}):
        kinds["adversarial"] = reference["adversarial"][label]
    return {"layers": len(reference.get("layers", [])),
            "redundancy": {kind: (entry or {}).get("redundancy") or {} for kind, entry in kinds.items()},
            "untrained": {name: (entry or {}).get("redundancy") or {}
                          for name, entry in (reference.get("untrained") or {}).items()}}


def read_corruptions(run_dir: Path) -> dict[str, Any] | None:
    """The ``corruptions`` summary of an evaluation (mean corruption accuracy, per family, mCE), None without one."""
    path = run_dir / RESULT_FILES["evaluate"]
    return read_json(path).get("corruptions") if path.is_file() else None
