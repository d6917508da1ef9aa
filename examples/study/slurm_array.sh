#!/usr/bin/env bash
# The study on a SLURM cluster: one array task per run id, the phases as dependent arrays,
# all tasks sharing one results folder. Each training task runs DDP through Lightning on the
# GPUs of its node (set trainer: {devices: 4, strategy: ddp} in the grid file).
#
#   examples/study/slurm_array.sh examples/study/paper.yaml [results/paper]
#   GPUS_PER_TASK=0 CPUS_PER_TASK=2 examples/study/slurm_array.sh examples/study/smoke.yaml /tmp/smoke  # CPUs only
#
# claims the results folder (and writes generated data when data.source is synthetic) here, once,
# then submits (from the login node):
#   pretrain  --array over every pretrain-* run
#   finetune  --array, after pretrain ends        (afterany: one failed run does not stop the rest;
#   evaluate  --array, after finetune ends         a run whose prerequisite failed refuses to start,
#   analyze   --array, after finetune ends         naming that prerequisite, in its task's log)
#   report    one task, after evaluate and analyze: cl-robust study --report-only
# A phase without runs is not submitted. Runs already done are skipped, so the same command
# resumes an interrupted study. Task logs: <output>/slurm/<phase>-<task>.out.
# Site options (partition, account, time) go in SBATCH_PARTITION / SBATCH_ACCOUNT /
# SBATCH_TIMELIMIT, which sbatch reads from the environment, or in EXTRA_SBATCH below.
set -euo pipefail

GPUS_PER_TASK=${GPUS_PER_TASK:-1}   # 0: no GPU request (a CPU cluster)
CPUS_PER_TASK=${CPUS_PER_TASK:-8}
EXTRA_SBATCH=${EXTRA_SBATCH:-}
CL_ROBUST=${CL_ROBUST:-cl-robust}
PYTHON=${PYTHON:-python}

if [[ "${1:-}" == "--task" ]]; then
    # One array task: the run on line SLURM_ARRAY_TASK_ID + 1 of the phase's list.
    grid=$2 output=$3 list=$4
    run_id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$list")
    # One process per task; Lightning starts one process per GPU itself (single-node DDP).
    # Without SLURM_NTASKS, Lightning does not expect srun to have started the ranks.
    unset SLURM_NTASKS SLURM_NTASKS_PER_NODE
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
    exec $CL_ROBUST study --config "$grid" --output "$output" --only "$run_id"
fi
if [[ "${1:-}" == "--report" ]]; then
    exec $CL_ROBUST study --config "$2" --output "$3" --report-only
fi

grid=$(realpath "${1:?usage: slurm_array.sh GRID.yaml [OUTPUT]}")
output=${2:-$($PYTHON -c "import sys, yaml; g = yaml.safe_load(open(sys.argv[1])); print(g.get('output') or 'results/' + g['name'])" "$grid")}
output=$(realpath -m "$output")
script=$(realpath "$0")

# Tasks that start together would race to create the folder's study record and generated data.
$PYTHON - "$grid" "$output" <<'EOF'
import sys
from cl_robust.errors import ConfigError
from cl_robust.study.command import prepare_synthetic_data
from cl_robust.study.grid import load_spec
from cl_robust.study.records import claim_output
try:
    spec = load_spec(sys.argv[1], sys.argv[2])
    claim_output(spec)
    prepare_synthetic_data(spec)
except ConfigError as error:
    sys.exit(f"cl-robust: error: {error}")
EOF
mkdir -p "$output/slurm"
COLUMNS=1000 $CL_ROBUST study --config "$grid" --output "$output" --list | awk '{print $1}' > "$output/slurm/runs.txt"

gpu_request=()
[[ $GPUS_PER_TASK -gt 0 ]] && gpu_request=(--gpus-per-task="$GPUS_PER_TASK")

submit_phase() {  # phase, dependency -> prints the job id (nothing when the phase has no runs)
    local phase=$1 dependency=$2 list="$output/slurm/$1.txt"
    grep "^$phase-" "$output/slurm/runs.txt" > "$list" || true
    local count
    count=$(wc -l < "$list")
    [[ $count -eq 0 ]] && return 0
    # shellcheck disable=SC2086  # EXTRA_SBATCH holds several options
    sbatch --parsable --job-name="study-$phase" --array="0-$((count - 1))" ${dependency:+--dependency=$dependency} \
        --nodes=1 --ntasks=1 "${gpu_request[@]}" --cpus-per-task="$CPUS_PER_TASK" \
        --output="$output/slurm/$phase-%a.out" $EXTRA_SBATCH "$script" --task "$grid" "$output" "$list"
}

after() {  # job ids (some empty) -> afterany:<id>:<id>... (empty when none)
    local ids
    ids=$(printf '%s\n' "$@" | grep . | paste -sd: -) || true
    echo "${ids:+afterany:$ids}"
}

pretrain=$(submit_phase pretrain "")
finetune=$(submit_phase finetune "$(after "$pretrain")")
after_training=$(after "$pretrain" "$finetune")
evaluate=$(submit_phase evaluate "$after_training")
analyze=$(submit_phase analyze "$after_training")
report_after=$(after "$pretrain" "$finetune" "$evaluate" "$analyze")
# shellcheck disable=SC2086
report=$(sbatch --parsable --job-name=study-report ${report_after:+--dependency=$report_after} --ntasks=1 \
    --cpus-per-task=1 --output="$output/slurm/report.out" $EXTRA_SBATCH "$script" --report "$grid" "$output")
echo "submitted: pretrain ${pretrain:--}, finetune ${finetune:--}, evaluate ${evaluate:--}, analyze ${analyze:--}, report $report"
echo "results: $output/report.md once job $report ends"
