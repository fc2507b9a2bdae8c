#!/usr/bin/env bash
# acdctl route test against a real acdd: the preview follows arrival overflow from queue to queue,
# honours extra skills, verification and priority, explains refusals, is allowed to read-only
# callers, and routes nothing (no call enters the engine, no agent is taken, no statistic moves,
# judged on a snapshot taken after every preview); acdd stops with status 0.
# Usage: route_test_e2e.sh ACDD ACDCTL LOADGEN
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3
source "$(dirname "$0")/../require.sh"
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
cat >"$work/acd.toml" <<TOML
site = "test-1"
sites = ["test-dr"]
skills = ["a", "b", "c", "french"]
[dataplane]
listen = "127.0.0.1:0"
[control]
socket = "$work/ctl.sock"
credentials = "$work/credentials"
[metrics]
listen = "127.0.0.1:0"
[[queue]]
name = "a"                 # nobody has skill a: the estimated wait is unknown, so it overflows
skills = { a = 1 }
  [[queue.overflow]]
  when = "ewt"
  threshold = 600
  action = "queue"
  target = "b"
[[queue]]
name = "b"
skills = { b = 1 }
policy = "longest_idle"
[[queue]]
name = "c"
skills = { c = 1 }
min_verification = 2
[[agent_group]]
first_id = 1000
count = 4
skills = { b = 1, c = 1, french = 3 }
TOML
for id in 1000 1001 1002 1003; do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null || fail "passwd"
done
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
# Four agents sign in and go ready (the load generator's desktops); one call goes through queue b.
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 2 --duration 0.5 --agents 4 --queue 1 \
  --talk-ms 1 >/dev/null || fail "loadgen"
expect_soon 0 '"Ready": 4' -- --json status  # wrap-up ends, a snapshot is published
expect 0 '"calls_in_engine": 0' -- --json status
before=$("$acdctl" --socket "$work/ctl.sock" --json queues)

expect 0 "overflow queue b" -- route test a
grep -q "outcome: offered to agent 100[0-3] in b" <<<"$out" || fail "a -> b should offer: $out"
expect 0 "waits in b at position 1" -- route test a --skill french:5
# b is staffed (four agents ready), but none speaks French at 5: the wait is unknown, not a guess.
grep -q "estimated wait unknown" <<<"$out" || fail "french:5 should wait with EWT unknown: $out"
expect 0 '"ewt_s": null' -- --json route test b --skill french:5
expect 0 "offered to agent" -- route test a --skill french:3 --priority 7 --tier 2
expect 0 '"outcome": "offer"' -- --json route test b --language french
expect 0 "rejected: the queue needs a higher identity-verification level" -- route test c
expect 0 "offered to agent" -- route test c --verification 2
expect 0 '"final_queue": "b"' -- --json route test 0
expect 2 "no such queue" -- route test nosuch
expect 2 "no skill is named 'klingon'" -- route test b --skill klingon
expect 2 "NAME or NAME:LEVEL" -- route test b --skill french:high
expect 2 "level must be 1" -- route test b --skill french:0
expect 2 "priority must be 0..15" -- route test b --priority 16
expect 2 "" -- route test
if [ "$(id -u)" = 0 ] && missing_tools setpriv >/dev/null; then
  # A preview enters the sequencer like a change: the operator role. A caller without it is
  # refused and nothing is asked of the routing core.
  rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups "$acdctl" --socket "$work/ctl.sock" \
    route test a >"$work/denied" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a caller without the operator role asked for a preview (exit $rc)"
  grep -q "'route test' needs the operator role" "$work/denied" || fail "refusal: $(cat "$work/denied")"
else
  leave_out "a preview refused to a caller without a role (needs root and setpriv)"
fi
# Nothing was routed. Agent 1003 signs out after the last preview; once a snapshot shows that,
# it was taken after every preview: no call in the engine, the other three agents still ready,
# queue figures as before (but for the agent who left).
expect 0 "is signed out" -- agents logout 1003
await_agent_state 1003 LoggedOut
expect 0 '"calls_in_engine": 0' -- --json status
expect 0 '"Ready": 3' -- --json status
after=$("$acdctl" --socket "$work/ctl.sock" --json queues)
strip() { grep -v -e oldest_wait -e ewt_s -e ready_agents -e staffed <<<"$1"; }
[ "$(strip "$before")" = "$(strip "$after")" ] || fail "queue figures moved: $before -- $after"
expect 0 '"ready_agents": 3' -- --json queues show b
expect 0 '"ready_agents": 3' -- --json queues show c
stop_acdd
finish_checks "route test"
