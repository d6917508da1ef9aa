"""SLURM's requeue signal during ``cl-robust fit``: ``last.ckpt`` at the end of the step, requeue, stop.

Under SLURM (``srun cl-robust fit ...``, Lightning's ``SLURMEnvironment(auto_requeue=True)``) the
requeue signal (``#SBATCH --signal=USR1@90``) saves ``last.ckpt`` at the end of the current
training step, requeues the job and stops it; when the job runs again, the same command resumes
from that ``last.ckpt`` exactly (:class:`RequeueAtStepEnd`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any

from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from cl_robust.commands.resume import resume_notice

# A run stopped by the requeue signal exits with this status (128 + SIGTERM, as if the requeue's SIGTERM
# had ended it), so a job script does not go on to what needs the finished run.
REQUEUED_EXIT_STATUS = 143


def slurm_job_id() -> str:
    """The id ``scontrol requeue`` takes for this job (``<array job>_<task>`` for an array task)."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job is not None:
        return f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ["SLURM_JOB_ID"]


class RequeueAtStepEnd(Callback):
    """SLURM's requeue signal: ``last.ckpt`` at the end of the current training step, then requeue and stop.

    Lightning's own handler (``SLURMEnvironment(auto_requeue=True)``) saves ``hpc_ckpt_<n>.ckpt`` from
    inside the signal handler, wherever the step is (say after the forward pass, with the step's
    random numbers drawn and the optimiser step not taken), which a resumed run cannot continue
    exactly, and which is not the ``last.ckpt`` that ``cl-robust fit`` resumes from. Here the signal
    only sets a flag. At the end of the step (where ``ModelCheckpoint`` saves; under DDP at the
    same step on every rank) the run logs the step's metrics, saves ``last.ckpt`` through its
    ``ModelCheckpoint``, rank 0 runs ``scontrol requeue`` as Lightning does, and every rank stops at once through Lightning's
    SIGTERM path (no collective after the requeue, whose SIGTERM is on its way), with exit status
    143. If the requeue fails the run stops all the same, saying so: the signal means the job is
    about to end, and the same command continues from ``last.ckpt``. Active only when Lightning
    chose a ``SLURMEnvironment`` with ``auto_requeue`` (its ``requeue_signal``, SIGUSR1 by default)
    and the run has a ``ModelCheckpoint``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.signalled = False
        self._previous: Any = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def _install(self) -> None:
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signum, self._on_signal)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        environment = trainer._accelerator_connector.cluster_environment
        if (stage != "fit" or not isinstance(environment, SLURMEnvironment) or not environment.auto_requeue
                or not isinstance(trainer.checkpoint_callback, ModelCheckpoint) or not hasattr(signal, "SIGUSR1")):
            return
        self.signum = int(environment.requeue_signal or signal.SIGUSR1)
        self.signalled = False
        self._previous = signal.getsignal(self.signum)
        # Installed before Lightning registers its handlers: it leaves a signal that has one alone.
        self._install()

    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        self._install()  # whatever a Lightning version did meanwhile

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        if self.signum is None or not trainer.strategy.reduce_boolean_decision(self.signalled, all=False):
            return
        self.signalled = False
        # Log this step's metrics first (Lightning does so only after this hook), so that the logs
        # before the requeue and those after it leave no step out.
        trainer._logger_connector.on_batch_end()
        trainer._logger_connector.update_train_step_metrics()
        checkpoint = trainer.checkpoint_callback
        assert isinstance(checkpoint, ModelCheckpoint)
        if checkpoint.save_last:
            checkpoint._save_last_checkpoint(trainer, checkpoint._monitor_candidates(trainer))
            path = checkpoint.last_model_path
        else:
            path = os.path.join(checkpoint.dirpath or trainer.default_root_dir, "last.ckpt")
            trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.save()
            job = slurm_job_id()
            try:
                requeued = subprocess.run(["scontrol", "requeue", job], check=False).returncode == 0
            except OSError:
                requeued = False
            resume_notice(f"saved {path} at step {trainer.global_step}; " + (
                f"requeued SLURM job {job}, which continues from it when it runs again" if requeued
                else f"scontrol requeue {job} failed; stopped, the same command continues from it"))
        raise SIGTERMException(REQUEUED_EXIT_STATUS)

    def teardown(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.signum is not None and threading.current_thread() is threading.main_thread():
            signal.signal(self.signum, self._previous)
        self.signum = None
