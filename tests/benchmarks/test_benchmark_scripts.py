"""Each benchmark's quick mode runs and ends with its ratio line."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_quick(name: str) -> list[str]:
    done = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick"], capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize(("name", "target"), [("augment", "5"), ("adversarial_step", "1.15"), ("gpu", "2")])
def test_quick_mode_prints_ratio_line(name: str, target: str) -> None:
    lines = run_quick(name)
    assert re.fullmatch(rf"{name} ratio: \d+\.\d{{2}} \(target {re.escape(target)}\)", lines[-1]), lines[-1]
    if name == "adversarial_step":
        difference = next(line for line in lines if line.startswith("max |parameter difference|"))
        assert float(difference.rsplit(" ", 1)[1]) < 1e-6  # ours and the plain loop do the same computation
    if name == "gpu":
        assert any(line.startswith("resnet_tiny pgd10") for line in lines)
