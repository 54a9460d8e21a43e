#!/usr/bin/env bash
# Trivial jobs end to end, SLURM vs mixsweep, on this machine (issue 8, item 5,
# first bullet). Each leg runs N jobs whose whole work is `true` and reports
# jobs/s from the first submission to the last completion:
#
#   slurm        N x `sbatch --wrap=true` on a 2-CPU single-node SLURM
#                (scripts/slurm-local-cluster.sh: its own munged, slurmctld,
#                slurmd; one CPU per job)
#   slurm-array  one `sbatch --array=0-(N-1) --wrap=true` on the same
#   mixsweep     one sweep of N train jobs whose template is `shell: "true"`
#                (0 GPUs) through 2 real mixsweep-worker processes with one
#                CPU slot each (one job at a time, as one SLURM CPU), on a
#                mixsweepd with its own local PostgreSQL (stock settings)
#
#   bench/slurm_compare.sh                    # all three legs, N = 2000
#   JOBS=200 bench/slurm_compare.sh mixsweep  # one leg
#   BUILD=build-test bench/slurm_compare.sh   # binaries of another build dir
#
# Needs root (slurmd), slurm-wlm and munge (scripts/install-deps.sh), and a
# build (scripts/build.sh build -DCMAKE_BUILD_TYPE=Release). Prints one line
# per leg and a markdown table; the temp dirs go at the end (KEEP=1 keeps
# them, with every log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2000}
build=${BUILD:-build}
legs=("$@")
[ ${#legs[@]} -gt 0 ] || legs=(slurm slurm-array mixsweep)

work=$(mktemp -d /tmp/slurm_compare.XXXXXX)
chmod 0755 "$work"
declare -A rate seconds
pids=()
cleanup() {
  # Newest first: the workers hand back and leave before mixsweepd stops.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  [ -f "$work/slurm/slurm.conf" ] && scripts/slurm-local-cluster.sh stop "$work/slurm"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# "<jobs> <t0> <t1>" -> jobs/s and seconds, 2 decimals.
record() {
  local leg=$1 t0=$2 t1=$3
  seconds[$leg]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  rate[$leg]=$(awk -v n="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", n / (b - a) }')
  echo "$leg: $jobs jobs in ${seconds[$leg]} s: ${rate[$leg]} jobs/s" >&2
}

# ------------------------------------------------------------------ SLURM

slurm_up() {
  [ -f "$work/slurm/slurm.conf" ] && return 0
  scripts/slurm-local-cluster.sh start "$work/slurm" 2
}

# Until no job of the cluster is pending, running or completing.
slurm_drain() {
  while [ -n "$(squeue -h -o %i)" ]; do sleep 0.2; done
}

leg_slurm() {
  slurm_up
  export SLURM_CONF=$work/slurm/slurm.conf
  local t0 t1 submitted
  t0=$(now)
  for _ in $(seq "$jobs"); do sbatch -Q --chdir="$work" -o /dev/null --wrap=true; done
  submitted=$(now)
  echo "slurm: $jobs sbatch calls took $(awk -v a="$t0" -v b="$submitted" 'BEGIN { printf "%.1f", b - a }') s" >&2
  slurm_drain
  t1=$(now)
  record slurm "$t0" "$t1"
}

leg_slurm_array() {
  slurm_up
  export SLURM_CONF=$work/slurm/slurm.conf
  local t0 t1
  t0=$(now)
  sbatch -Q --chdir="$work" -o /dev/null --array="0-$((jobs - 1))" --wrap=true
  slurm_drain
  t1=$(now)
  record slurm-array "$t0" "$t1"
}

# --------------------------------------------------------------- mixsweep

# N train jobs: 2 N_tele values x the teleop-only baseline x N/2 seeds, each
# `/bin/sh -c true`, as SLURM's --wrap runs it.
write_spec() {
  local seeds
  seeds=$(seq -s, 0 $((jobs / 2 - 1)))
  cat >"$work/spec.yaml" <<EOF
version: 1
name: trivial-jobs
task:
  name: trivial
  rubric:
    milestones:
      - {name: done, score: 1.0}
policy: none
code_version: git:0
teleop:
  dataset:
    uri: file:///data/trivial/teleop
    episodes: 200
  cost_per_demo_hours: 0.02
  n_tele: [50, 100]
sources:
  - name: none
    kind: simulation
    dataset:
      uri: file:///data/trivial/none
      episodes: 10
    cost_per_demo_hours: 0.001
    n_nt: [0]
seeds: [$seeds]
protocol:
  total_steps: 1
evaluation:
  trials_per_scenario: 1
  scenarios: [in_domain]
templates:
  train:
    shell: "true"
resources:
  gpus: 0
max_attempts: 1
EOF
}

leg_mixsweep() {
  local bin=$root/$build
  for b in services/mixsweepd services/mixsweep workers/mixsweep-worker; do
    [ -x "$bin/$b" ] || { echo "no $bin/$b: scripts/build.sh $build first" >&2; exit 1; }
  done
  local dir=$work/mixsweep
  mkdir -p "$dir"
  # mixsweepd runs its local PostgreSQL as the postgres user, in this dir.
  chown postgres "$dir" 2>/dev/null || true
  "$bin/services/mixsweepd" --data-dir "$dir/pg" token bootstrap \
    --token-file "$dir/admin.token" >"$dir/bootstrap.log" 2>&1
  "$bin/services/mixsweepd" --data-dir "$dir/pg" --artifact-root "file://$dir/artifacts" \
    --listen 127.0.0.1:0 --port-file "$dir/port" >"$dir/mixsweepd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
  [ -s "$dir/port" ] || { tail -20 "$dir/mixsweepd.log" >&2; exit 1; }
  export MIXSWEEP_SERVER=127.0.0.1:$(cat "$dir/port")
  local cli=$bin/services/mixsweep
  for i in 1 2; do
    MIXSWEEP_TOKEN_FILE=$dir/admin.token "$cli" token create --principal "worker-$i" \
      --role worker --out "$dir/worker-$i.token" >/dev/null
    "$bin/workers/mixsweep-worker" --name "worker-$i" --token-file "$dir/worker-$i.token" \
      --gpus none --cpu-slots 1 --log-level "${WORKER_LOG_LEVEL:-warn}" >"$dir/worker-$i.log" 2>&1 &
    pids+=($!)
  done
  write_spec
  export MIXSWEEP_TOKEN_FILE=$dir/admin.token
  local t0 t1 out id
  t0=$(now)
  out=$("$cli" sweep submit "$work/spec.yaml")
  id=$(echo "$out" | sed -n 's/^submitted sweep \([0-9]*\):.*/\1/p')
  [ -n "$id" ] || { echo "submit: $out" >&2; exit 1; }
  # The jobs' states straight from mixsweepd's PostgreSQL (its socket in the
  # data dir): a poll that costs the scheduler nothing.
  local psql=(runuser -u postgres -- psql -h "$dir/pg/run" -U mixsweep -d mixsweep -Atq)
  local done=0 failed=0
  while [ "$((done + failed))" -lt "$jobs" ]; do
    sleep 0.2
    read -r done failed < <("${psql[@]}" -F ' ' -c \
      "SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state IN ('failed', 'cancelled')) FROM jobs WHERE sweep_id = $id")
  done
  t1=$(now)
  [ "$failed" -eq 0 ] || { echo "mixsweep: $failed jobs failed" >&2; tail -5 "$dir/worker-1.log" >&2; exit 1; }
  record mixsweep "$t0" "$t1"
}

for leg in "${legs[@]}"; do
  case $leg in
    slurm) leg_slurm ;;
    slurm-array) leg_slurm_array ;;
    mixsweep) leg_mixsweep ;;
    *) echo "unknown leg $leg (slurm, slurm-array, mixsweep)" >&2; exit 2 ;;
  esac
done

echo
echo "| $jobs trivial jobs (\`true\`), 2 CPUs | seconds | jobs/s |"
echo "|---|---:|---:|"
[ -n "${rate[slurm]:-}" ] && echo "| SLURM 22.05, one \`sbatch --wrap=true\` per job | ${seconds[slurm]} | ${rate[slurm]} |"
[ -n "${rate[slurm-array]:-}" ] && echo "| SLURM 22.05, one \`sbatch --array\` | ${seconds[slurm-array]} | ${rate[slurm-array]} |"
[ -n "${rate[mixsweep]:-}" ] && echo "| mixsweep, 2 workers x 1 CPU slot | ${seconds[mixsweep]} | ${rate[mixsweep]} |"
for s in slurm slurm-array; do
  if [ -n "${rate[mixsweep]:-}" ] && [ -n "${rate[$s]:-}" ]; then
    echo "mixsweep / $s: $(awk -v a="${rate[mixsweep]}" -v b="${rate[$s]}" 'BEGIN { printf "%.1f", a / b }') x"
  fi
done
