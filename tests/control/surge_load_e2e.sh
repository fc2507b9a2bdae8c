#!/usr/bin/env bash
# A traffic surge against a real acdd, driven by acd-loadgen on loopback: one queue of AGENTS
# agents (mean talk TALK_MS, so about AGENTS*1000/TALK_MS calls a second), offered 3.5 times that
# for LOAD_S seconds, with a surge plan whose one step sends to the IVR every call no agent takes.
# Checked from the metrics endpoint and acdctl:
# * the queue entered surge exactly once (the step keeps the queue empty, which must not end the
#   surge while the calls keep coming), and the step sent calls away;
# * no call was lost: every call acd-loadgen sent was offered to the queue, and offered =
#   answered + overflowed + abandoned + still waiting once no call rings any more;
# * the queue left surge after the load stopped (exit hold 2 s, dwell 1 s), and stayed out.
# Bounds are loose (a busy 2-core machine): the load only has to be well above capacity.
# Usage: surge_load_e2e.sh ACDD ACDCTL LOADGEN
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3
source "$(dirname "$0")/../require.sh"
require_tools python3
agents=10 talk_ms=500 load_s=8
capacity=$((agents * 1000 / talk_ms))  # calls a second the agents answer
rate=$((capacity * 7 / 2))
work=$(mktemp -d)
pid=
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
cat >"$work/acd.toml" <<TOML
skills = ["general"]
[dataplane]
listen = "127.0.0.1:0"
[control]
socket = "$work/ctl.sock"
credentials = "$work/credentials"
[metrics]
listen = "127.0.0.1:0"
[surge]
eval_interval_s = 0.5
exit_hold_s = 2
[[queue]]
name = "general"
skills = { general = 1 }
  [queue.surge]
  enter = { queue_length = 10 }
  exit = { queue_length = 3 }
  min_dwell_s = 1
    [[queue.surge.actions]]
    action = "ivr"
    target = "7000"
[[agent_group]]
first_id = 1000
count = $agents
skills = { general = 1 }
TOML
for ((id = 1000; id < 1000 + agents; id++)); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null ||
    fail "passwd $id"
done
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 200); do
  [ -s "$work/port" ] && [ -s "$work/port.metrics" ] && [ -S "$work/ctl.sock" ] && break
  sleep 0.05
done
[ -s "$work/port.metrics" ] || fail "acdd did not start: $(cat "$work/err")"

# metrics NAME...: the queue's samples, one "NAME VALUE" line each.
metrics() {
  python3 - "$(cat "$work/port.metrics")" "$@" <<'EOF'
import sys, urllib.request
port, names = sys.argv[1], sys.argv[2:]
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
values = {}
for line in body.splitlines():
    for n in names:
        if line.startswith(n + '{queue="general"} '):
            values[n] = line.split()[1]
for n in names:
    print(n, values.get(n, "missing"))
EOF
}
metric() { metrics "$1" | cut -d' ' -f2; }

expect 0 '"surge": false' -- --json surge status --queue general
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate "$rate" --duration "$load_s" \
  --agents "$agents" --queue 0 --talk-ms "$talk_ms" --json >"$work/load.json" 2>"$work/load.err" ||
  fail "acd-loadgen: $(cat "$work/load.err")"
ended=$(date +%s.%N)
read -r sent overflowed_lg rejected errors lost < <(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["sent"], j["overflowed"], j["rejected"], j["errors"], j["lost"])' "$work/load.json")
echo "load: $rate calls/s for $load_s s against about $capacity/s answered; sent $sent," \
     "overflowed $overflowed_lg, rejected $rejected, errors $errors, lost $lost"
[ "$rejected" = 0 ] && [ "$errors" = 0 ] && [ "$lost" = 0 ] ||
  fail "acd-loadgen saw refusals or losses: $(cat "$work/load.json")"
# Well above capacity even on a slow machine: at least twice what the agents could answer.
[ "$sent" -ge $((capacity * load_s * 2)) ] || fail "only $sent calls sent"

# Leaves surge once the load has stopped: exit hold 2 s + an evaluation; 15 s allowed.
left=
for _ in $(seq 150); do
  if [ "$(metric acd_queue_surge)" = 0 ]; then
    left=$(date +%s.%N)
    break
  fi
  sleep 0.1
done
[ -n "$left" ] || fail "still in surge 15 s after the load stopped: $(metrics acd_queue_surge \
  acd_queue_waiting_calls acd_queue_surge_entries_total)"
echo "left surge $(python3 -c "print(f'{$left - $ended:.1f}')") s after acd-loadgen ended"

# Every call accounted for, once nothing rings (all answered or released by now; 10 s allowed).
names="acd_queue_offered_total acd_queue_answered_total acd_queue_overflowed_total
       acd_queue_abandoned_total acd_queue_waiting_calls"
balanced=
for _ in $(seq 100); do
  read -r offered answered overflowed abandoned waiting < <(metrics $names | cut -d' ' -f2 | xargs)
  if [ "$offered" = "$((answered + overflowed + abandoned + waiting))" ]; then
    balanced=1
    break
  fi
  sleep 0.1
done
[ -n "$balanced" ] || fail "calls unaccounted for: offered $offered, answered $answered," \
  "overflowed $overflowed, abandoned $abandoned, waiting $waiting"
echo "offered $offered = answered $answered + overflowed $overflowed + abandoned $abandoned +" \
     "waiting $waiting"
[ "$offered" = "$sent" ] || fail "acd-loadgen sent $sent calls, the queue was offered $offered"
[ "$overflowed" = "$overflowed_lg" ] ||
  fail "acdd overflowed $overflowed calls, acd-loadgen was told of $overflowed_lg"

entries=$(metric acd_queue_surge_entries_total)
by_step=$(metric acd_queue_surge_overflowed_total)
echo "surge entries $entries, calls the step sent to the IVR $by_step"
[ "$entries" = 1 ] || fail "entered surge $entries times during one surge"
[ "$by_step" -gt 0 ] && [ "$by_step" = "$overflowed" ] ||
  fail "the surge step sent $by_step calls away, the queue overflowed $overflowed"
# acdctl agrees, and the queue stays out of surge with nothing arriving.
sleep 1.5
expect 0 '"surge": false' -- --json surge status --queue general
python3 -c '
import json, sys
q = json.loads(sys.argv[1])["queues"][0]
sys.exit(0 if q["entries"] == 1 and not q["surge"] else 1)' "$out" ||
  fail "acdctl surge status: $out"
[ "$(metric acd_queue_surge_entries_total)" = 1 ] || fail "entered surge again with no load"
stop_acdd
echo "ok: one surge entry at 3.5x capacity, $by_step calls to the IVR, none lost, left after the load"
