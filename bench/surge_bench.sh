#!/usr/bin/env bash
# Surge under load, on loopback, both loads in one run so the figures compare: one acdd, one queue
# of AGENTS agents (talk time TALK_MS, so it answers about AGENTS*1000/TALK_MS calls a second), a
# surge plan that sends the calls no agent takes to the IVR while the queue is in surge. First the
# normal load (60 % of that capacity), then three times it, each on a freshly started acdd:
# per load, the route answers' latency (acd-loadgen: request to first answer), how the calls were
# answered, and acdd's decisions per second (its dataplane.decisions counter over the load).
# Usage: bench/surge_bench.sh [BUILD_DIR] [SECONDS] [AGENTS] [TALK_MS]
set -euo pipefail
build=${1:-build}
seconds=${2:-15}
agents=${3:-40}
talk_ms=${4:-400}
acdd=$build/control/acdd
acdctl=$build/control/acdctl
loadgen=$build/acd-loadgen
work=$(mktemp -d)
pid=
trap 'kill ${pid:-} 2>/dev/null || true; wait ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT

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
[[queue]]
name = "general"
skills = { general = 1 }
  [queue.surge]
  enter = { queue_length = 20 }
  exit = { queue_length = 5 }
  min_dwell_s = 2
    [[queue.surge.actions]]
    action = "ivr"
    target = "7000"
[[agent_group]]
first_id = 1000
count = $agents
skills = { general = 1 }
TOML
for ((id = 1000; id < 1000 + agents; id++)); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null
done

decisions() {
  "$acdctl" --socket "$work/ctl.sock" --json status | sed -n 's/.*"decisions": \([0-9]*\).*/\1/p'
}
run() {  # run NAME RATE
  rm -f "$work/port" "$work/ctl.sock"
  "$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/$1.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && [ -S "$work/ctl.sock" ] && break; sleep 0.05; done
  local before after
  before=$(decisions)
  "$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate "$2" --duration "$seconds" \
    --agents "$agents" --queue 0 --talk-ms "$talk_ms" --json >"$work/$1.json" 2>"$work/$1.err"
  sleep 0.3  # the snapshot after the load
  after=$(decisions)
  "$acdctl" --socket "$work/ctl.sock" --json surge status --queue general >"$work/$1.surge"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  python3 - "$1" "$2" "$work/$1.json" "$before" "$after" "$seconds" "$work/$1.surge" <<'EOF'
import json, sys
name, rate, path, before, after, seconds, surge_path = sys.argv[1:]
j = json.load(open(path))
q = json.load(open(surge_path))["queues"][0]
surge = f"{q['entries']} entries, {q['overflowed']} calls left by its steps"
d = (int(after) - int(before)) / float(seconds)
print(f"{name:>7}: offered {float(rate):6.0f}/s  answered {j['achieved_rate']:6.1f}/s  "
      f"p50 {j['p50_us']:7.0f} us  p99 {j['p99_us']:7.0f} us  p99.9 {j['p999_us']:7.0f} us  "
      f"routed {j['routed']}  queued {j['queued']}  rejected {j['rejected']}  "
      f"errors {j['errors']}  lost {j['lost']}  decisions/s {d:6.1f}  surge: {surge}")
EOF
}

capacity=$((agents * 1000 / talk_ms))
normal=$((capacity * 6 / 10))
echo "== $agents agents, mean talk $talk_ms ms (about $capacity calls/s), $seconds s per load"
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
run normal "$normal"
run 3x "$((normal * 3))"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
