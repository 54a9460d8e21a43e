#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts mixsweepd on its own
# local PostgreSQL (in .mixsweep/ here), two synthetic GPU workers and the
# synthetic lab (a robot operator drawing trial outcomes from a ground truth),
# submits the Pick Dual Bottles sweep of seed 000, follows it until every run
# is trained and evaluated, and prints the eta table with its intervals beside
# the ground truth. Then stops everything (the data stays for next time).
#
# While it runs, the web dashboard (http://127.0.0.1:8080/, or
# $MIXSWEEP_DASHBOARD_PORT) shows the sweep live, and Prometheus metrics are
# on http://127.0.0.1:9464/metrics ($MIXSWEEP_METRICS_PORT). Run from a
# terminal, it keeps serving them after the sweep until Ctrl-C
# (MIXSWEEP_DEMO_KEEP=0 to stop at once, 1 to keep without a terminal).
#
# Every call is authenticated, as in a real lab: the first admin token is
# made locally (`mixsweepd token bootstrap`), and each process gets a token
# of its own role: the researcher (this script's CLI), one worker token per
# worker, an operator token for the lab. Tokens are files under
# $data/tokens (mode 0600), kept for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

data="${MIXSWEEP_DEMO_DIR:-$root/.mixsweep}"
mkdir -p "$data"

scripts/install-deps.sh
echo "== building mixsweep (log: $data/build.log; a first build takes a few minutes)"
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DMIXSWEEP_BUILD_TESTS=OFF \
  -DMIXSWEEP_BUILD_BENCH=OFF > "$data/build.log" 2>&1 || { tail -40 "$data/build.log"; exit 1; }

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

tokens="$data/tokens"
mkdir -p "$tokens"
chmod 700 "$tokens"
if [ ! -s "$tokens/admin.token" ]; then
  echo "== making the first admin token (mixsweepd token bootstrap)"
  build/services/mixsweepd --data-dir "$data/pg" token bootstrap \
    --token-file "$tokens/admin.token" >> "$data/mixsweepd.log" 2>&1 ||
    { tail -5 "$data/mixsweepd.log"; exit 1; }
fi

port_file="$data/mixsweepd.port"
rm -f "$port_file" "$data/dashboard.port" "$data/metrics.port"
# A busy port (another demo?) falls back to any free one.
free_or_zero() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && echo 0 || echo "$1"; }
dashboard_port=$(free_or_zero "${MIXSWEEP_DASHBOARD_PORT:-8080}")
metrics_port=$(free_or_zero "${MIXSWEEP_METRICS_PORT:-9464}")
build/services/mixsweepd --data-dir "$data/pg" --artifact-root "file://$data/artifacts" \
  --listen 127.0.0.1:0 --port-file "$port_file" \
  --dashboard-listen "127.0.0.1:$dashboard_port" --dashboard-port-file "$data/dashboard.port" \
  --metrics-listen "127.0.0.1:$metrics_port" --metrics-port-file "$data/metrics.port" \
  > "$data/mixsweepd.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  [ -s "$port_file" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$data/mixsweepd.log"; exit 1; }
  sleep 0.1
done
[ -s "$port_file" ] || { echo "mixsweepd did not start; see $data/mixsweepd.log"; exit 1; }
export MIXSWEEP_SERVER="127.0.0.1:$(cat "$port_file")"
cli=build/services/mixsweep
echo "== mixsweepd is serving on $MIXSWEEP_SERVER (log: $data/mixsweepd.log)"

# A token per role, made by the admin once: mixsweep token create.
token_for() {  # principal role -> the token file
  local file="$tokens/$1.token"
  if [ ! -s "$file" ]; then
    MIXSWEEP_TOKEN_FILE="$tokens/admin.token" $cli token create --principal "$1" --role "$2" \
      --out "$file" > /dev/null
  fi
  echo "$file"
}
export MIXSWEEP_TOKEN_FILE="$(token_for demo-researcher researcher)"
echo "== tokens: researcher (this CLI), worker x2, operator (lab) in $tokens; mixsweep whoami: $($cli whoami)"
# The dashboard asks for a token of a role that may read; this link carries a
# viewer token in its #fragment (never sent to the server in the URL).
viewer_secret=$(head -n1 "$(token_for demo-lead viewer)")
dashboard_url="http://127.0.0.1:$(cat "$data/dashboard.port")/"
echo "== dashboard: ${dashboard_url}#token=$viewer_secret"
echo "   (a read-only viewer token rides in the link; metrics: http://127.0.0.1:$(cat "$data/metrics.port")/metrics)"

# Synthetic workers: no GPU needed; each pretends to have one and trains at
# 5,000 steps/s, so a 13,000-step job takes under 3 seconds.
for i in 1 2; do
  build/workers/mixsweep-worker --name "synthetic-$i" --synthetic --synthetic-gpus 1 \
    --token-file "$(token_for "synthetic-$i" worker)" \
    --synthetic-steps-per-second 5000 > "$data/worker-$i.log" 2>&1 &
  pids+=($!)
done
echo "== started 2 synthetic workers (logs: $data/worker-*.log)"

# The synthetic lab: one robot, an operator who evaluates each checkpoint as
# it lands, blind (labels only), through the real evaluation API.
truth=docs/examples/pick_dual_bottles.truth.yaml
build/services/mixsweep-lab --robot demo-aloha-1 --truth "$truth" --seed 1 \
  --token-file "$(token_for demo-operator operator)" \
  --poll-ms 200 > "$data/lab.log" 2>&1 &
pids+=($!)
echo "== started the synthetic lab (ground truth: $truth; log: $data/lab.log)"

echo "== submitting docs/examples/pick_dual_bottles.yaml"
out=$($cli sweep submit docs/examples/pick_dual_bottles.yaml)
echo "$out"
id=$(echo "$out" | sed -n 's/^submitted sweep \([0-9]*\):.*/\1/p')

echo "== training and evaluating (mixsweep sweep show $id, every 2 s)"
while :; do
  shown=$($cli sweep show "$id")
  echo "$shown" | grep -m2 -E '^\[|^evaluations '  # the jobs and evaluations bars
  # Done when the sweep completed: every job ended, every evaluation recorded.
  echo "$shown" | grep -m1 '^Sweep ' | grep -q '\[completed\]' && break
  echo "$shown" | grep -m1 '^Sweep ' | grep -q '\[cancelled\]' && exit 1
  sleep 2
done
# The last trials' estimates are recomputed within moments of their commit.
sleep 2
echo
echo "== mixsweep workers"
$cli workers 2>/dev/null || true
echo
echo "== mixsweep sweep show $id"
$cli sweep show "$id"
echo
echo "== mixsweep util show $id --truth $truth"
$cli util show "$id" --truth "$truth"
echo
echo "== mixsweep util recommend $id --scenario in_domain --source sim --budget 4"
$cli util recommend "$id" --scenario in_domain --source sim --budget 4
echo
echo "== dashboard of this sweep: ${dashboard_url}#/sweeps/$id (viewer token: $tokens/demo-lead.token)"
keep="${MIXSWEEP_DEMO_KEEP:-}"
if [ -z "$keep" ]; then [ -t 0 ] && keep=1 || keep=0; fi
if [ "$keep" = 1 ]; then
  echo "   still serving: open ${dashboard_url}#token=$viewer_secret then sweep $id; Ctrl-C stops everything"
  wait "${pids[0]}" || true
fi
