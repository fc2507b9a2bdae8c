#!/usr/bin/env bash
# `acdctl dr drill` with real processes (the active site's pair, a DR node, etcd, acd-loadgen): in
# the middle of a load, the DR node proves it could take over without touching production:
# * the drill passes: the follower's state hash matched the active site's last one, its sandbox
#   copy is exact, and a synthetic call routed in the sandbox was offered to an agent (or queued
#   when every agent was busy); the answer names the agent and the time taken;
# * production is untouched: the load routes every call, the DR node still follows, caught up,
#   with no hash mismatch (the active site's later state hashes still match the follower's);
# * the drill is audited (dr.action) and listed by `acdctl dr history`;
# * on the active primary a drill is refused.
# Usage: dr_drill_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
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

"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 4 --agents 30 \
  --talk-ms 50 --json >"$work/load.json" 2>"$work/load.err" &
load=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load.err" && break; sleep 0.05; done
sleep 1.5  # past a state hash or two (hash_every = 500 records)
"$acdctl" --socket "$work/d/ctl.sock" --json dr drill >"$work/drill.json" 2>&1 ||
  dr_fail "dr drill failed: $(cat "$work/drill.json")"
"$acdctl" --socket "$work/a/ctl.sock" --json ha status >"$work/a-during.json"
wait "$load" || dr_fail "the load failed: $(cat "$work/load.err")"
cat "$work/drill.json"
field() { sed -n "s/^ *\"$1\": \(.*\),\{0,1\}\$/\1/p" "$work/drill.json" | sed 's/,$//'; }
[ "$(field passed)" = true ] || dr_fail "the drill did not pass"
[ "$(field hash_match)" = true ] || dr_fail "no state hash match in the drill"
[ "$(field sandbox_copy_exact)" = true ] || dr_fail "the sandbox copy was not exact"
routed=$(field routed)
case $routed in
  '"agent"') [ "$(field agent)" != null ] || dr_fail "routed to an agent, but which?" ;;
  '"queued"') ;;
  *) dr_fail "the synthetic call was $routed" ;;
esac
took=$(field took_ms)
[ -n "$took" ] || dr_fail "no time taken reported"
echo "ok: drill passed: call $routed $(field agent), hash at seq $(field hash_seq), $took ms"

expect_every_call_routed "$work/load.json" || dr_fail "calls lost during the drill"
dr_json d | grep -q '"role": "following"' || dr_fail "d no longer follows: $(dr_json d)"
for _ in $(seq 100); do dr_json a | grep -q '"follower": "caught-up"' && break; sleep 0.1; done
dr_json a | grep -q '"follower": "caught-up"' || dr_fail "d fell behind after the drill"
"$acdctl" --socket "$work/d/ctl.sock" --json ha status | grep -q '"hash_mismatches": 0' ||
  dr_fail "d's state left the active site's after the drill"
# (Had the drill routed its call in the follower's own engine, the next state hash from the active
# site would differ and take the follower out of service.)
sleep 1
"$acdctl" --socket "$work/d/ctl.sock" --json ha status | grep -q '"hash_mismatches": 0' &&
  dr_json d | grep -q '"role": "following"' || dr_fail "d's state left the active site's"
"$acdctl" --socket "$work/d/ctl.sock" --json audit show >"$work/audit.json"
grep -q '"dr.action"' "$work/audit.json" && grep -q '"drill"' "$work/audit.json" ||
  dr_fail "no dr.action drill in the audit log"
"$acdctl" --socket "$work/d/ctl.sock" dr history | grep -q "drill passed" ||
  dr_fail "dr history lacks the drill"

set +e
"$acdctl" --socket "$work/a/ctl.sock" dr drill >"$work/refused.out" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "a drill is run on the DR site's follower" "$work/refused.out" ||
  dr_fail "a drill on the active primary was not refused ($status): $(cat "$work/refused.out")"
echo "ok: dr drill in a sandbox, production untouched, audited and in the history"
