"""The suite's use of the cores (tests/conftest.py): tests that share a module fixture run on one
xdist worker, so the fixture is built once. pytest 9.2 with pytest-xdist 3.8 ignored the groups
silently and CI built the smoke study and the SLURM study twice each."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PROBE = '''
import os
import time
from pathlib import Path

import pytest

LOG = Path(__file__).parent


@pytest.fixture(scope="module")
def shared():
    with open(LOG / "setups.txt", "a") as log:
        log.write(f"{os.getpid()}\\n")
    return os.getpid()


@pytest.mark.parametrize("index", range(4))
def test_uses_the_shared_fixture(shared, index):
    time.sleep(0.2)
    with open(LOG / "runs.txt", "a") as log:
        log.write(f"{os.getpid()} {shared}\\n")


@pytest.mark.parametrize("index", range(6))
def test_alone(index):
    time.sleep(0.2)
'''


def test_tests_sharing_a_module_fixture_run_on_one_worker(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                             "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "10 passed" in result.stdout
    setups = (tmp_path / "setups.txt").read_text().split()
    runs = [line.split() for line in (tmp_path / "runs.txt").read_text().splitlines()]
    assert len(setups) == 1 and len(runs) == 4
    assert {tuple(run) for run in runs} == {(setups[0], setups[0])}
