#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for tests and for trying the profile without a cluster:
# munged, slurmctld and slurmd, no accounting database (job status comes from squeue).
#
#   slurm/local-cluster.sh start    install slurm-wlm + munge if missing (Debian/Ubuntu, root),
#                                   write /etc/slurm/slurm.conf, start the daemons, wait for the node
#   slurm/local-cluster.sh stop     stop the daemons by the PIDs in their pid files
#   slurm/local-cluster.sh status   exit 0 when the node answers, 1 otherwise
#
# It never touches a slurm.conf that it did not write, so it cannot break a real cluster's setup.
# State, logs and pid files live in $XLT_SLURM_DIR (default /var/tmp/xlt-slurm).
set -euo pipefail

STATE_DIR=${XLT_SLURM_DIR:-/var/tmp/xlt-slurm}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
MARKER="# Written by xlt slurm/local-cluster.sh: a one-node test cluster."
PARTITION=${XLT_SLURM_PARTITION:-debug}
CTLD_PORT=${XLT_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${XLT_SLURMD_PORT:-16818}
MUNGE_PID=/run/munge/munged.pid
CTLD_PID=$STATE_DIR/slurmctld.pid
SLURMD_PID=$STATE_DIR/slurmd.pid

log() { echo "local-cluster: $*" >&2; }
die() {
    log "$*"
    exit 2
}

alive() { # alive PIDFILE: the process named in PIDFILE runs
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

node_answers() {
    local state
    state=$(timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n1) || return 1
    [[ $state =~ ^(idle|mixed|allocated|completing) ]]
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v munged >/dev/null; then
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "slurm-wlm and munge are not installed and this is not root"
    command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and apt-get is missing"
    log "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

start_munge() {
    if alive "$MUNGE_PID"; then
        return
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        if command -v mungekey >/dev/null; then
            runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
            chown munge:munge /etc/munge/munge.key
        fi
        chmod 400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        alive "$MUNGE_PID" && return
        sleep 0.1
    done
    die "munged did not start"
}

write_conf() {
    if [[ -e $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to replace it"
    fi
    local host cpus mem_mib
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mib=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 2048))
    ((mem_mib >= 1024)) || mem_mib=1024
    mkdir -p "$CONF_DIR" "$STATE_DIR/state" "$STATE_DIR/spool"
    cat >"$CONF" <<EOF
$MARKER
# Remove it with the cluster: slurm/local-cluster.sh stop leaves it for the next start.
ClusterName=xlt-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Keep finished jobs visible to squeue for 10 minutes: the profile's status command is squeue.
MinJobAge=600
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    if alive "$CTLD_PID" && alive "$SLURMD_PID" && node_answers; then
        log "already running"
        return
    fi
    install_packages
    [[ $(id -u) -eq 0 ]] || die "starting the daemons needs root"
    start_munge
    write_conf
    alive "$CTLD_PID" || slurmctld -c
    alive "$SLURMD_PID" || slurmd
    for _ in $(seq 60); do
        if node_answers; then
            log "node $(hostname -s) is up in partition $PARTITION ($(nproc) CPUs)"
            return
        fi
        sleep 0.5
    done
    log "the node did not come up; last lines of the logs:"
    tail -n 20 "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" >&2 || true
    exit 1
}

stop_pid() { # stop_pid NAME PIDFILE: SIGTERM, then SIGKILL after 10 s
    local name=$1 pidfile=$2 pid
    alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || {
            log "stopped $name ($pid)"
            return 0
        }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    log "killed $name ($pid)"
}

stop() {
    stop_pid slurmd "$SLURMD_PID"
    stop_pid slurmctld "$CTLD_PID"
    stop_pid munged "$MUNGE_PID"
}

status() {
    local name pidfile ok=0
    for name in munged slurmctld slurmd; do
        case $name in
        munged) pidfile=$MUNGE_PID ;;
        slurmctld) pidfile=$CTLD_PID ;;
        slurmd) pidfile=$SLURMD_PID ;;
        esac
        if alive "$pidfile"; then
            echo "$name: running ($(cat "$pidfile"))"
        else
            echo "$name: stopped"
            ok=1
        fi
    done
    if ((ok == 0)) && node_answers; then
        sinfo
        return 0
    fi
    return 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 64
    ;;
esac
