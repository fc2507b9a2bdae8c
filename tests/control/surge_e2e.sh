#!/usr/bin/env bash
# Surge mode and emergency diversion against a real acdd: `acdctl surge status|enter|exit|auto`
# per queue and site-wide, `acdctl service status|down|up`; the routing core follows them (the
# route preview borrows an agent of the lender queue in surge and gives the announcement while
# the service is down, normal routing when it is up); wrong names are refused and change nothing;
# a caller without the operator role is refused; every change is in the audit log.
# Usage: surge_e2e.sh ACDD ACDCTL LOADGEN
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3
source "$(dirname "$0")/../require.sh"
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
cat >"$work/acd.toml" <<TOML
skills = ["cards", "loans"]
[dataplane]
listen = "127.0.0.1:0"
[control]
socket = "$work/ctl.sock"
credentials = "$work/credentials"
[metrics]
listen = "127.0.0.1:0"
[audit]
dir = "$work/audit"
[surge]
eval_interval_s = 0.5
[[services]]
name = "core-banking"
action = "announcement"
target = "7100"
[[queue]]
name = "cards"               # nobody has cards: only borrowed agents can take its calls
skills = { cards = 1 }
services = ["core-banking"]
  [queue.surge]
  enter = { queue_length = 50 }
  exit = { queue_length = 10 }
  min_dwell_s = 1
  exit_hold_s = 2
    [[queue.surge.actions]]
    action = "borrow"
    from = "loans"
    min_level = 0
[[queue]]
name = "loans"
skills = { loans = 1 }
[[agent_group]]
first_id = 1000
count = 2
skills = { loans = 1 }
TOML
for id in 1000 1001; do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null || fail "passwd"
done
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
# Two loans agents sign in and go ready (the load generator's desktops).
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 2 --duration 0.5 --agents 2 --queue 1 \
  --talk-ms 1 >/dev/null || fail "loadgen"
expect_soon 0 '"Ready": 2' -- --json status

# Quiet: no surge; a cards call would wait (nobody has cards).
expect 0 '"site_force": "auto"' -- --json surge status
expect 0 '"surge": false' -- --json surge status --queue cards
expect 0 "waits in cards" -- route test cards

# Forced on for cards: the preview borrows a loans agent.
expect 0 "queue cards: surge forced on" -- surge enter --queue cards
expect_soon 0 '"surge": true' -- --json surge status --queue cards
expect 0 '"forced"' -- --json surge status --queue cards
expect 0 "offered to agent 100[01] in cards" -- route test cards
expect 0 "cards  *true  *on" -- surge status
# Forced off: thresholds would not enter either; the call waits again.
expect 0 "surge forced off" -- surge exit --queue cards
expect_soon 0 '"surge": false' -- --json surge status --queue cards
expect 0 "waits in cards" -- route test cards
# Site-wide: the queue's own force (off) still wins until it is handed back.
expect 0 "the site: surge forced on" -- surge enter
expect 0 '"site_force": "on"' -- --json surge status
expect 0 '"surge": false' -- --json surge status --queue cards
expect 0 "surge by thresholds" -- surge auto --queue cards
expect_soon 0 '"surge": true' -- --json surge status --queue cards
expect 0 "surge by thresholds" -- surge auto
# Quiet: the exit levels hold (2 s) before it leaves; status and metrics show the hold running.
expect_soon 0 '"holding": true' -- --json surge status --queue cards
expect 0 '"hold_s": 2' -- --json surge status --queue cards
expect 0 "cards  *true  *auto .*held [0-9.]*s, hold left [0-9.]*s, dwell left" -- surge status
curl -s "http://127.0.0.1:$(cat "$work/port.metrics")/metrics" >"$work/metrics"
grep -q '^acd_queue_surge_exit_holding{queue="cards"} 1$' "$work/metrics" ||
  fail "no exit hold in the metrics: $(grep surge_exit "$work/metrics")"
grep -Eq '^acd_queue_surge_exit_left_seconds\{queue="cards"\} (1|2|1\.[0-9]+|0\.[0-9]+)$' \
  "$work/metrics" || fail "exit hold remainder: $(grep surge_exit "$work/metrics")"
expect_soon 0 '"surge": false' -- --json surge status --queue cards  # hold 2 s, dwell 1 s over
expect 0 '"exit_hold": null' -- --json surge status --queue cards
# Refusals change nothing.
expect 1 "has no surge plan" -- surge enter --queue loans
expect 1 "no such queue" -- surge enter --queue nosuch
expect 2 "" -- surge sideways

# Emergency diversion: down, the preview gives the announcement; up, routing is normal again.
expect 0 "core-banking  *false  *announcement  *7100  *cards" -- service status
expect 0 "marked down" -- service down core-banking
expect_soon 0 '"down": true' -- --json service status
expect 0 '"action": "announcement"' -- --json route test cards
expect 0 '"target": "7100"' -- --json route test cards
expect 0 "offered to agent" -- route test loans  # loans does not depend on it
expect 0 "marked up" -- service up core-banking
expect_soon 0 '"down": false' -- --json service status
expect 0 "waits in cards" -- route test cards
expect 1 "no service is named 'ledger'; the services are: core-banking" -- service down ledger
expect 2 "needs a service name" -- service down

if [ "$(id -u)" = 0 ] && missing_tools setpriv >/dev/null; then
  # Changes need the operator role; a caller without any role is refused, nothing changes.
  for args in "surge enter --queue cards" "service down core-banking"; do
    rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups "$acdctl" --socket "$work/ctl.sock" \
      $args >"$work/denied" 2>&1 || rc=$?
    [ "$rc" = 4 ] || fail "a caller without the operator role ran '$args' (exit $rc)"
    grep -q "needs the operator role" "$work/denied" || fail "refusal: $(cat "$work/denied")"
  done
  expect 0 '"surge": false' -- --json surge status --queue cards
  expect 0 '"down": false' -- --json service status
  # Every change and refusal is in the audit log, with who asked.
  expect_soon 0 "surge enter cards" -- audit show
  expect 0 "surge exit cards" -- audit show
  expect 0 "service down core-banking" -- audit show
  expect 0 "service up core-banking" -- audit show
  expect 0 "denied  uid=65534(nobody)  surge enter cards" -- audit show
else
  leave_out "operator role and audit records of surge and service (needs root and setpriv)"
fi
stop_acdd
finish_checks "surge and service"
