#!/usr/bin/env bash
# The hot-standby pair, measured at the client (acd-loadgen), all in one run:
# 1. failover: TRIALS times, a pair with the default timing (heartbeats 10 ms, dead after 50 ms,
#    etcd swap budget 20 ms) under 300 calls/s; kill -9 of the primary; the figure is the time from
#    the kill to the first datagram the client receives carrying the new epoch (an answer of the
#    new primary: a standby's NotPrimary carries its old one), with lost, duplicated, error and
#    epoch-conflict counts per trial. Clock: this script's `date` before it starts the load
#    generator, plus the generator's first_seen_ms counted from its own start (a few ms later), so
#    the figure is low by the generator's start-up time.
# 2. replication cost: the highest loss-free rate (acd-loadgen --rate max) of a single node and of
#    a primary with its standby on the same machine (same configuration, no journal), then each
#    one's latency at half of the single node's rate.
# Usage: bench/ha_bench.sh [BUILD_DIR] [TRIALS] [SECONDS]
set -euo pipefail
build=${1:-build}
trials=${2:-20}
seconds=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
source "$here/tests/require.sh"
source "$here/tests/loadgen_lib.sh"
source "$here/tests/etcd_lib.sh"
source "$here/tests/ha/pair_lib.sh"
work=$(mktemp -d)
trap 'stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT  # a timeout or Ctrl-C still stops every process the script started
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),\{0,1\}\$/\1/p" "$1"; }

echo "== failover: $trials trials, kill -9 of the primary under 300 calls/s"
printf "%5s %10s %6s %5s %6s %8s\n" trial ms lost dups errors conflicts
gaps=()
for t in $(seq "$trials"); do
  pair_setup "$work/t$t" "$acdd" "$acdctl" "$here/control/default/acd.toml" 0 >/dev/null
  sed -i 's/^heartbeat_ms = .*/heartbeat_ms = 10/; s/^dead_after_ms = .*/dead_after_ms = 50/' \
    "$work/t$t/a/acd.toml" "$work/t$t/b/acd.toml"
  start_node a primary
  wait_log a "ha: primary with epoch 1"
  start_node b standby
  wait_log a "standby synchronous at seq [1-9]" 15
  started_ns=$(date +%s%N)
  "$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 300 --duration 3 --agents 30 \
    --talk-ms 50 --json >"$work/t$t.json" 2>"$work/t$t.err" &
  load=$!
  # The kill lands in the routing load, half a second in, not among the sign-ins before it.
  for _ in $(seq 300); do grep -qs "load starts" "$work/t$t.err" && break; sleep 0.05; done
  sleep 0.5
  killed_ns=$(date +%s%N)
  kill -9 "$PID_a"
  wait "$PID_a" 2>/dev/null || true
  PID_a=
  wait "$load" || true
  gap=$(python3 - "$work/t$t.json" "$started_ns" "$killed_ns" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
started, killed = int(sys.argv[2]), int(sys.argv[3])
seen = [e["first_seen_ms"] for e in report.get("epochs", []) if e["epoch"] >= 2]
print("%.1f" % ((started + min(seen) * 1e6 - killed) / 1e6) if seen else "nan")
PY
)
  gaps+=("${gap:-nan}")
  printf "%5s %10s %6s %5s %6s %8s\n" "$t" "${gap:-none}" "$(field "$work/t$t.json" lost)" \
    "$(field "$work/t$t.json" duplicates)" "$(field "$work/t$t.json" errors)" \
    "$(field "$work/t$t.json" epoch_conflicts)"
  stop_pair
  PID_b=
done
printf "%s\n" "${gaps[@]}" | grep -v nan | sort -n | awk '
  { v[NR] = $1 }
  END { if (NR == 0) { print "no failover measured"; exit }
        printf "kill -9 to the new epoch at the client, %d trials: median %.1f ms, p90 %.1f ms, max %.1f ms\n",
               NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.999)], v[NR] }'

echo "== replication cost: highest loss-free rate, single node vs primary with standby"
pair_setup "$work/cost" "$acdd" "$acdctl" "$here/control/default/acd.toml" 0 >/dev/null
sed -i '/^\[journal\]/,/^$/d' "$work/cost/a/acd.toml" "$work/cost/b/acd.toml"
# The production default, not the test pair's frequent checks.
sed -i 's/^hash_every = .*/hash_every = 10000/' "$work/cost/a/acd.toml" "$work/cost/b/acd.toml"
single=$work/cost/single.toml
sed '/^\[ha\]/,$d' "$work/cost/a/acd.toml" >"$single"
"$acdd" --config "$single" >"$work/single.out" 2>&1 &
spid=$!
sleep 1
"$loadgen" --target "127.0.0.1:$PORT_a" --rate max --duration "$seconds" --agents 30 --json >"$work/single_max.json"
single_max=$(field "$work/single_max.json" max_loss_free_rate)
half=$(awk "BEGIN{print int($single_max / 2)}")
"$loadgen" --target "127.0.0.1:$PORT_a" --rate "$half" --duration "$seconds" --agents 30 --json >"$work/single_half.json"
kill -TERM "$spid"; wait "$spid" || true
rm -f "$work/cost/a/ctl.sock"
start_node a primary
wait_log a "ha: primary with epoch"
start_node b standby
wait_log a "standby synchronous at seq [1-9]" 15
"$loadgen" --target "127.0.0.1:$PORT_a" --rate max --duration "$seconds" --agents 30 --json >"$work/pair_max.json"
pair_max=$(field "$work/pair_max.json" max_loss_free_rate)
"$loadgen" --target "127.0.0.1:$PORT_a" --rate "$half" --duration "$seconds" --agents 30 --json >"$work/pair_half.json"
printf "%-22s %14s %10s %10s %10s\n" setup max_loss_free "p50_us@$half" "p99_us@$half" "p999_us"
for s in single pair; do
  printf "%-22s %14s %10s %10s %10s\n" "$s" "$(field "$work/${s}_max.json" max_loss_free_rate)" \
    "$(field "$work/${s}_half.json" p50_us)" "$(field "$work/${s}_half.json" p99_us)" \
    "$(field "$work/${s}_half.json" p999_us)"
done
awk "BEGIN{printf \"pair / single highest loss-free rate = %.0f / %.0f = %.2f\n\", $pair_max, $single_max, $pair_max/$single_max}"
