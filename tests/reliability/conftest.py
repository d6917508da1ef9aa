"""Tiny generated CIFAR data, a small run's command line, and running ``cl-robust`` in or out of process."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cl_robust.data.synthetic import write_synthetic_cifar

from ..warm_process import WarmServer

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "examples" / "configs"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fake CIFAR-10 (torchvision layout): 4 train and 2 test images a class (5 batches of 8 an epoch)."""
    root = tmp_path_factory.mktemp("reliability_cifar")
    return write_synthetic_cifar(str(root), "cifar10", train_per_class=4, test_per_class=2, layout="torchvision")


def data_digest(root: str) -> str:
    """SHA-1 over the relative paths and contents of every file under ``root`` (names shared runs by their data)."""
    digest = hashlib.sha1()
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tiny_args(root: str, steps: int | None = 2) -> list[str]:
    """Overrides that shrink an example config to a few CPU steps of a tiny model."""
    args = ["--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
            "--data.init_args.batch_size", "8", "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    return args + (["--trainer.max_steps", str(steps)] if steps is not None else [])


def run_dir_args(run_dir: Path) -> list[str]:
    """Point every output of a run (logs, config, checkpoints) into ``run_dir``."""
    return ["--trainer.default_root_dir", str(run_dir), "--trainer.logger.init_args.save_dir", str(run_dir),
            "--checkpoint.dirpath", str(run_dir / "checkpoints")]


def cli_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``cl_robust.cli.main(args)``; return (exit status, stripped stderr)."""
    from cl_robust.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return code, capsys.readouterr().err.strip()


def error_lines(stderr: str) -> list[str]:
    """The ``cl-robust:`` lines of stderr (Lightning's own info lines and warnings left out)."""
    return [line for line in stderr.splitlines() if line.startswith("cl-robust: error:")]


def subprocess_env() -> dict[str, str]:
    """Environment for a ``python -m cl_robust.cli`` child: no W&B, one thread, this folder importable."""
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def cli_subprocess(args: list[str], cwd: Path, timeout: float = 120,
                   warm_server: WarmServer | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cl_robust.cli args`` to the end; with ``warm_server``, as a process forked from it
    (tests/warm_process.py: its own process, without a fresh interpreter's imports). Not for DDP runs:
    Lightning starts the other ranks by running this process's command line again."""
    if warm_server is not None:
        return warm_server.run(args, cwd=cwd, env=subprocess_env(), timeout=timeout)
    return subprocess.run([sys.executable, "-m", "cl_robust.cli", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)
