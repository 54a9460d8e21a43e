#!/usr/bin/env bash
# Issue 8's comparisons, back to back on one machine, each against a fresh
# mixsweepd with its own local PostgreSQL (default settings: fsync and
# synchronous_commit on), then a markdown summary with each ratio:
#
#   A  mixsweep vs the database's own limit: dispatch_bench --pgbench at W = 8
#      and 32 (the pgbench job queue of bench/pgbench/ on the same cluster,
#      right after the gRPC run, -c W);
#   B  mixsweep vs Optuna (bench/optuna_bench.py, RDB storage on the same
#      cluster, right after the gRPC run) at W = 2 and 8, and the cost per
#      job / trial as one sweep / study grows from 1,000 to 20,000;
#   C  scheduling overhead: 10,000 one-second jobs on 200 synthetic workers;
#   D  lease latency and mixsweepd's peak memory with 1,000 workers and
#      100,000 queued jobs;
#   then bench/slurm_compare.sh if it exists (the SLURM comparison).
#
# Usage: bench/run_comparisons.sh [--quick] [--repeats N] [--only A,B,C,D,S]
#                                 [--build-dir DIR] [--out DIR]
#   --quick        small sizes, one repeat: a smoke run of a few minutes
#   --repeats N    runs per configuration of A, B and C (default 3); D runs once
#   --only LIST    run only these parts (S: the SLURM script)
#   --optuna-growth-sampler tpe|random
#                  Optuna's sampler for the 20,000-trial study (default tpe,
#                  Optuna's default; its cost grows with the study, so this
#                  part alone takes the better part of an hour on 2 cores)
# Needs: the Release build of dispatch_bench and mixsweepd (cmake --build
# BUILD --target dispatch_bench), /usr/bin/pgbench, Debian's python3-optuna
# and python3-psycopg2. Logs go to --out (default /tmp/mixsweep_comparisons.*).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-bench
out=""
quick=0
repeats=3
only="A,B,C,D,S"
growth_sampler=tpe
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --repeats) repeats="$2"; shift ;;
    --only) only="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    --optuna-growth-sampler) growth_sampler="$2"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
bench="$build/bench/dispatch_bench"
[[ -x "$bench" ]] || { echo "no $bench: cmake --build $build --target dispatch_bench" >&2; exit 2; }
out="${out:-$(mktemp -d /tmp/mixsweep_comparisons.XXXXXX)}"
mkdir -p "$out"
py=/usr/bin/python3
want() { [[ ",$only," == *",$1,"* ]]; }

if [[ $quick == 1 ]]; then
  repeats=1
  a_jobs=500;  b_jobs=300;  b_trials=300;  g_jobs=2000;  g_window=500;  g_trials=2000
  c_workers=50; c_jobs=500; d_workers=200; d_sweeps=2; d_jobs=1000; d_sample=1000; d_job_s=2
  growth_sampler=random
else
  a_jobs=5000; b_jobs=1000; b_trials=1000; g_jobs=20000; g_window=1000; g_trials=20000
  c_workers=200; c_jobs=10000; d_workers=1000; d_sweeps=10; d_jobs=10000; d_sample=10000; d_job_s=10
fi

echo "# mixsweep comparisons, $(date -u '+%F %T UTC'), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); logs in $out"

run() {  # name, command...: runs it, output to the terminal and $out/name.log
  local name="$1"; shift
  echo; echo "## $name: $*"
  "$@" 2>&1 | tee "$out/$name.log"
}

# A: the pgbench reference, same cluster, -c W, right after each gRPC run.
if want A; then
  run A "$bench" --workers 8,32 --jobs "$a_jobs" --repeats "$repeats" --pgbench \
    --time-limit-seconds 600 || true
fi
# B: Optuna at equal worker counts (trivial objective, Optuna's default sampler
# and the random sampler), then the growth of one sweep / one study.
if want B; then
  run B "$bench" --workers 2,8 --jobs "$b_jobs" --repeats "$repeats" --time-limit-seconds 600 \
    --after-run "$py bench/optuna_bench.py --trials $b_trials --window $b_trials --sampler tpe && $py bench/optuna_bench.py --trials $b_trials --window $b_trials --sampler random" || true
  run B-growth "$bench" --workers 2 --jobs "$g_jobs" --max-runs-per-sweep "$g_jobs" \
    --window "$g_window" --time-limit-seconds 1800 \
    --after-run "$py bench/optuna_bench.py --trials $g_trials --window $g_window --sampler $growth_sampler" || true
fi
# C: scheduling overhead, one-second jobs (no heartbeat needed under the 60 s lease TTL).
if want C; then
  run C "$bench" --workers "$c_workers" --jobs "$c_jobs" --job-seconds 1 --repeats "$repeats" \
    --lease-wait-seconds 5 --time-limit-seconds 900 || true
fi
# D: 1,000 workers, 100,000 jobs queued first; leases sampled after each
# worker's first (jobs last 5-15 s, so 1,000 workers ask ~100 times a second).
if want D; then
  run D "$bench" --workers "$d_workers" --prequeue --sweeps "$d_sweeps" --jobs "$d_jobs" \
    --job-seconds "$d_job_s" --job-jitter 0.5 --sample-leases "$d_sample" \
    --lease-wait-seconds 5 --time-limit-seconds 1800 || true
