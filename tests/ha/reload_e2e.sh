#!/usr/bin/env bash
# A configuration reload on the primary of a pair, end to end (two acdd, one etcd, acd-loadgen):
# 1. under light load, an in-place reload (SIGHUP: a queue's parameters) and a structural one
#    (acdctl config reload: five more agents, the engine swapped) on the primary: the standby
#    applies each at its place in the log and stays a synchronous standby, never out of service;
#    hash checks go on and none mismatches; every call is routed exactly once.
# 2. kill -9 of the primary: the standby promotes and runs the reloaded configuration (the queue's
#    new parameters, the new agents; its file, edited alike, differs in nothing).
# 3. the journals: the promoted node's replays (through the reload records) to the state hash it
#    stopped with, and both nodes start from their journals with the reloaded configuration.
# With RELOAD_EXTRA_AGENTS=N, both nodes start with N agents more (a centre whose reload record is
# larger than one log record: it travels in pieces, and everything above holds the same).
# Usage: reload_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
work=$(mktemp -d)
trap 'kill -9 ${load:-} ${single:-} 2>/dev/null || true; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT  # a timeout or Ctrl-C still stops every process the script started
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
extra=${RELOAD_EXTRA_AGENTS:-0}
if [ "$extra" -gt 0 ]; then
  for n in a b; do
    # After the first group (acd-loadgen's agents 1000.. keep their places) and before the
    # others (the reload's five new agents come last, as without them).
    awk -v extra="$extra" '/^\[\[agent_group\]\].*loan specialists/ && !done {
      printf "[[agent_group]]\nfirst_id = 100000\ncount = %d\nskills = { general = 2, cards = 1 }\n\n", extra
      done = 1
    } { print }' "$work/$n/acd.toml" >"$work/$n/acd.toml.new"
    mv "$work/$n/acd.toml.new" "$work/$n/acd.toml"
  done
fi
ctl() { local n=$1; shift; "$acdctl" --socket "$work/$n/ctl.sock" "$@"; }
field() { ha_json "$1" | grep -oE "\"$2\": [0-9]+" | grep -oE '[0-9]+$'; }
standby_in_step() {  # b is a standby (not out of service) and no hash check ever differed
  ha_json b | grep -q '"role": "standby"' || pair_fail "b left the standby role: $(ha_json b)"
  [ "$(field a hash_mismatches)" = 0 ] && [ "$(field b hash_mismatches)" = 0 ] ||
    pair_fail "a state hash mismatch"
}
wait_hash_checks() {  # wait_hash_checks N: until b compared more than N hashes
  for _ in $(seq 100); do [ "$(field b hash_checks)" -gt "$1" ] && return 0; sleep 0.1; done
  pair_fail "no hash check after the reload ($(field b hash_checks))"
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 5 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load.json" 2>"$work/load.err" &
load=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load.err" && break; sleep 0.05; done
sleep 0.5

# In place, by SIGHUP: general's service-level threshold 20 s -> 30 s, in both nodes' files.
for n in a b; do
  sed -i '/^name = "general"/,/^sl_threshold_s/s/^sl_threshold_s = 20/sl_threshold_s = 30/' \
    "$work/$n/acd.toml"
done
checks=$(field b hash_checks)
kill -HUP "$PID_a"
wait_log a "SIGHUP: .*reloaded" 10
wait_hash_checks "$checks"
standby_in_step

# Structural, by acdctl: the 1180 team grows by five agents (1200..1204): a new engine.
for n in a b; do
  sed -i '/^first_id = 1180/{n;s/^count = 20/count = 25/}' "$work/$n/acd.toml"
done
checks=$(field b hash_checks)
out=$(ctl a config reload) || pair_fail "structural reload: $out"
grep -q "agents added: 5" <<<"$out" || pair_fail "the structural reload said: $out"
wait_hash_checks "$checks"
standby_in_step
wait "$load" || pair_fail "the load generator failed: $(cat "$work/load.json" "$work/load.err")"
load=
expect_every_call_routed "$work/load.json" || pair_fail "the reloads disturbed the traffic"
standby_in_step

# Failover: b runs the reloaded configuration.
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
# Epoch 2 on a quiet machine; later when a busy one made a declare b dead and swap epochs first.
wait_log b "promoted: won epoch [0-9]+" 5
ctl b --json queues show general | grep -q '"sl_threshold_s": 30' ||
  pair_fail "b runs general's old parameters: $(ctl b --json queues show general)"
ctl b --json agents show 1204 >/dev/null || pair_fail "b does not know agent 1204"
out=$(ctl b --json config diff | tr -d ' \n') || pair_fail "config diff on b: $out"
grep -q '"changes":\[\]' <<<"$out" && grep -q '"structure":\[\]' <<<"$out" ||
  pair_fail "b's running configuration differs from its (edited) file: $out"
checks=$(field b hash_checks)
"$loadgen" --target "127.0.0.1:$PORT_b,127.0.0.1:$PORT_a" --rate 200 --duration 2 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load2.json" 2>"$work/load2.err" ||
  pair_fail "the load on the new primary failed: $(cat "$work/load2.json" "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || pair_fail "calls lost on the new primary"

# b's journal holds the reload records: a single node started from it reaches the state b stopped
# with, and runs the reloaded configuration. a's journal (a snapshot after each reload) too.
kill -TERM "$PID_b"
wait "$PID_b" || pair_fail "b did not stop cleanly"
PID_b=
stopped=$(grep -oE "state hash=[0-9a-f]{16}" "$work/b/err" | tail -1 | cut -d= -f2)
[ -n "$stopped" ] || pair_fail "b did not print its state hash"
for n in b a; do
  sed -i '/^\[ha\]/,$d' "$work/$n/acd.toml"
  "$acdd" --config "$work/$n/acd.toml" >"$work/$n/replay.out" 2>"$work/$n/replay.err" &
  single=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/$n/replay.out" && break; sleep 0.05; done
  grep -q "listening on" "$work/$n/replay.out" ||
    pair_fail "node $n did not start from its journal: $(cat "$work/$n/replay.err")"
  replayed=$(grep -oE "state hash [0-9a-f]{16}" "$work/$n/replay.out" | head -1 | cut -d' ' -f3)
  if [ $n = b ]; then
    [ "$replayed" = "$stopped" ] || pair_fail "b stopped at state $stopped, its journal replays to '$replayed'"
  fi
  for _ in $(seq 100); do ctl $n --json queues show general >/dev/null 2>&1 && break; sleep 0.05; done
  ctl $n --json queues show general | grep -q '"sl_threshold_s": 30' ||
    pair_fail "node $n restarted with general's old parameters"
  ctl $n --json agents show 1204 >/dev/null || pair_fail "node $n restarted without agent 1204"
  kill -TERM "$single"; wait "$single" || true
  single=
done
echo "ok: both reloads replicated, standby in step ($checks hash checks), failover and journals with the reloaded configuration ($stopped)"
