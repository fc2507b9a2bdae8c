#!/usr/bin/env bash
# Disaster recovery, planned, with real processes (the active site's pair, a DR node, etcd,
# acd-loadgen knowing the active primary's and the DR node's addresses): `acdctl dr switchover`
# on the active primary under load stops admitting, waits until the DR follower holds every
# record (RPO 0: the follower is stopped for the first 0.3 s of it, and the switchover
# must not end before it runs again) and hands the epoch to the DR node, which takes over: every call routed exactly
# once, no two nodes emitting for one epoch, the DR node reports 0 records lost; the active
# site's standby lost the swap and stays standby. The load is more than the agents can take, so
# callers queue at the active site; those queued when the switchover starts are served, many of
# them at the DR site, in the order they queued (tests/ha/queue_order.py: `acdctl calls list` at
# the active primary before and at the DR node just after it took over, and the order in which
# acd-loadgen got their agents).
# Usage: dr_switchover_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/dr_lib.sh"
work=$(mktemp -d)
trap 'stop_dr; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_SEALED=0
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
dr_setup

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"
start_dr
wait_log a "dr: DR follower caught up" 10

# A switchover on the DR node, or before anything: refused where it does not belong.
set +e
"$acdctl" --socket "$work/d/ctl.sock" dr switchover >"$work/wrong.out" 2>&1
status=$?
set -e
[ $status = 1 ] || dr_fail "a switchover on the DR node was not refused: $(cat "$work/wrong.out")"

# Calls talk 500 ms: the queue drains slowly enough that many callers queued at a still wait
# when d routes (within a few ms of its takeover), and d is the one that serves them.
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_d" --rate 200 --duration 5 --agents 30 \
  --talk-ms 500 --settle-s 20 --routed-order "$work/routed_order" --json >"$work/load.json" 2>"$work/load.err" &
load=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load.err" && break; sleep 0.05; done
sleep 1
calls() { "$acdctl" --socket "$work/$1/ctl.sock" --json calls list >"$work/$2.json"; }
calls a queued_at_a
# The DR follower is stopped when the switchover starts: the active primary must wait for it (RPO
# 0), not hand over what the follower may never receive.
kill -STOP "$PID_d"
asked=$(date +%s.%N)
"$acdctl" --socket "$work/a/ctl.sock" dr switchover >"$work/switch.out" 2>&1 &
switch=$!
sleep 0.3
# acdctl prints its answer only at the end. (Not asked of the primary: its control thread is
# waiting for this very switchover.)
if [ -s "$work/switch.out" ]; then
  kill -CONT "$PID_d"
  dr_fail "the switchover ended with the DR follower stopped: $(cat "$work/switch.out")"
fi
kill -CONT "$PID_d"
wait "$switch" || dr_fail "dr switchover failed: $(cat "$work/switch.out")"
handed=$(date +%s.%N)
cat "$work/switch.out"
grep -q "handed over at seq" "$work/switch.out" || dr_fail "no hand-over reported"
wait_log d "dr: site demo-dr is the active site with epoch 2" 10
routing=$(date +%s.%N)
calls d queued_at_d
wait "$load" || dr_fail "the load failed: $(cat "$work/load.json" "$work/load.err")"
cat "$work/load.json"
expect_every_call_routed "$work/load.json" || dr_fail "calls lost or doubled across the switchover"
python3 "$here/queue_order.py" "$work/queued_at_a.json" "$work/routed_order" \
  --still-queued "$work/queued_at_d.json" --min-queued 20 --min-kept 10 ||
  dr_fail "the callers queued at the active site were not served in their order at the DR site"
[ "$(loadgen_field "$work/load.json" epoch_conflicts)" = 0 ] || dr_fail "two nodes emitted for one epoch"
[ "$(dr_field d takeover_estimated_loss_records)" = 0 ] || dr_fail "d lacks records: $(dr_json d)"
dr_json d | grep -q '"role": "taken-over"' || dr_fail "d did not take over: $(dr_json d)"
grep -q "switchover at RPO 0" "$work/d/err" || dr_fail "d took over otherwise than by the hand-over"
# The old primary stopped (exit 3: it emits nothing more); its standby lost the swap.
for _ in $(seq 100); do kill -0 "$PID_a" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID_a" 2>/dev/null && dr_fail "the old primary still runs"
wait "$PID_a" 2>/dev/null && dr_fail "the old primary exited 0" || true
PID_a=
sleep 0.5
ha_json b | grep -q '"role": "standby"' || dr_fail "b is not a standby: $(ha_json b)"
echo "ok: planned switchover under load, nothing lost; drain and hand-over $(echo "$handed - $asked" | bc) s (0.3 s of it with the follower stopped), DR routing $(echo "$routing - $asked" | bc) s after the command"
