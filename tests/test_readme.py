"""The README's laptop-sized first hour runs verbatim, in order, on a real CIFAR-10 subset."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-test: tests/test_readme.py runs this block -->"
NOT_RUN = re.compile(r"<!-- readme-test: not run: (\S[^>]*) -->")


def runnable_blocks(text: str) -> list[str]:
    """The bash blocks that follow the marker, in README order."""
    return re.findall(re.escape(MARKER) + r"\s*```bash\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_marks_its_runnable_blocks_and_says_how_to_enter_the_environment() -> None:
    text = (REPO / "README.md").read_text()
    blocks = runnable_blocks(text)
    assert len(blocks) == text.count(MARKER) >= 1  # every marker is followed by a bash block
    commands = [line.split()[1] for block in blocks for line in block.splitlines() if line.startswith("cl-robust ")]
    assert {"fit", "test", "evaluate", "analyze"} <= set(commands)
    assert "source .venv/bin/activate" in text and "CL_ROBUST_DATA" in text


def test_every_command_block_is_run_or_says_why_not() -> None:
    """The line before each bash block is the run marker or ``not run: <why>`` (the study's scale, ...)."""
    lines = (REPO / "README.md").read_text().splitlines()
    unmarked = [number + 1 for number, line in enumerate(lines) if line.strip() == "```bash"
                and not (number and (lines[number - 1] == MARKER or NOT_RUN.fullmatch(lines[number - 1])))]
    assert not unmarked, f"README bash blocks without a readme-test comment at lines {unmarked}"


@pytest.mark.slow  # nine cl-robust commands (the last a study of 8 runs), a few minutes on 2 CPU cores
@pytest.mark.real_data
def test_the_readme_first_hour_runs_verbatim(real_cifar_root: str, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    script = "\n".join(runnable_blocks((REPO / "README.md").read_text()))
    env = dict(os.environ, CL_ROBUST_DATA=real_cifar_root, WANDB_MODE="disabled", OMP_NUM_THREADS="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    report = json.loads((tmp_path / "results" / "first" / "robustness.json").read_text())
    assert [r["name"] for r in report["results"]] == ["clean", "fgsm", "pgd20", "tm1"]
    assert report["dataset"]["images"] == 100
    assert (tmp_path / "results" / "first" / "analysis.json").is_file()
    for run in ("pretrain/cl", "pretrain/cl-at", "finetune/linear", "finetune/linear-at", "finetune/full"):
        assert (tmp_path / "runs" / run / "checkpoints" / "last.ckpt").is_file(), run
    assert "test/acc" in done.stdout  # cl-robust test printed the probe's test accuracy
    summary = json.loads((tmp_path / "results" / "laptop" / "summary.json").read_text())
    assert {claim["id"] for claim in summary["claims"]} >= {"C1", "C3"}  # the study's verdicts on cl at - st
    assert (tmp_path / "results" / "laptop" / "report.md").is_file()
