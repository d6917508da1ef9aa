"""The CKA benchmark's quick mode runs and ends with the ratio line."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cka.py"


@pytest.mark.slow
def test_quick_mode_prints_table_and_ratio_line() -> None:
    pytest.importorskip("torch_cka")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"cka ratio: \d+\.\d{2} \(target 5\)", lines[-1]), lines[-1]
    assert any(line.startswith("torch_cka") for line in lines)
    difference = float(re.search(r"max \|ours - torch_cka\| over the CKA matrix: (\S+)", done.stdout).group(1))
    assert difference < 0.05  # tiny model, 64 images: both estimate the same minibatch CKA
