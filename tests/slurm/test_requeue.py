"""Preemption on a real SLURM cluster: ``scripts/slurm_fit.sh`` runs ``cl-robust fit`` through srun.

- The requeue signal (what ``#SBATCH --signal=USR1@90`` sends before the time limit; here
  ``scancel --signal=USR1`` mid-epoch) saves ``last.ckpt`` at the end of the current step and
  requeues the job; the job runs again, resumes from it, and ends with exactly the weights and
  optimiser state of a run that was never interrupted. Once with one task, once with two DDP
  ranks started by srun (``--ntasks-per-node=2``, the multi-node route on one node), whose
  batches after the restart are also those of the uninterrupted run.
- A job cancelled outright (``scancel``) and submitted again resumes from ``last.ckpt``, exactly too.

Same tiny run as tests/reliability/test_kill_resume.py (2 epochs of 5 steps, a step checkpoint every
2 steps, each step slowed by 0.3 s). The job holds at the end of step 3, in the middle of the first
epoch, until the signal has reached it (``pace.HoldForSignal``); the test signals once it holds, so the
signal lands at that step however loaded the machine is.
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from ..reliability.conftest import synthetic_root  # noqa: F401  (synthetic_root: a fixture)
from ..reliability.resume_checks import assert_batches_as_reference, assert_same_training_state
from ..reliability.test_ddp_resume import RANKS, ddp_fit_command, ddp_reference
from ..reliability.test_kill_resume import EPOCHS, fit_command, load, uninterrupted_run
from .conftest import REPO, Cluster

FIT_SCRIPT = REPO / "scripts" / "slurm_fit.sh"
STEPS = 5 * EPOCHS
HELD_AT = 3  # the job waits for the signal at the end of this step: after the step-2 checkpoint, mid first epoch


def hold(run_dir: Path) -> dict:
    """The callback that holds the job at ``HELD_AT`` until a signal reached it; it writes ``held_marker``."""
    return {"class_path": "pace.HoldForSignal", "init_args": {"step": HELD_AT, "marker": str(held_marker(run_dir))}}


def held_marker(run_dir: Path) -> Path:
    return run_dir.parent / "held"


@pytest.fixture(scope="module")
def reference(synthetic_root: str, build_once: Callable) -> dict:  # noqa: F811
    """The last checkpoint of the same run, never interrupted, outside SLURM (the kill test's too)."""
    return load(uninterrupted_run(build_once, synthetic_root) / "checkpoints" / "last.ckpt")


def submit_fit(slurm: Cluster, command: list[str], run_dir: Path, log: Path, *options: str) -> str:
    """``sbatch [options] scripts/slurm_fit.sh <cl-robust fit arguments>``, run in ``run_dir``'s parent."""
    return slurm.sbatch("--cpus-per-task=1", f"--output={log}", f"--chdir={run_dir.parent}", *options,
                        str(FIT_SCRIPT), *command[1:])


def logged_loss_steps(run_dir: Path) -> list[int]:
    """The step of every ``train/loss`` row in the run's CSV log; a resumed run logs into the same
    ``version_0/metrics.csv`` (the rows before the checkpoint's step kept, the later ones logged again)."""
    assert sorted(path.name for path in (run_dir / "lightning_logs").iterdir()) == ["version_0"]
    with open(run_dir / "lightning_logs" / "version_0" / "metrics.csv") as file:
        return sorted(int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss"))


def processes_of(run_dir: Path) -> list[int]:
    """Process ids whose command line names ``run_dir`` (Linux /proc): the job's ``cl-robust fit``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(run_dir).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            continue
    return found


def signal_requeue_and_wait(slurm: Cluster, job: str, run_dir: Path, log: Path) -> int:
    """Send the requeue signal while the job holds at ``HELD_AT``, let the requeued job run to the end;
    the step the signal saved at, checked against the job's output and logs."""
    slurm.wait(lambda: held_marker(run_dir).exists(), f"hold at step {HELD_AT}", 240)
    slurm.command("scancel", "--signal=USR1", job)
    slurm.wait(lambda: slurm.jobs(job)[0]["Restarts"] == "1" and slurm.state(job) == "PENDING", "requeue", 60)
    # The first run's processes may still be ending (srun waits up to 7 s for its step): start the
    # requeued job only once none of them is left, so the two never overlap on a loaded machine.
    slurm.wait(lambda: not processes_of(run_dir), "the first run's processes to end", 120)
    # SLURM holds a requeued job for about two minutes (BeginTime); start it now.
    slurm.command("scontrol", "update", f"JobId={job}", "StartTime=now")
    slurm.wait_ended(job, timeout=240)
    output = log.read_text()
    assert slurm.state(job) == "COMPLETED", output[-3000:] + slurm.command("scontrol", "show", "job", job, check=False)

    last = run_dir / "checkpoints" / "last.ckpt"
    saved = [line for line in output.splitlines() if line.startswith(f"cl-robust: saved {last} at step ")]
    assert len(saved) == 1 and f"requeued SLURM job {job}, which continues from it" in saved[0], output[-3000:]
    step = int(saved[0].split(" at step ")[1].split(";")[0])
    assert step == HELD_AT, "saved at the end of the step the signal reached, in the middle of the first epoch"
    assert output.count(f"cl-robust: resuming from {last}") == 1
    assert logged_loss_steps(run_dir) == list(range(STEPS)), \
        "every step logged once: the rows before the requeue kept, the requeued job continuing after them"
    assert not list(run_dir.rglob("hpc_ckpt_*.ckpt")), "one resume source: last.ckpt"
    return step


def test_requeue_signal_saves_requeues_and_resumes_exactly(slurm: Cluster, synthetic_root: str,  # noqa: F811
                                                            tmp_path: Path, reference: dict) -> None:
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    job = submit_fit(slurm, fit_command(synthetic_root, run_dir, callbacks=[hold(run_dir)]), run_dir, log)
    signal_requeue_and_wait(slurm, job, run_dir, log)
    assert_same_training_state(reference, load(run_dir / "checkpoints" / "last.ckpt"), STEPS)


@pytest.mark.slow
def test_requeue_signal_under_srun_ddp_resumes_exactly(slurm: Cluster, synthetic_root: str,  # noqa: F811
                                                       tmp_path: Path, build_once: Callable) -> None:
    """Two ranks started by srun: both get the signal, agree on the step, save once, and the requeued
    job ends where an uninterrupted 2-rank run (started by Lightning, outside SLURM) ends."""
    reference = ddp_reference(build_once, synthetic_root)
    run_dir, log = tmp_path / "run", tmp_path / "job.out"
    job = submit_fit(slurm, ddp_fit_command(synthetic_root, run_dir, [hold(run_dir)]), run_dir, log,
                     f"--ntasks-per-node={RANKS}")
    step = signal_requeue_and_wait(slurm, job, run_dir, log)
    assert_same_training_state(load(reference / "checkpoints" / "last.ckpt"),
                               load(run_dir / "checkpoints" / "last.ckpt"), STEPS)
    assert_batches_as_reference(reference / "batches", run_dir / "batches", RANKS, STEPS, step)


def test_cancelled_job_submitted_again_resumes_from_last_checkpoint(slurm: Cluster, synthetic_root: str,  # noqa: F811
                                                                    tmp_path: Path, reference: dict) -> None:
    run_dir, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    command = fit_command(synthetic_root, run_dir, callbacks=[hold(run_dir)])  # held once: not when resubmitted
    first = submit_fit(slurm, command, run_dir, tmp_path / "first.out")
    slurm.wait(lambda: held_marker(run_dir).exists(), f"hold at step {HELD_AT}", 240)
    slurm.command("scancel", first)
    slurm.wait_ended(first, timeout=60)
    assert slurm.state(first) == "CANCELLED"
    assert 0 < load(last)["global_step"] < STEPS, "cancelled before the end"

    again = submit_fit(slurm, command, run_dir, tmp_path / "again.out")
    slurm.wait_ended(again, timeout=240)
    output = (tmp_path / "again.out").read_text()
    assert slurm.state(again) == "COMPLETED", output[-3000:]
    assert f"cl-robust: resuming from {last}" in output
    assert_same_training_state(reference, load(last), STEPS)
