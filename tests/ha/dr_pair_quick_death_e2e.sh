#!/usr/bin/env bash
# The DR pair's primary dies within a heartbeat of taking over, with real processes (the active
# site's node a alone, the DR pair d and e, etcd, acd-loadgen; e reaches d through a relay the
# test freezes):
# 1. d follows a and passes the log on to e; a routes a load, then dies; e holds every record d
#    holds (the same applied seq);
# 2. the relay between d and e freezes, `acdctl dr failover` makes d the active site (etcd:
#    "demo-dr.took-S", S its applied seq) and d is killed at once: e never heard d announce the
#    centre's epoch;
# 3. e, its primary silent, reads the takeover record, holds seq S and takes the centre's next
#    epoch by itself (d released nothing e had not acknowledged: it routed with e as its
#    synchronous standby from its first reply), and routes every call of a new load.
# Usage: dr_pair_quick_death_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/dr_lib.sh"
work=$(mktemp -d)
stop_relay() {
  kill -9 ${RELAY_PID:-} 2>/dev/null || true
  kill -CONT ${RELAY_PID:-} 2>/dev/null || true
}
trap 'stop_e; stop_relay; stop_dr; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_SEALED=0
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
dr_setup

# The DR pair d and e, e reaching d through the relay; a longer silence before "dead" (600 ms),
# so that d, its standby silent, does not bump the epoch before the test kills it.
read -r RELAY < <(free_loopback_ports 1)
DR_PAIR_DEAD_AFTER_MS=600 dr_pair_setup "$RELAY"
python3 "$here/link_proxy.py" "$RELAY" "$PR_d" &
RELAY_PID=$!

# 1. a routes a load, d follows and passes it on to e; a dies.
start_node a primary
wait_log a "ha: primary with epoch 1"
start_dr_node d primary
start_dr_node e standby
wait_log d "pair primary with epoch 1" 10
wait_log a "dr: DR follower caught up" 10
wait_log d "pair standby caught up" 10
"$loadgen" --target "127.0.0.1:$PORT_a" --rate 150 --duration 1 --agents 30 --talk-ms 50 \
  --settle-s 15 --json >"$work/load1.json" 2>"$work/load1.err" || dr_fail "the first load failed"
expect_every_call_routed "$work/load1.json" || dr_fail "calls lost at the active site"
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
for _ in $(seq 100); do dr_json d | grep -q '"active_connected": false' && break; sleep 0.05; done
dr_json d | grep -q '"active_connected": false' || dr_fail "d still hears a: $(dr_json d)"
for _ in $(seq 100); do
  [ -n "$(dr_field e applied_seq)" ] && [ "$(dr_field e applied_seq)" = "$(dr_field d applied_seq)" ] &&
    break
  sleep 0.05
done
held=$(dr_field e applied_seq)
[ "$held" = "$(dr_field d applied_seq)" ] || dr_fail "e at $held, d at $(dr_field d applied_seq)"

# 2. e stops hearing d; d takes over and dies before it could tell e.
kill -STOP "$RELAY_PID"
"$acdctl" --socket "$work/d/ctl.sock" dr failover >"$work/failover.out" 2>&1 ||
  dr_fail "dr failover failed: $(cat "$work/failover.out")"
kill -9 "$PID_d"
wait "$PID_d" 2>/dev/null || true
PID_d=
cat "$work/failover.out"
took_at=$(sed -n 's/^applied_seq: //p' "$work/failover.out")
[ "$took_at" = "$held" ] || dr_fail "d took over at ${took_at:-?}, e holds $held"
etcd_value /acd-test/epoch | grep -q "\"epoch\":2,\"holder\":\"demo-dr.took-$took_at\"" ||
  dr_fail "the centre's key after the failover: $(etcd_value /acd-test/epoch)"

# 3. e takes the centre's next epoch by itself and routes.
wait_log e "took epoch 2 at seq $took_at .*: taking over" 10
wait_log e "dr: site demo-dr is the active site with epoch 3" 10
etcd_value /acd-test/epoch | grep -q '"epoch":3,"holder":"demo-dr"' ||
  dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"
"$loadgen" --target "127.0.0.1:$PORT_e" --rate 150 --duration 1 --agents 30 --talk-ms 50 \
  --settle-s 15 --json >"$work/load2.json" 2>"$work/load2.err" || dr_fail "load against e failed"
expect_every_call_routed "$work/load2.json" || dr_fail "e does not route every call"
echo "ok: d took over at seq $took_at and died unannounced; e held seq $held and took epoch 3 by itself"
