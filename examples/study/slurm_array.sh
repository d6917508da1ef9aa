#!/usr/bin/env bash
# The study on a SLURM cluster: one array task per run id, the phases as dependent arrays,
# all tasks sharing one results folder. Each training task runs DDP through Lightning on the
# GPUs of its node (set trainer: {devices: 4, strategy: ddp} in the grid file).
#
#   examples/study/slurm_array.sh examples/study/paper.yaml [results/paper]
#
# submits (from the login node):
#   pretrain  --array over every pretrain-* run
#   finetune  --array, after pretrain ends        (afterany: one failed run does not stop the rest;
#   evaluate  --array, after finetune ends         a run whose prerequisite failed refuses to start,
#   analyze   --array, after finetune ends         naming that prerequisite, in its task's log)
#   report    one task, after evaluate and analyze: cl-robust study --report-only
# Runs already done are skipped, so the same command resumes an interrupted study.
# Site options (partition, account, time) go in SBATCH_PARTITION / SBATCH_ACCOUNT /
# SBATCH_TIMELIMIT, which sbatch reads from the environment, or in EXTRA_SBATCH below.
set -euo pipefail

GPUS_PER_TASK=${GPUS_PER_TASK:-1}
CPUS_PER_TASK=${CPUS_PER_TASK:-8}
EXTRA_SBATCH=${EXTRA_SBATCH:-}
CL_ROBUST=${CL_ROBUST:-cl-robust}

if [[ "${1:-}" == "--task" ]]; then
    # One array task: the run on line SLURM_ARRAY_TASK_ID + 1 of the phase's list.
    grid=$2 output=$3 list=$4
    run_id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$list")
    # One process per task; Lightning starts one process per GPU itself (single-node DDP).
    # Without SLURM_NTASKS, Lightning does not expect srun to have started the ranks.
    unset SLURM_NTASKS SLURM_NTASKS_PER_NODE
    exec $CL_ROBUST study --config "$grid" --output "$output" --only "$run_id"
fi
if [[ "${1:-}" == "--report" ]]; then
    exec $CL_ROBUST study --config "$2" --output "$3" --report-only
fi

grid=${1:?usage: slurm_array.sh GRID.yaml [OUTPUT]}
output=${2:-$(python -c "import sys, yaml; g = yaml.safe_load(open(sys.argv[1])); print(g.get('output') or 'results/' + g['name'])" "$grid")}
mkdir -p "$output/slurm"
script=$(realpath "$0")

submit_phase() {  # phase, dependency -> prints the job id (nothing when the phase is empty)
    local phase=$1 dependency=$2 list="$output/slurm/$1.txt"
    $CL_ROBUST study --config "$grid" --output "$output" --list --only "$phase-*" | awk '{print $1}' > "$list"
    local count
    count=$(wc -l < "$list")
    [[ $count -eq 0 ]] && return 0
    sbatch --parsable --job-name="study-$phase" --array="0-$((count - 1))" ${dependency:+--dependency=$dependency} \
        --nodes=1 --ntasks=1 --gpus-per-task="$GPUS_PER_TASK" --cpus-per-task="$CPUS_PER_TASK" \
        --output="$output/slurm/$phase-%a.out" $EXTRA_SBATCH "$script" --task "$grid" "$output" "$list"
}

pretrain=$(submit_phase pretrain "")
finetune=$(submit_phase finetune "${pretrain:+afterany:$pretrain}")
after_training=${finetune:-$pretrain}
evaluate=$(submit_phase evaluate "${after_training:+afterany:$after_training}")
analyze=$(submit_phase analyze "${after_training:+afterany:$after_training}")
report=$(sbatch --parsable --job-name=study-report --dependency="afterany:$evaluate:$analyze" --ntasks=1 \
    --cpus-per-task=2 --output="$output/slurm/report.out" $EXTRA_SBATCH "$script" --report "$grid" "$output")
echo "submitted: pretrain $pretrain, finetune $finetune, evaluate $evaluate, analyze $analyze, report $report"
echo "results: $output/report.md once job $report ends"
