#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on localhost (Debian's slurm-wlm and
# munge), for tests and benchmarks. Everything it makes (munge key and
# socket, slurm.conf, state, spool, pid files, logs) lives inside DIR, and it
# uses its own ports and munge socket, so it does not touch another SLURM or
# munge on the machine. Needs root (slurmd does).
#
#   scripts/slurm-local-cluster.sh start DIR [CPUS]   # CPUS defaults to 2
#   eval "$(scripts/slurm-local-cluster.sh env DIR)"  # SLURM_CONF for sbatch...
#   sbatch --wrap=true; squeue; scancel ...
#   scripts/slurm-local-cluster.sh stop DIR
#
# `start` returns once `sinfo` reports the node idle; if it does not within
# SLURM_LOCAL_START_TIMEOUT seconds (default 60), it stops what it started,
# prints the daemons' log tails and exits 1. `stop` cancels the cluster's jobs,
# then ends the munged, slurmctld and slurmd whose pid files are in DIR (and
# nothing else). Ports: SLURM_LOCAL_CTLD_PORT / SLURM_LOCAL_SLURMD_PORT, else
# free ones picked at random.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR [CPUS] | stop DIR | env DIR" >&2
  exit 2
}

log() { echo "slurm-local-cluster: $*" >&2; }

# True when something listens on 127.0.0.1:$1 (bash's /dev/tcp: no ss or
# netstat on a bare Debian image).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 20000))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  log "no free port found"
  return 1
}

# The pid in a pid file, if that process is still the named program (a stale
# pid file must not make us signal an unrelated process).
live_pid() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  echo "$pid"
}

# Sends TERM, waits up to 10 s, then KILL.
stop_daemon() {
  local file=$1 name=$2 pid
  pid=$(live_pid "$file" "$name") || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    live_pid "$file" "$name" >/dev/null || return 0
    sleep 0.1
  done
  log "$name ($pid) ignored SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

tails() {
  local dir=$1 f
  for f in "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/munge/munged.log"; do
    echo "---- last lines of $f ----"
    tail -n 30 "$f" 2>/dev/null || echo "(no such file)"
  done
}

write_conf() {
  local dir=$1 cpus=$2 ctld_port=$3 slurmd_port=$4
  cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local-cluster.sh: a single-node test cluster.
ClusterName=mixsweep-local
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers, CI machines): track processes by parentage.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
# No accounting: sacct is not available, squeue and scontrol are.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Tests: SIGKILL 5 s after the time limit's SIGTERM (scancel, time limit);
# ended jobs stay visible to scontrol/squeue -t all for a minute.
KillWait=5
MinJobAge=60
# Benchmarks submit 2,000-job arrays (the default maximum is 1,001).
MaxArraySize=100001
InactiveLimit=0
ReturnToService=2
# No backfill (one partition, no reservations); batch jobs are scheduled
# without the default 3 s batching delay. (No sched_min_interval here:
# sched/builtin reads any "interval=" as its own interval.)
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
# The node as configured, whatever the machine reports (more or fewer CPUs).
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1 State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  local dir=$1
  # 0755: munged wants its socket directory searchable by every client.
  install -d -m 0755 -o munge -g munge "$dir/munge"
  # A 1 KiB random key of our own, readable by munge only (munged checks).
  head -c 1024 /dev/urandom >"$dir/munge/munge.key"
  chown munge:munge "$dir/munge/munge.key"
  chmod 0400 "$dir/munge/munge.key"
  runuser -u munge -- munged \
    --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed"
}

wait_idle() {
  local dir=$1 timeout=${SLURM_LOCAL_START_TIMEOUT:-60} state=""
  local deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    state=$(sinfo -h -N -o %T 2>/dev/null || true)
    [ "$state" = "idle" ] && return 0
    sleep 0.2
  done
  log "the node is not idle after ${timeout} s (sinfo says: '${state:-nothing}')"
  tails "$dir" >&2
  return 1
}

cmd_start() {
  local dir=$1 cpus=${2:-2}
  [ "$(id -u)" -eq 0 ] || { log "must run as root (slurmd runs jobs as their users)"; exit 1; }
  id munge >/dev/null 2>&1 || { log "no munge user: install munge (apt-get install munge)"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # munged (as user munge) must reach its socket directory inside DIR.
  chmod 0755 "$dir"
  mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
  local ctld_port=${SLURM_LOCAL_CTLD_PORT:-$(free_port)}
  local slurmd_port=${SLURM_LOCAL_SLURMD_PORT:-$(free_port)}
  write_conf "$dir" "$cpus" "$ctld_port" "$slurmd_port"
  export SLURM_CONF="$dir/slurm.conf"

  if ! start_munge "$dir"; then
    log "munged did not start"
    tails "$dir" >&2
    exit 1
  fi
  # -i: ignore any saved state; -c: clear jobs (a fresh cluster each time).
  if ! slurmctld -f "$SLURM_CONF" -i -c || ! slurmd -f "$SLURM_CONF" -N localhost; then
    log "slurmctld or slurmd did not start"
    tails "$dir" >&2
    cmd_stop "$dir"
    exit 1
  fi
  if ! wait_idle "$dir"; then
    cmd_stop "$dir"
    exit 1
  fi
  log "up: SLURM_CONF=$SLURM_CONF (slurmctld port $ctld_port, slurmd port $slurmd_port, $cpus CPUs)"
}

# Cancels what is still queued or running, so that no slurmstepd (and no job
# process) outlives the cluster, then waits briefly for the jobs to end.
cancel_jobs() {
  local dir=$1
  live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null || return 0
  export SLURM_CONF="$dir/slurm.conf"
  squeue -h -o %i 2>/dev/null | xargs -r scancel --quiet 2>/dev/null || true
  # SIGTERM, then SIGKILL after KillWait (5 s).
  for _ in $(seq 1 150); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 0.1
  done
}

cmd_stop() {
  local dir=$1
  [ -f "$dir/slurm.conf" ] || { log "$dir holds no cluster"; return 0; }
  cancel_jobs "$dir"
  stop_daemon "$dir/run/slurmd.pid" slurmd
  stop_daemon "$dir/run/slurmctld.pid" slurmctld
  stop_daemon "$dir/munge/munged.pid" munged
}

cmd_env() {
  local dir
  dir=$(cd "$1" && pwd)
  echo "export SLURM_CONF=$dir/slurm.conf"
}

[ $# -ge 2 ] || usage
case "$1" in
  start) [ $# -le 3 ] || usage; cmd_start "$2" "${3:-2}" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  env) [ $# -eq 2 ] || usage; cmd_env "$2" ;;
  *) usage ;;
esac