fi
if want S && [[ -x bench/slurm_compare.sh ]]; then
  run S bench/slurm_compare.sh $([[ $quick == 1 ]] && echo --quick) || true
elif want S && [[ -f bench/slurm_compare.sh ]]; then
  run S bash bench/slurm_compare.sh $([[ $quick == 1 ]] && echo --quick) || true
fi

# ---- Summary ----------------------------------------------------------------
# field FILE PATTERN KEY: the value of KEY= on the line matching PATTERN
# (dispatch_bench's "summary W=..." lines: median[min,max]).
field() { grep -E "$2" "$1" 2>/dev/null | head -1 | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; }
med() { echo "${1%%\[*}"; }
# "m[lo,hi]" -> "m (lo-hi)", or "m" where lo = hi.
cell() { echo "$1" | sed -E 's/^([^[]*)\[([^,]*),([^]]*)\]$/\1 (\2-\3)/; s/^([^ ]*) \(\1-\1\)$/\1/'; }
# Median of KEY over the lines matching PATTERN (optuna_bench: one line per run).
median_of() {
  grep -E "$2" "$1" 2>/dev/null | sed -n "s/.* $3=\([^ ]*\).*/\1/p" | sort -g |
    awk '{v[NR]=$1} END {if (NR) {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.4g", m; if (NR>1) printf " (%.4g-%.4g)", v[1], v[NR]}}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3g", a / b; else printf "n/a"}'; }

echo
echo "## Summary (medians; min-max in brackets where repeated; logs in $out)"
echo
echo "| comparison | mixsweep | reference | ratio | target |"
echo "|---|---|---|---|---|"
if want A && [[ -f $out/A.log ]]; then
  for w in 8 32; do
    m=$(field "$out/A.log" "^summary W=$w " jobs_per_s); p=$(field "$out/A.log" "^summary W=$w " pgbench_jobs_per_s)
    r=$(field "$out/A.log" "^summary W=$w " ratio_pgbench)
    echo "| A: jobs/s vs pgbench queue, $w clients | $(cell "$m") | $(cell "$p") | $(cell "$r") | >= 2 |"
  done
fi
if want B && [[ -f $out/B.log ]]; then
  for w in 2 8; do
    m=$(field "$out/B.log" "^summary W=$w " jobs_per_s)
    for s in tpe random; do
      o=$(median_of "$out/B.log" "^summary optuna sampler=$s W=$w " trials_per_s)
      echo "| B: jobs/s vs Optuna ($s sampler) trials/s, $w workers | $(cell "$m") | $o | $(ratio "$(med "$m")" "${o%% *}") | >= 20 |"
    done
  done
fi
if want B && [[ -f $out/B-growth.log ]]; then
  mg=$(field "$out/B-growth.log" "^summary W=2 " window_growth)
  mf=$(field "$out/B-growth.log" "^summary W=2 " window_first_ms); ml=$(field "$out/B-growth.log" "^summary W=2 " window_last_ms)
  og=$(median_of "$out/B-growth.log" "^summary optuna" window_growth)
  of=$(median_of "$out/B-growth.log" "^summary optuna" window_first_ms); ol=$(median_of "$out/B-growth.log" "^summary optuna" window_last_ms)
  echo "| B: ms per job (trial), first vs last window of $g_jobs, 2 workers | $(med "$mf") -> $(med "$ml") (x$(med "$mg")) | $of -> $ol (x$og, $growth_sampler) | mixsweep last window $(ratio "$ol" "$(med "$ml")")x faster | flat |"
fi
if want C && [[ -f $out/C.log ]]; then
  o=$(field "$out/C.log" "^summary W=$c_workers " overhead_pct)
  echo "| C: (wall - ideal) / ideal, $c_jobs x 1 s jobs on $c_workers workers, % | $(cell "$o") | Ray Tune 14 (715 s vs 625 s) | | < 2 |"
fi
if want D && [[ -f $out/D.log ]]; then
  p50=$(field "$out/D.log" "^summary W=$d_workers " lease_p50_ms); p99=$(field "$out/D.log" "^summary W=$d_workers " lease_p99_ms)
  f99=$(field "$out/D.log" "^summary W=$d_workers " first_lease_p99_ms); mem=$(field "$out/D.log" "^summary W=$d_workers " vmhwm_mib)
  echo "| D: lease p50 / p99 ms, $d_workers workers, $((d_sweeps * d_jobs)) queued | $(med "$p50") / $(med "$p99") (first lease of each, all at once: p99 $(med "$f99")) | | | p99 < 20 |"
  echo "| D: mixsweepd peak memory (VmHWM), MiB | $(med "$mem") | | | < 300 |"
fi
if want S && [[ -f $out/S.log ]]; then
  s=$(grep -E '^summary slurm' "$out/S.log" | tail -1 || true)
  echo "| SLURM (bench/slurm_compare.sh) | ${s:-see $out/S.log} | | | >= 50 |"
fi
