#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying array jobs and for the
# test suite: munged, slurmctld and slurmd (Debian's munge and slurm-wlm), all
# with their files under DIR, none of the system's configuration touched.
# Needs root (slurmd starts jobs as their users).
#
#   scripts/slurm/local_cluster.sh start DIR   # prints: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm/local_cluster.sh stop DIR
#
# start waits until the node takes jobs and fails, with the daemons' logs, if
# it does not within 60 seconds.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")

stop() {
  local f
  for f in slurmd slurmctld munged; do
    if [ -f "$dir/$f.pid" ]; then
      kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
      rm -f "$dir/$f.pid"
    fi
  done
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) usage ;;
esac

for exe in munged slurmctld slurmd sinfo; do
  command -v "$exe" >/dev/null || { echo "$0: $exe not found: install Debian's munge and slurm-wlm" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (slurmd runs the jobs as their users)" >&2; exit 1; }

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
[ -s "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; }
chmod 600 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"

node=$(hostname -s)
cpus=$(nproc)
mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
# Ports: the cluster takes two above 20000 chosen from the directory's name, so
# that two clusters (or a system Slurm) on one machine do not meet.
base=$((20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 * 2))
cat > "$dir/slurm.conf" <<CONF
ClusterName=r2plus1d-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

for _ in $(seq 60); do
  if sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 1
done
echo "$0: the Slurm node did not come up in 60 s; sinfo says: $(sinfo -h -N 2>&1 | head -3)" >&2
for f in munged slurmctld slurmd; do
  echo "--- $dir/$f.log (last lines)" >&2
  tail -n 15 "$dir/$f.log" >&2 2>/dev/null || true
done
stop
exit 1
