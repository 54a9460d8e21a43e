#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/FUZZING.md) with clang under
# AddressSanitizer and UBSan, and runs each for a while.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--out DIR] [TARGET...]
#
#   --seconds N  wall-clock seconds per target (default 60)
#   --jobs J     fuzzing processes per target (default 1; J > 1 uses
#                libFuzzer's -fork=J)
#   --out DIR    where crash files (artifacts), logs and the inputs found are
#                written (default: a new directory under /tmp); printed
#   TARGET       spec_fuzzer, command_render_fuzzer, trial_fuzzer (default:
#                all three, one after the other)
#
# The corpus kept in the repository (fuzz/corpus/<target>/) is only read:
# new inputs go to DIR/corpus/<target>/, so a run never grows the repository.
# Exits non-zero if any target crashed, leaked, timed out (-timeout=10), ran
# out of memory (-rss_limit_mb=2048), or printed a sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
jobs=1
out=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(spec_fuzzer command_render_fuzzer trial_fuzzer)
case "$seconds$jobs" in *[!0-9]*) echo "fuzz.sh: --seconds and --jobs take integers" >&2; exit 2 ;; esac

scripts/install-deps.sh --fuzz

build=build-fuzz
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
cmake --no-warn-unused-cli -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DMIXSWEEP_FUZZ=ON -DMIXSWEEP_BUILD_TESTS=OFF -DMIXSWEEP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

[ -n "$out" ] || out="$(mktemp -d /tmp/mixsweep-fuzz.XXXXXX)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
echo "fuzz.sh: artifacts, logs and new inputs in $out"

# Leaks are reported by libFuzzer itself (-detect_leaks=1, its default).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  [ -d "$seeds" ] || { echo "fuzz.sh: no corpus $seeds" >&2; exit 2; }
  new="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  log="$out/$target.log"
  mkdir -p "$new" "$artifacts"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [ -f "fuzz/$target.dict" ] && args+=(-dict="fuzz/$target.dict")
  [ "$jobs" -gt 1 ] && args+=(-fork="$jobs")
  echo "fuzz.sh: $target for ${seconds}s ($jobs process(es)), log $log"
  # The first directory receives new inputs; the repository's is only read.
  TIMEFORMAT='%U %S'
  status=0
  { time "$build/fuzz/$target" "${args[@]}" "$new" "$seeds" >"$log" 2>&1 ; } 2>"$out/$target.time" \
    || status=$?
  read -r user sys <"$out/$target.time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }')
  # Executions: the final stats (one process), else the last status line (fork).
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  found=$(find "$new" -type f | wc -l)
  crashes=$(find "$artifacts" -type f | wc -l)
  reports=$(grep -c -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==FUZZ INVARIANT==' "$log" || true)
  line="$target: ${cpu} CPU-s, ${execs:-?} execs, $found new inputs, $crashes artifact(s), exit $status"
  summary+=("$line")
  echo "fuzz.sh: $line"
  if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ] || [ "$reports" -gt 0 ]; then
    failed+=("$target")
    grep -E -A25 'ERROR: |runtime error:|==FUZZ INVARIANT==' "$log" | head -60 >&2 || true
    echo "fuzz.sh: $target FAILED; reproduce with: $build/fuzz/$target <artifact>" >&2
  fi
done

echo "fuzz.sh: summary (artifacts in $out/artifacts)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash, leak, timeout or sanitizer report"
