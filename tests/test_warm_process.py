"""The warm ``cl-robust`` server the slow tests use (tests/warm_process.py) gives what a fresh process gives:
the exit status, stdout and stderr apart, the caller's folder and environment, and the shim on PATH in a shell."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.mark.slow  # starts the server once for this worker: a fresh interpreter's imports
def test_a_warm_run_gives_the_status_streams_folder_and_environment_of_its_own(warm_server, tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text("import os, sys\nprint(os.getcwd(), os.environ['PROBE'], sys.argv[1:])\n"
                      "print('to stderr', file=sys.stderr)\nsys.exit(int(sys.argv[1]))\n")
    done = warm_server.run(["3", "x"], cwd=tmp_path, env=dict(os.environ, PROBE="here"), script=script)
    assert (done.returncode, done.stdout, done.stderr) == (3, f"{tmp_path} here ['3', 'x']\n", "to stderr\n")
    assert "PROBE" not in os.environ  # the caller's own environment is left alone

    refused = warm_server.run(["study", "--config", "missing.yaml"], cwd=tmp_path, env=dict(os.environ))
    assert refused.returncode == 2 and refused.stdout == ""  # as a fresh `cl-robust` (tests/study/test_grid.py)
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("cl-robust: error:") and "missing.yaml" in line


@pytest.mark.slow
def test_the_shim_runs_a_shell_scripts_cl_robust_lines_warm(warm_server, tmp_path: Path) -> None:
    env = warm_server.path_env(dict(os.environ))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "which cl-robust; cl-robust study --config none.yaml "
                           "|| echo status $?"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == [str(warm_server.shim_folder / "cl-robust"), "status 2"], done
    assert "none.yaml" in done.stderr
