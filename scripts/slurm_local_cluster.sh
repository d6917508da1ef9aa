#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (slurmctld + slurmd on localhost, munge with a key of
# its own), for the tests in tests/slurm and for trying the SLURM scripts by hand:
#
#   scripts/slurm_local_cluster.sh start DIR [--no-install]
#   export SLURM_CONF=DIR/slurm.conf      # sbatch, squeue, sinfo, scontrol, scancel now talk to it
#   scripts/slurm_local_cluster.sh stop DIR
#
# start  installs Debian's slurm-wlm and munge with apt-get when they are missing (needs root;
#        --no-install only checks), writes a one-node configuration for this host into DIR
#        (own ports, own munge socket, state and logs in DIR; nothing under /etc is used),
#        starts munged, slurmctld and slurmd as root, and waits until sinfo shows the node idle.
# stop   cancels the cluster's jobs and stops exactly the daemons whose pid files are in DIR.
#
# Exit status: 0 done; 3 SLURM is not installed and cannot be (one line on stderr saying why);
# 1 the daemons did not come up (the end of their logs on stderr).
set -euo pipefail

DAEMONS=(slurmd slurmctld munged)          # stop order (start order reversed)
NEEDED=(munged mungekey slurmctld slurmd sbatch sinfo squeue scontrol scancel)

say() { echo "slurm_local_cluster: $*" >&2; }
unavailable() { say "unavailable: $*"; exit 3; }

missing_programs() {
    local name missing=()
    for name in "${NEEDED[@]}"; do
        command -v "$name" >/dev/null 2>&1 || [[ -x /usr/sbin/$name ]] || missing+=("$name")
    done
    echo "${missing[*]}"
}

install_slurm() {  # no_install -> installs slurm-wlm and munge when missing, or exits 3
    local missing
    missing=$(missing_programs)
    [[ -z $missing ]] && return 0
    [[ $1 == yes ]] && unavailable "SLURM is not installed (missing: $missing)"
    [[ $(id -u) -eq 0 ]] || unavailable "SLURM is not installed (missing: $missing) and installing it needs root"
    command -v apt-get >/dev/null || unavailable "SLURM is not installed (missing: $missing) and there is no apt-get"
    say "installing slurm-wlm and munge with apt-get"
    # The packages would start system-wide munge and slurm services, which nobody would stop:
    # a policy-rc.d that refuses every start does away with them, for the install only.
    local policy=/usr/sbin/policy-rc.d ours=no status=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=yes
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge; } >"$DIR/apt-get.log" 2>&1 || status=$?
    [[ $ours == yes ]] && rm -f "$policy"
    [[ $status -eq 0 ]] || unavailable "apt-get install slurm-wlm munge failed ($(tail -n 1 "$DIR/apt-get.log"))"
    missing=$(missing_programs)
    [[ -z $missing ]] || unavailable "still missing after apt-get: $missing"
}

free_port() {  # a TCP port nobody listens on, in 20000-29999
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 10000))
        ss -Htln "sport = :$port" 2>/dev/null | grep -q . || { echo "$port"; return; }
    done
    echo 0
}

write_config() {
    local host cpus
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone follows OMP_NUM_THREADS
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    chmod 700 "$DIR"
    cat >"$DIR/slurm.conf" <<EOF
# One node on this host, written by scripts/slurm_local_cluster.sh
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Short waits so that tests see jobs start, end, requeue and stop within seconds.
SchedulerParameters=sched_interval=2
KillWait=5
MinJobAge=600
MessageTimeout=20
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    # slurm.conf must be readable by every job's user; the rest stays private.
    chmod 644 "$DIR/slurm.conf"
}

show_logs() {
    local log
    for log in "$DIR"/log/*.log "$DIR"/munged.log; do
        [[ -f $log ]] && { say "--- $log"; tail -n 15 "$log" >&2; }
    done
}

alive() {  # pid file, program name -> true when that pid runs that program (a zombie has ended)
    local pid stat
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ -n $pid ]] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $stat == "$pid ($2"* && $stat != *") Z "* ]]
}

start() {
    local no_install=$1
    mkdir -p "$DIR"
    install_slurm "$no_install"
    [[ $(id -u) -eq 0 ]] || unavailable "the daemons of the local cluster run as root"
    export SLURM_CONF="$DIR/slurm.conf"
    write_config
    [[ -f $DIR/munge.key ]] || mungekey --create --keyfile="$DIR/munge.key" --force >/dev/null 2>&1 \
        || dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
    chmod 600 "$DIR/munge.key"
    munged --force --socket="$DIR/munge.socket" --key-file="$DIR/munge.key" --pid-file="$DIR/munged.pid" \
        --log-file="$DIR/munged.log" --seed-file="$DIR/munged.seed" \
        || { show_logs; say "munged did not start"; exit 1; }
    slurmctld -f "$SLURM_CONF" || { show_logs; say "slurmctld did not start"; exit 1; }
    slurmd -f "$SLURM_CONF" || { show_logs; say "slurmd did not start"; exit 1; }
    local state=""
    for _ in $(seq 120); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)
        [[ $state == idle ]] && break
        sleep 0.5
    done
    if [[ $state != idle ]]; then
        show_logs
        say "the node is '${state:-not reported}', not idle, after 60 s"
        exit 1
    fi
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
    [[ -d $DIR ]] || return 0
    export SLURM_CONF="$DIR/slurm.conf"
    if alive "$DIR/slurmctld.pid" slurmctld && [[ -n $(squeue -h -o %A 2>/dev/null) ]]; then
        scancel --full $(squeue -h -o %A) 2>/dev/null || true
        for _ in $(seq 40); do
            [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
            sleep 0.25
        done
    fi
    local name pid_file
    for name in "${DAEMONS[@]}"; do
        pid_file="$DIR/$name.pid"
        alive "$pid_file" "$name" || continue
        kill -TERM "$(cat "$pid_file")" 2>/dev/null || true
        for _ in $(seq 40); do
            alive "$pid_file" "$name" || break
            sleep 0.25
        done
        alive "$pid_file" "$name" && kill -KILL "$(cat "$pid_file")" 2>/dev/null || true
    done
    return 0
}

command=${1:-}
DIR=${2:-}
[[ -n $command && -n $DIR ]] || { echo "usage: $0 start|stop DIR [--no-install]" >&2; exit 2; }
DIR=$(realpath -m "$DIR")
case $command in
    start) start "$([[ ${3:-} == --no-install ]] && echo yes || echo no)" ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop DIR [--no-install]" >&2; exit 2 ;;
esac
