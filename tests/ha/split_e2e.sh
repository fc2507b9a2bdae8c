#!/usr/bin/env bash
# The pair's other failures, one after the other on one pair, each under load that follows both
# addresses (every call routed exactly once, no error, no epoch heard from two nodes):
# 1. etcd stops with both nodes healthy: nothing changes (same primary, same epoch).
# 2. the standby is killed and started again: the primary wins the next epoch and routes alone,
#    the standby catches up and is synchronous again.
# 3. a planned switchover (acdctl ha switchover): the primary drains and steps down (exit 3), the
#    standby takes over within a second.
# 4. the primary pauses (SIGSTOP) past the detection time, the standby takes over, the old primary
#    wakes up (SIGCONT): it loses the epoch, is fenced and exits (3) without emitting.
# (A cut of the link between the nodes is tests/ha/link_cut_e2e.sh, with network namespaces.)
# Usage: split_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
work=$(mktemp -d)
trap 'stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT  # a timeout or Ctrl-C still stops every process the script started
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"

load() {  # load NAME SECONDS: in the background, through both nodes; sets $load_pid
  "$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration "$2" --agents 30 \
    --talk-ms 50 --settle-s 15 --json >"$work/$1.json" &
  load_pid=$!
}
check_load() {  # check_load NAME
  wait "$load_pid" || pair_fail "load $1 failed: $(cat "$work/$1.json")"
  expect_every_call_routed "$work/$1.json" || pair_fail "load $1: calls lost or doubled"
  [ "$(loadgen_field "$work/$1.json" epoch_conflicts)" = 0 ] || pair_fail "load $1: two nodes, one epoch"
  [ "$(loadgen_field "$work/$1.json" epoch_regressions)" = 0 ] || pair_fail "load $1: an old epoch emitted"
}
field() {  # field NODE NAME: a value of `acdctl ha status`
  ha_json "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p"
}
expect_role() {  # expect_role NODE ROLE EPOCH
  [ "$(field "$1" role)" = "$2" ] && [ "$(field "$1" epoch)" = "$3" ] ||
    pair_fail "node $1 should be $2 at epoch $3: $(ha_json "$1")"
}
wait_exit() {  # wait_exit PID STATUS: the node exits with STATUS within 5 s
  local rc=0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  wait "$1" || rc=$?
  [ "$rc" = "$2" ] || pair_fail "a node exited with $rc, not $2"
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

# 1. etcd stops; the pair goes on.
kill -STOP "$ETCD_PID"
load etcd_down 2
check_load etcd_down
expect_role a primary 1
expect_role b standby 1
"$acdctl" --socket "$work/b/ctl.sock" --json status | grep -q '"role": "standby"' ||
  pair_fail "b's status does not say standby"
kill -CONT "$ETCD_PID"

# 2. The standby dies and comes back.
load standby_restart 4
sleep 0.7
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null || true
PID_b=
wait_log a "won epoch 2: routing alone" 5
start_node b standby
check_load standby_restart
wait_log a "standby synchronous at seq [1-9]" 10
expect_role a primary 2

# 3. Planned switchover.
load switchover 3
sleep 1
start_ns=$(date +%s%N)
"$acdctl" --socket "$work/a/ctl.sock" ha switchover >/dev/null || pair_fail "switchover refused: $(ha_json a)"
wait_log b "promoted: won epoch 3" 5
took_ms=$((($(date +%s%N) - start_ns) / 1000000))
wait_exit "$PID_a" 3
PID_a=
check_load switchover
# The 1 s goal is a measurement on a quiet machine (bench/RESULTS.md, "Planned switchover": this
# script's last line); beside other tests on two cores it took up to 2.9 s. The bound here catches
# a switchover that hangs.
[ "$took_ms" -le 5000 ] || pair_fail "the switchover took $took_ms ms"
expect_role b primary-alone 3

# 4. The primary (now b) pauses past the detection time; a takes over; b wakes up fenced.
start_node a standby
wait_log b "standby synchronous at seq [1-9]" 10
load pause 4
sleep 1
kill -STOP "$PID_b"
wait_log a "promoted: won epoch 4" 5
sleep 0.3
kill -CONT "$PID_b"
wait_exit "$PID_b" 3
PID_b=
grep -q "lost the epoch" "$work/b/err" || pair_fail "b did not say it lost the epoch"
check_load pause
expect_role a primary-alone 4
echo "ok: etcd down, standby restart, switchover in ${took_ms} ms, paused primary fenced"
