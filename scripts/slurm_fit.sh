#!/usr/bin/env bash
# One training run as a SLURM batch job: srun starts one task a device (rank), Lightning's
# SLURMEnvironment picks the ranks up, and the job survives preemption and time limits:
# SLURM sends SIGUSR1 90 s before the end, cl-robust fit saves last.ckpt at the end of the current
# training step and requeues the job, and the requeued job resumes from that last.ckpt (the same
# command line). A job cancelled outright and submitted again also resumes from last.ckpt.
#
#   sbatch --gpus-per-node=1 scripts/slurm_fit.sh --config examples/configs/pretrain/cl.yaml
#   sbatch --nodes=2 --ntasks-per-node=4 --gpus-per-node=4 scripts/slurm_fit.sh \
#       --config examples/configs/pretrain/cl.yaml --trainer.num_nodes 2 --trainer.devices 4 --trainer.strategy ddp
#
# --ntasks-per-node must equal --trainer.devices and --nodes --trainer.num_nodes (Lightning
# checks both). Arguments are those of cl-robust fit; CL_ROBUST names another command.
#SBATCH --job-name=cl-robust-fit
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --requeue
#SBATCH --signal=USR1@90
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail
# shellcheck disable=SC2086  # CL_ROBUST may be a command with arguments (python -m cl_robust.cli)
exec srun ${CL_ROBUST:-cl-robust} fit "$@"
