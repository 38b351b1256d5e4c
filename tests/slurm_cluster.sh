#!/bin/sh
# tests/slurm_cluster.sh: a single-node Slurm cluster on this machine, for the Slurm
# end-to-end test (tests/test_slurm_e2e.c); Debian's slurm-wlm and munge (.ci/deps).
#
#   sh tests/slurm_cluster.sh start DIR [MAX_ARRAY_SIZE]   config, state and logs under DIR
#   sh tests/slurm_cluster.sh stop DIR                     ends what start started, by PID
# Then export SLURM_CONF=DIR/slurm.conf for sbatch, squeue, scontrol and sweep.
#
# What these machines need (measured; see README "On a cluster"):
# - no systemd: /run/munge does not exist until we make it, and munged refuses to run as
#   root ("Logfile is insecure"), so it runs as user munge; a munged already running is
#   reused and left alone;
# - the node is "localhost" on 127.0.0.1 whatever the host name, with RealMemory from
#   `slurmd -C` (more => the node drains, less => --mem is rejected) and its sockets and
#   cores stated (else slurmd reports a mismatch);
# - proctrack/linuxproc and task/none: no cgroups needed; a cgroup.conf is written anyway,
#   since without one a cgroup plugin fails every job silently as COMPLETED;
# - no accounting (sacct does not work): MinJobAge keeps ended jobs visible to scontrol;
# - sched_interval=1: array tasks start about 1 s apart instead of 3;
# - slurmctld and slurmd delete their pid files on exit, so start records the PIDs in
#   DIR/pids and stop ends exactly those (never pkill); a daemon that exited can stay a
#   zombie for a while here (PID 1 reaps late), so state Z counts as gone.
# Ports: QAPRUNE_SLURM_PORT (default 16817) for slurmctld, the next one for slurmd; not
# Slurm's 6817/6818, so a real Slurm on the machine is left alone.
set -u

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [MAX_ARRAY_SIZE]" >&2; exit 2; }
port=${QAPRUNE_SLURM_PORT:-16817}
conf=$dir/slurm.conf
export SLURM_CONF="$conf"

log() { echo "slurm_cluster: $*" >&2; }

alive() { # pid: 0 when the process exists and is not a zombie
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

wait_until() { # tenths-of-a-second command...: polls until the command succeeds
    n=$1; shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1; n=$((n - 1))
    done
    return 1
}

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_idle() { [ "$(sinfo -h -n localhost -o %t 2>/dev/null)" = idle ]; }
pidfile_ready() { [ -s "$1" ]; }

write_conf() {
    max_array=$1
    cpus=$(nproc)
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$mem" ] || mem=1000
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    cat > "$conf" <<EOF
# written by tests/slurm_cluster.sh: one node on loopback, no accounting
ClusterName=qaprunetest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
KillWait=5
MaxArraySize=$max_array
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    printf 'CgroupPlugin=cgroup/v1\nCgroupAutomount=yes\nConstrainCores=no\nConstrainRAMSpace=no\n' \
        > "$dir/cgroup.conf"
}

start_munged() {
    munge_ok && { log "munged already running: reusing it"; return 0; }
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || return 1
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged || return 1
    wait_until 100 munge_ok || { log "munged does not answer"; return 1; }
    echo "munged $(cat /run/munge/munged.pid)" >> "$dir/pids"
}

start() {
    for t in slurmctld slurmd sbatch munged runuser; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] ||
            { log "$t not installed (.ci/deps installs slurm-wlm and munge)"; exit 3; }
    done
    [ "$(id -u)" = 0 ] || { log "needs root (munged runs as user munge, slurmd as root)"; exit 3; }
    [ -s "$dir/pids" ] && { log "$dir/pids exists: stop it first"; exit 1; }
    rm -rf "$dir/state" "$dir/spool" "$dir/log"
    mkdir -p "$dir"
    write_conf "${3:-1001}"
    : > "$dir/pids"
    start_munged || { log "cannot start munged"; exit 3; }
    slurmctld || { tail -5 "$dir/log/slurmctld.log" >&2; exit 3; }
    wait_until 300 pidfile_ready "$dir/slurmctld.pid" || { log "slurmctld wrote no pid file"; exit 3; }
    echo "slurmctld $(cat "$dir/slurmctld.pid")" >> "$dir/pids"
    wait_until 300 ctld_up || { log "slurmctld not answering"; tail -5 "$dir/log/slurmctld.log" >&2; exit 3; }
    slurmd -N localhost || { tail -5 "$dir/log/slurmd.log" >&2; exit 3; }
    wait_until 300 pidfile_ready "$dir/slurmd.pid" || { log "slurmd wrote no pid file"; exit 3; }
    echo "slurmd $(cat "$dir/slurmd.pid")" >> "$dir/pids"
    wait_until 300 node_idle || { log "node not idle"; sinfo -R >&2; tail -5 "$dir/log/slurmd.log" >&2; exit 3; }
    log "up: $(sinfo -h -o '%P %a %D %t %c CPUs %m MB')"
}

stop() {
    if [ -s "$dir/pids" ] && ctld_up; then
        # this cluster is ours: cancel its jobs, and let their steps end before slurmd goes
        squeue -h -o %A 2>/dev/null | sort -u | xargs -r scancel 2>/dev/null
        wait_until 100 sh -c '[ -z "$(squeue -h -o %A 2>/dev/null)" ]'
    fi
    [ -s "$dir/pids" ] || { log "nothing of ours to stop in $dir"; return 0; }
    tac "$dir/pids" | while read -r name pid; do
        [ -n "$pid" ] && alive "$pid" || continue
        kill -TERM "$pid" 2>/dev/null
        n=100
        while [ $n -gt 0 ] && alive "$pid"; do sleep 0.1; n=$((n - 1)); done
        alive "$pid" && { log "$name ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid"; }
        log "stopped $name ($pid)"
    done
    rm -f "$dir/pids"
}

case $cmd in
    start) start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop DIR [MAX_ARRAY_SIZE]" >&2; exit 2 ;;
esac
