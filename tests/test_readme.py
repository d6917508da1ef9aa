"""The README's laptop-sized first hour runs verbatim, in order, on a real CIFAR-10 subset."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .warm_process import WarmServer

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-test: tests/test_readme.py runs this block -->"
#: The "Your own model" block, run on its own (generated 64-pixel images, no real data needed).
OWN_MODEL_MARKER = "<!-- readme-test: tests/test_readme.py runs this block (own model) -->"
NOT_RUN = re.compile(r"<!-- readme-test: not run: (\S[^>]*) -->")


def runnable_blocks(text: str, marker: str = MARKER) -> list[str]:
    """The bash blocks that follow ``marker``, in README order."""
    return re.findall(re.escape(marker) + r"\s*```bash\n(.*?)```", text, flags=re.DOTALL)


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
                and not (number and (lines[number - 1] in (MARKER, OWN_MODEL_MARKER)
                                     or NOT_RUN.fullmatch(lines[number - 1])))]
    assert not unmarked, f"README bash blocks without a readme-test comment at lines {unmarked}"


@pytest.mark.slow  # nine cl-robust commands (the last a study of 8 runs), a few minutes on 2 CPU cores
@pytest.mark.real_data
def test_the_readme_first_hour_runs_verbatim(real_cifar_root: str, tmp_path: Path, warm_server: WarmServer) -> None:
    done = run_block("\n".join(runnable_blocks((REPO / "README.md").read_text())), tmp_path, warm_server,
                     real_cifar_root)
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


def run_block(script: str, cwd: Path, warm_server: WarmServer,
              data_root: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a README block with bash -euo pipefail in ``cwd`` (which links ``examples``), ``cl-robust`` on the PATH.

    Its ``cl-robust`` lines run in processes forked from a warm server (tests/warm_process.py): each is
    still its own process with its own output and exit status, without a fresh interpreter's 8 CPU-s of
    imports (the console script itself runs fresh in tests/slurm/test_study_array.py, the
    interpreter's import-time output in tests/test_quiet_output.py)."""
    (cwd / "examples").symlink_to(REPO / "examples")
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if data_root is not None:
        env["CL_ROBUST_DATA"] = data_root
    env = warm_server.path_env(env)
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)


@pytest.mark.slow  # nine commands, seven of them cl-robust, a ResNet-18 at 64 pixels
def test_the_readme_own_model_block_runs_verbatim(tmp_path: Path, warm_server: WarmServer) -> None:
    (script,) = runnable_blocks((REPO / "README.md").read_text(), OWN_MODEL_MARKER)
    done = run_block(script, tmp_path, warm_server)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    ours = json.loads((tmp_path / "own/results/ours/robustness.json").read_text())
    assert ours["checkpoint"]["metadata"]["backbone"] == "torchvision:resnet18"
    assert ours["checkpoint"]["metadata"]["image_size"] == 64 and ours["dataset"]["images"] == 10
    analysis = json.loads((tmp_path / "own/results/ours/analysis.json").read_text())
    assert analysis["layers"] == [f"encoder.net.layer{stage}.{block}" for stage in range(1, 5) for block in (0, 1)]
    theirs = json.loads((tmp_path / "own/results/theirs/robustness.json").read_text())
    assert [r["name"] for r in theirs["results"]] == ["clean", "pgd20:steps=2", "autoattack:steps=2:queries=20"]
    assert theirs["checkpoint"]["metadata"]["model"] == "own_model:small_classifier"
    compared = json.loads((tmp_path / "own/results/theirs/analysis.json").read_text())
    assert compared["layers"][-1] == "fc" and compared["compare"]["layers"][-1] == "classifier"
    assert "untrained" in compared and "probes" in compared
