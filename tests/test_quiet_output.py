"""``cl-robust`` silences known harmless third-party messages by their text, and only those."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

from cl_robust.commands.quiet import HARMLESS_PATTERNS, HARMLESS_WARNINGS, quiet_known_messages
from cl_robust.data.synthetic import write_synthetic_cifar

REPO = Path(__file__).resolve().parents[1]


def test_only_the_listed_warnings_are_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_messages()
        for message, reason in HARMLESS_WARNINGS:
            assert len(reason) > 20  # each one says why it is harmless
            warnings.warn(message + " (details)", UserWarning, stacklevel=1)
        for pattern, example, reason in HARMLESS_PATTERNS:
            assert len(reason) > 20 and re.match(pattern, example)
            warnings.warn(example, UserWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
        warnings.warn("Found 3 modules that are new", UserWarning, stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["something new", "Found 3 modules that are new"]


def fit(tmp_path: Path, config: str, run: Path, *extra: str) -> str:
    """stdout + stderr of a tiny ``cl-robust fit`` in a fresh process (the command's own warning filters)."""
    root = write_synthetic_cifar(str(tmp_path / "data"), "cifar10", 4, 2, layout="torchvision")
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-m", "cl_robust.cli", "fit", "--config",
                           str(REPO / "examples" / "configs" / config),
                           "--model.init_args.backbone", "resnet_tiny", "--data.init_args.root", root,
                           "--data.init_args.batch_size", "8", "--trainer.max_steps", "1",
                           "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
                           "--trainer.default_root_dir", str(run), "--trainer.logger.init_args.save_dir", str(run),
                           "--checkpoint.dirpath", str(run / "checkpoints"), *extra],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_tiny_fit_and_its_linear_probe_print_no_known_warning(tmp_path: Path) -> None:
    outputs = [fit(tmp_path, "pretrain/sl.yaml", tmp_path / "pre")]
    outputs.append(fit(tmp_path, "finetune/linear.yaml", tmp_path / "probe", "--model.init_args.pretrained_checkpoint",
                       str(tmp_path / "pre" / "checkpoints" / "last.ckpt")))
    for output in outputs:
        for message, _ in HARMLESS_WARNINGS:
            assert message not in output
        for pattern, _, _ in HARMLESS_PATTERNS:
            assert not re.search(pattern, output), output[-3000:]
        assert "💡 Tip" not in output and "args parameter" not in output
