#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts mixsweepd on its own
# local PostgreSQL (in .mixsweep/ here), submits the Pick Dual Bottles sweep
# of seed 000 and shows it; then stops mixsweepd (the data stays for next time).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

data="${MIXSWEEP_DEMO_DIR:-$root/.mixsweep}"
mkdir -p "$data"

scripts/install-deps.sh
echo "== building mixsweep (log: $data/build.log; a first build takes a few minutes)"
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DMIXSWEEP_BUILD_TESTS=OFF \
  -DMIXSWEEP_BUILD_BENCH=OFF > "$data/build.log" 2>&1 || { tail -40 "$data/build.log"; exit 1; }
port_file="$data/mixsweepd.port"
rm -f "$port_file"
build/services/mixsweepd --data-dir "$data/pg" --listen 127.0.0.1:0 --port-file "$port_file" \
  > "$data/mixsweepd.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT

for _ in $(seq 600); do
  [ -s "$port_file" ] && break
  kill -0 $daemon 2>/dev/null || { cat "$data/mixsweepd.log"; exit 1; }
  sleep 0.1
done
[ -s "$port_file" ] || { echo "mixsweepd did not start; see $data/mixsweepd.log"; exit 1; }
export MIXSWEEP_SERVER="127.0.0.1:$(cat "$port_file")"
cli=build/services/mixsweep

echo "== mixsweepd is serving on $MIXSWEEP_SERVER (log: $data/mixsweepd.log)"
echo "== submitting docs/examples/pick_dual_bottles.yaml"
out=$($cli sweep submit docs/examples/pick_dual_bottles.yaml)
echo "$out"
id=$(echo "$out" | sed -n 's/^submitted sweep \([0-9]*\):.*/\1/p')
echo
echo "== mixsweep sweep show $id --jobs"
$cli sweep show "$id" --jobs
echo
echo "== mixsweep sweep list"
$cli sweep list
