"""The plain-Lightning example runs end to end on tiny generated data (as its own process, forked from the
worker's warm server: tests/warm_process.py)."""
from pathlib import Path

from cl_robust.data.synthetic import write_synthetic_cifar

from ..warm_process import WarmServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_own_lightning.py"


def test_example_trains_and_reports_accuracy(tmp_path: Path, warm_server: WarmServer) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", train_per_class=8, test_per_class=4)
    result = warm_server.run(["--root", root, "--backbone", "resnet_tiny", "--batch-size", "16", "--out",
                              str(tmp_path / "runs")], cwd=tmp_path, script=EXAMPLE, timeout=600,
                             env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = float(result.stdout.strip().splitlines()[-1].split(":")[-1])
    assert 0.0 <= accuracy <= 1.0
    assert (tmp_path / "runs" / "pretrain" / "last.ckpt").exists()


def test_the_docstring_command_without_data_is_one_line(tmp_path: Path, warm_server: WarmServer) -> None:
    """``--root "$CL_ROBUST_DATA"`` with the variable unset, and no ./data: one line, exit status 2."""
    result = warm_server.run(["--root", "", "--backbone", "resnet_tiny", "--out", str(tmp_path / "runs")],
                             cwd=tmp_path, script=EXAMPLE, timeout=600,
                             env={"WANDB_MODE": "disabled", "PATH": "/usr/bin:/bin"})
    lines = [line for line in result.stderr.splitlines() if line.startswith("train_own_lightning.py: error:")]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "No cifar10 data under root" in lines[0] and "CL_ROBUST_DATA" in lines[0]
