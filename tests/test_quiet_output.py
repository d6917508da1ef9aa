"""``cl-robust`` silences known harmless third-party messages by their text, and only those."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from cl_robust.commands.quiet import HARMLESS_WARNINGS, quiet_known_messages
from cl_robust.data.synthetic import write_synthetic_cifar

REPO = Path(__file__).resolve().parents[1]


def test_only_the_listed_warnings_are_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_messages()
        for message, reason in HARMLESS_WARNINGS:
            assert len(reason) > 20  # each one says why it is harmless
            warnings.warn(message + " (details)", UserWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["something new"]


def test_a_tiny_fit_prints_no_known_warning(tmp_path: Path) -> None:
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 4, 2, layout="torchvision")
    run = tmp_path / "run"
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-m", "cl_robust.cli", "fit", "--config",
                           str(REPO / "examples" / "configs" / "pretrain" / "sl.yaml"),
                           "--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
                           "--data.init_args.batch_size", "8", "--trainer.max_steps", "1",
                           "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
                           "--trainer.default_root_dir", str(run), "--trainer.logger.init_args.save_dir", str(run),
                           "--checkpoint.dirpath", str(run / "checkpoints")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    for message, _ in HARMLESS_WARNINGS:
        assert message not in output
    assert "💡 Tip" not in output and "args parameter" not in output
