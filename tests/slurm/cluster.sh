#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on 127.0.0.1 for the end-to-end test.
#
#   cluster.sh install            install Debian's SLURM + munge if missing (exit 3: cannot)
#   cluster.sh start STATE [N]    write configs into STATE, start munged, slurmctld, slurmd
#                                 (N fake GPUs, default 2) and wait until the node is idle
#   cluster.sh stop STATE         cancel our jobs, then stop exactly the daemons whose PIDs
#                                 were recorded in STATE/*.pid
#
# After `start`, `source STATE/env` points the SLURM clients (sinfo, sbatch, squeue, ...) at
# this cluster via SLURM_CONF. Outside STATE, `start` writes one thing: the symlink
# /etc/slurm/slurm.conf -> STATE/slurm.conf (only where no real slurm.conf is there; `stop`
# removes it). It is needed because snakemake's slurm-jobstep plugin strips every SLURM_*
# variable except a few job ids, SLURM_CONF included, before it calls `srun` inside a job;
# that srun then only finds a config at the compiled-in default path.
#
# Works without systemd and without cgroups: proctrack/linuxproc, task/none,
# jobacct_gather/none, no slurmdbd (AccountingStorageType=accounting_storage/none; finished
# jobs are appended to STATE/jobcomp.log by jobcomp/filetxt). The fake GPUs are gres entries
# backed by character devices such as /dev/null: a gres with a plain file, or a bare count
# without File=, drains the node. Everything runs as root (slurmd must be root to run jobs).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
BINARIES=(slurmctld slurmd sinfo sbatch squeue scontrol scancel munged munge)
# Character devices that stand in for GPU device files (one per fake GPU).
FAKE_GPU_FILES=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty)

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
STARTING=0
die() {
    log "ERROR: $*"
    # A failed start stops what it already started (by the PIDs recorded so far).
    if [[ $STARTING -eq 1 ]]; then STARTING=0; cmd_stop "$STATE" || true; fi
    exit 1
}

have_binaries() {
    local b
    for b in "${BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1 || return 1
    done
}

cmd_install() {
    export PATH="$PATH:/usr/sbin:/sbin"
    if have_binaries; then
        log "SLURM and munge already installed ($(slurmd -V 2>/dev/null || echo '?'))"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        log "cannot install ${PACKAGES[*]}: not root"; exit 3
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "cannot install ${PACKAGES[*]}: no apt-get (not Debian/Ubuntu)"; exit 3
    fi
    # Keep the packages' maintainer scripts from starting system-wide daemons that we would
    # not know the PIDs of (a policy-rc.d that answers 101 forbids service starts).
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${PACKAGES[@]}"
    } >&2 || rc=$?
    if [[ $created_policy -eq 1 ]]; then rm -f "$policy"; fi
    if [[ $rc -ne 0 ]]; then
        log "cannot install ${PACKAGES[*]}: apt-get failed with exit code $rc"; exit 3
    fi
    have_binaries || { log "installed ${PACKAGES[*]} but binaries are still missing"; exit 3; }
    log "installed $(slurmd -V)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PID from a pid file, only if that process is alive and is the expected program.
recorded_pid() {
    local pidfile=$1 name=$2 pid comm
    [[ -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] && alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ $comm == "$name" ]] || return 1
    printf '%s\n' "$pid"
}

# True while PID runs (a zombie that init has not reaped yet counts as gone).
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# Wait until daemon NAME has written PIDFILE and still runs a moment later (daemons fork
# first and may die on a fatal config error after the fork).
wait_daemon() {  # pidfile name
    local i pid
    for ((i = 0; i < 200; i++)); do
        pid=$(recorded_pid "$1" "$2") && break
        sleep 0.1
    done
    [[ -n ${pid:-} ]] || { show_logs; die "$2 did not start (no live process in $1)"; }
    sleep 0.3
    alive "$pid" || { show_logs; die "$2 (pid $pid) died right after starting"; }
}

