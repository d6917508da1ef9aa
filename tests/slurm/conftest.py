"""A real one-node SLURM cluster for the tests of this folder (scripts/slurm_local_cluster.sh).

The cluster starts once per session when a test here asks for it, and stops at the end. When
SLURM is not installed the tests are skipped, summed up in one line; with ``CL_ROBUST_SLURM_INSTALL=1``
(``.ci/run`` sets it) the script first installs it with apt-get.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm_local_cluster.sh"
RELIABILITY = REPO / "tests" / "reliability"
UNAVAILABLE = 3  # the script's exit status when SLURM cannot be installed
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
         "PREEMPTED"}


@dataclass
class Cluster:
    """The running cluster: its folder and the environment that points SLURM's commands at it."""

    folder: Path
    env: dict[str, str]

    def command(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def sbatch(self, *args: str) -> str:
        """Submit; the job id."""
        return self.command("sbatch", "--parsable", *args).strip().split(";")[0]

    def jobs(self, job: str) -> list[dict[str, str]]:
        """``scontrol show job`` of ``job`` (every task of an array) as key -> value records."""
        return [dict(re.findall(r"(\S+?)=(\S*)", line))
                for line in self.command("scontrol", "show", "job", "-o", job).splitlines() if line.strip()]

    def state(self, job: str) -> str:
        return self.jobs(job)[0]["JobState"]

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 300) -> None:
        """Poll ``condition`` twice a second until true; fail naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                queue = self.command("squeue", check=False)
                log = (self.folder / "log" / "slurmctld.log").read_text().splitlines()[-15:]
                raise AssertionError(f"no {what} within {timeout:.0f} s; queue:\n{queue}\nslurmctld.log:\n"
                                     + "\n".join(log))
            time.sleep(0.5)

    def wait_ended(self, *jobs: str, timeout: float = 300) -> None:
        """Until every task of every job has ended (COMPLETED, FAILED, CANCELLED, ...)."""
        self.wait(lambda: all(record["JobState"] in ENDED for job in jobs for record in self.jobs(job)),
                  f"end of jobs {', '.join(jobs)}", timeout)


def job_environment(cluster_env: dict[str, str]) -> dict[str, str]:
    """What submitted jobs inherit (sbatch exports the environment): this virtual environment's commands
    first, one thread, no W&B, the test helpers (``pace``) importable, no SLURM variables of an enclosing job."""
    env = {name: value for name, value in cluster_env.items() if not name.startswith("SLURM_") or name == "SLURM_CONF"}
    env.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(RELIABILITY), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# Why the cluster is unavailable and the line that skips, once known: every test here is skipped for it.
SKIP_REASON: list[tuple[str, int]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Skips for want of SLURM, all at this file's location, so that ``-ra`` sums them up in one line."""
    report = yield
    if SKIP_REASON and report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2].endswith(
            SKIP_REASON[0][0]):
        report.longrepr = (__file__, SKIP_REASON[0][1], report.longrepr[2])
    return report


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("slurm_cluster")
    start = [str(CLUSTER_SCRIPT), "start", str(folder)]
    install = os.environ.get("CL_ROBUST_SLURM_INSTALL") == "1"
    if not install:
        start.append("--no-install")
    # The daemons (and so every job) get the default SIGINT: a test session started with SIGINT
    # ignored (a background job of a script) passed that on, and a requeued job then failed.
    result = subprocess.run(start, capture_output=True, text=True, timeout=900,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if result.returncode == UNAVAILABLE:
        reason = result.stderr.strip().splitlines()[-1]
        if not install:
            reason += " (CL_ROBUST_SLURM_INSTALL=1 lets scripts/slurm_local_cluster.sh apt-get it)"
        SKIP_REASON.append((reason, sys._getframe().f_lineno + 1))
        pytest.skip(reason)
    try:
        assert result.returncode == 0, f"the local SLURM cluster did not start:\n{result.stderr[-3000:]}"
        yield Cluster(folder, job_environment(dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"))))
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)