show_logs() {
    local f
    for f in "$STATE"/log/*.log; do
        [[ -f $f ]] || continue
        log "---- tail of $f"
        tail -n 25 "$f" >&2 || true
    done
}

cmd_start() {
    export PATH="$PATH:/usr/sbin:/sbin"
    STATE=$(realpath -m "${1:?usage: cluster.sh start STATE_DIR [N_GPUS]}")
    local ngpu=${2:-2}
    ((ngpu >= 1 && ngpu <= ${#FAKE_GPU_FILES[@]})) || die "N_GPUS must be 1..${#FAKE_GPU_FILES[@]}"
    have_binaries || die "SLURM/munge missing: run 'cluster.sh install' first"
    [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd runs jobs as root here)"
    if recorded_pid "$STATE/slurmctld.pid" slurmctld >/dev/null; then
        die "a cluster already runs from $STATE; stop it first"
    fi
    mkdir -p "$STATE"/{munge,ctld,spool,log}
    chmod 700 "$STATE/munge"
    STARTING=1

    local host cpus mem_mb ctld_port d_port user
    host=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
    ctld_port=${SLURMCTLD_PORT:-$(free_port)}
    d_port=${SLURMD_PORT:-$(free_port)}
    user=$(id -un)

    # --- munge: own key and socket inside STATE, never the system's /run/munge.
    if [[ ! -s $STATE/munge/munge.key ]]; then
        dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$STATE/munge/munge.key"
    fi
    local sock=$STATE/munge/munge.sock
    # --force: munged otherwise refuses a socket whose parent dirs are not world-executable
    # (pytest's tmp dirs are 0700).
    munged --force \
        --key-file="$STATE/munge/munge.key" \
        --socket="$sock" \
        --pid-file="$STATE/munged.pid" \
        --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed" \
        </dev/null >>"$STATE/log/munged.out" 2>&1 ||
        { show_logs; die "munged failed to start"; }
    wait_daemon "$STATE/munged.pid" munged
    munge -S "$sock" -n | unmunge -S "$sock" >/dev/null || { show_logs; die "munge self-test failed"; }

    # --- slurm.conf / gres.conf
    local gres_lines="" i
    for ((i = 0; i < ngpu; i++)); do
        gres_lines+="NodeName=$host Name=gpu File=${FAKE_GPU_FILES[$i]}"$'\n'
    done
    printf '%s' "$gres_lines" >"$STATE/gres.conf"
    : >"$STATE/plugstack.conf"
    cat >"$STATE/slurm.conf" <<EOF
# $MARKER: single node, no cgroups, no slurmdbd.
ClusterName=batchstudy
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$STATE/plugstack.conf
# No systemd, no cgroups on these machines.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
# Keep finished jobs visible to squeue/scontrol long enough for snakemake's status checks
# (the slurm executor only uses squeue when MinJobAge >= 3 x its first check delay).
MinJobAge=900
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$ngpu State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$STATE/env" <<EOF
export SLURM_CONF=$STATE/slurm.conf
export PATH="\$PATH:/usr/sbin:/sbin"
EOF
    export SLURM_CONF=$STATE/slurm.conf
    printf '%s\n' "$host" >"$STATE/nodename"
    link_default_conf

    # --- daemons (they fork into the background and write their PID files). Their stdio
    # must not stay attached to ours, or a caller that captures our output never sees EOF.
    slurmctld -f "$SLURM_CONF" -i </dev/null >>"$STATE/log/slurmctld.out" 2>&1 ||
        { show_logs; die "slurmctld failed to start"; }
    wait_daemon "$STATE/slurmctld.pid" slurmctld
    slurmd -f "$SLURM_CONF" </dev/null >>"$STATE/log/slurmd.out" 2>&1 ||
        { show_logs; die "slurmd failed to start"; }
    wait_daemon "$STATE/slurmd.pid" slurmd

    # --- wait until the node is idle; resume it if an earlier bad config drained it.
    local state="" deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        recorded_pid "$STATE/slurmctld.pid" slurmctld >/dev/null || { show_logs; die "slurmctld died"; }
        recorded_pid "$STATE/slurmd.pid" slurmd >/dev/null || { show_logs; die "slurmd died"; }
        state=$(timeout 10 sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n1 || true)
        case $state in
            idle) break ;;
            drain* | down* | fail*)
                log "node $host is '$state' ($(sinfo -h -N -n "$host" -o '%E' 2>/dev/null)); resuming"
                timeout 10 scontrol update NodeName="$host" State=RESUME >&2 || true
                ;;
        esac
        sleep 0.1
    done
    if [[ $state != idle ]]; then
        show_logs
        die "node $host did not become idle within 60 s (state: '${state:-no answer}')"
    fi
    STARTING=0
    log "cluster up: node $host idle, $cpus CPUs, ${mem_mb} MB, $ngpu fake GPU(s); source $STATE/env"
}

ETC_CONF=/etc/slurm/slurm.conf
MARKER="Generated by tests/slurm/cluster.sh"

# Point the default config path at ours, unless a real (not ours) config lives there.
link_default_conf() {
    if [[ -e $ETC_CONF || -L $ETC_CONF ]]; then
        local other
        other=$(dirname "$(readlink "$ETC_CONF" 2>/dev/null || echo /nonexistent/x)")
        if [[ -L $ETC_CONF ]] && recorded_pid "$other/slurmctld.pid" slurmctld >/dev/null; then
            log "WARNING: $ETC_CONF belongs to another running test cluster ($other);"
            log "  srun inside this cluster's jobs would read it"
            return 0
        elif [[ -L $ETC_CONF ]] && { [[ ! -e $ETC_CONF ]] || grep -q "$MARKER" "$ETC_CONF"; }; then
            rm -f "$ETC_CONF"  # a leftover link to an earlier, stopped throw-away cluster
        else
            log "WARNING: $ETC_CONF exists and is not ours: srun inside jobs (SLURM_CONF"
            log "  stripped by snakemake's jobstep plugin) will read it, not $SLURM_CONF"
            return 0
        fi
    fi
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$SLURM_CONF" "$ETC_CONF"
    printf '%s\n' "$ETC_CONF" >"$STATE/etc-link"
}

unlink_default_conf() {
    if [[ -f $STATE/etc-link && -L $ETC_CONF && $(readlink "$ETC_CONF") == "$STATE/slurm.conf" ]]; then
        rm -f "$ETC_CONF" && log "removed $ETC_CONF -> $STATE/slurm.conf"
    fi
    rm -f "$STATE/etc-link"
}

stop_pid() {  # pidfile name
    local pid i
    pid=$(recorded_pid "$1" "$2") || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || { log "stopped $2 (pid $pid)"; return 0; }
        sleep 0.1
    done
    log "$2 (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
    export PATH="$PATH:/usr/sbin:/sbin"
    STATE=$(realpath -m "${1:?usage: cluster.sh stop STATE_DIR}")
    [[ -d $STATE ]] || { log "no state dir $STATE: nothing to stop"; return 0; }
    export SLURM_CONF=$STATE/slurm.conf
    # Cancel whatever still runs on *this* cluster so slurmd reaps its job steps before it
    # goes away (only our private slurmctld is asked).
    if recorded_pid "$STATE/slurmctld.pid" slurmctld >/dev/null && [[ -f $SLURM_CONF ]]; then
        if [[ -n $(timeout 10 squeue -h -t PD,R,CG,S -o %i 2>/dev/null) ]]; then
            timeout 10 scancel --full --user="$(id -un)" 2>/dev/null || true
            local i
            for ((i = 0; i < 100; i++)); do
                [[ -z $(timeout 10 squeue -h -t PD,R,CG,S -o %i 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_pid "$STATE/slurmd.pid" slurmd
    stop_pid "$STATE/slurmctld.pid" slurmctld
    stop_pid "$STATE/munged.pid" munged
    unlink_default_conf
}

case ${1:-} in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 {install|start STATE_DIR [N_GPUS]|stop STATE_DIR}" >&2; exit 2 ;;
esac
