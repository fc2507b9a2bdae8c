#!/usr/bin/env bash
# Surge under load, on loopback, both loads in one run so the figures compare: one acdd, one queue
# of AGENTS agents (talk time TALK_MS, so it answers about AGENTS*1000/TALK_MS calls a second), a
# surge plan that sends the calls no agent takes to the IVR while the queue is in surge. The normal
# load (60 % of that capacity), then three times it, each on a freshly started acdd, alternating,
# REPETITIONS times; then the medians. Per load:
# * the route answers' latency (acd-loadgen: request to first answer) of the ADMITTED calls only
#   (offered to an agent or queued), apart from the calls a surge step sent away (answered
#   Overflow at once), and of all answers;
# * acdd's decision rate, compared as equal things: the engine's time per decision (its
#   acd_decision_latency_seconds sum over count during the load) and its inverse, the decisions a
#   second of engine time makes; and the inputs applied per second (dataplane.decisions), which
#   grows with the calls offered.
# With BASELINE=DIR (another build directory, e.g. of the main branch), each repetition runs both
# loads on DIR's acdd too, first, and the medians are printed per build: the two compared in one
# run, on the same machine state. Both builds read the same acd.toml.
# Usage: [BASELINE=DIR] bench/surge_bench.sh [BUILD_DIR] [SECONDS] [AGENTS] [TALK_MS] [REPETITIONS]
set -euo pipefail
build=${1:-build}
baseline=${BASELINE:-}
seconds=${2:-15}
agents=${3:-40}
talk_ms=${4:-400}
reps=${5:-3}
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

metric() {  # metric NAME: the value of an unlabelled sample on acdd's metrics endpoint
  python3 - "$(cat "$work/port.metrics")" "$1" <<'EOF'
import sys, urllib.request
port, name = sys.argv[1:]
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(name + " "):
        print(line.split()[1])
        break
EOF
}
counters() {  # inputs applied; the engine's requests and its time on them (seconds)
  echo "$("$acdctl" --socket "$work/ctl.sock" --json status |
          sed -n 's/.*"decisions": \([0-9]*\).*/\1/p')" \
       "$(metric acd_decision_latency_seconds_count)" "$(metric acd_decision_latency_seconds_sum)"
}
run() {  # run NAME RATE REP [ACDD BUILD_NAME]
  rm -f "$work/port" "$work/port.metrics" "$work/ctl.sock"
  "${4:-$acdd}" --config "$work/acd.toml" --port-file "$work/port" >"$work/$1.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$work/port" ] && [ -s "$work/port.metrics" ] && [ -S "$work/ctl.sock" ] && break
    sleep 0.05
  done
  local before after
  before=$(counters)
  "$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate "$2" --duration "$seconds" \
    --agents "$agents" --queue 0 --talk-ms "$talk_ms" --json >"$work/$1.json" 2>"$work/$1.err"
  sleep 0.3  # the snapshot after the load
  after=$(counters)
  "$acdctl" --socket "$work/ctl.sock" --json surge status --queue general >"$work/$1.surge"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  python3 - "$1" "$2" "$work/$1.json" "$before" "$after" "$seconds" "$work/$1.surge" "$3" \
    "$work/results.jsonl" "${5:-this}" <<'EOF'
import json, sys
name, rate, path, before, after, seconds, surge_path, rep, out, build = sys.argv[1:]
j = json.load(open(path))
q = json.load(open(surge_path))["queues"][0]
b = [float(x) for x in before.split()]
a = [float(x) for x in after.split()]
requests = a[1] - b[1]
engine_s = a[2] - b[2]
row = {
    "build": build, "load": name, "rep": int(rep), "offered": float(rate), "answered": j["achieved_rate"],
    "admitted": j["admitted"], "overflowed": j["overflowed"], "routed": j["routed"],
    "queued": j["queued"], "rejected": j["rejected"], "errors": j["errors"], "lost": j["lost"],
    "p99_all_us": j["p99_us"], "adm_p50_us": j["admitted_p50_us"],
    "adm_p99_us": j["admitted_p99_us"], "adm_p999_us": j["admitted_p999_us"],
    "inputs_per_s": (a[0] - b[0]) / float(seconds),
    # The engine's decisions per second of its own time: what it decides at, whatever the load.
    "engine_decisions_per_s": requests / engine_s if engine_s > 0 else 0.0,
    "engine_us_per_decision": 1e6 * engine_s / requests if requests > 0 else 0.0,
    "surge_entries": q["entries"], "left_by_steps": q["overflowed"],
}
open(out, "a").write(json.dumps(row) + "\n")
print(f"{build:>8} {name:>7} rep {rep}: offered {row['offered']:.0f}/s answered {row['answered']:.1f}/s "
      f"admitted {row['admitted']} (p50 {row['adm_p50_us']:.0f} p99 {row['adm_p99_us']:.0f} "
      f"p99.9 {row['adm_p999_us']:.0f} us), all answers p99 {row['p99_all_us']:.0f} us, "
      f"overflowed {row['overflowed']} rejected {row['rejected']} lost {row['lost']}, "
      f"inputs/s {row['inputs_per_s']:.1f}, engine {row['engine_us_per_decision']:.2f} us per "
      f"decision = {row['engine_decisions_per_s']:.0f} decisions/s of engine time, "
      f"surge entries {row['surge_entries']}, left by steps {row['left_by_steps']}")
EOF
}

capacity=$((agents * 1000 / talk_ms))
normal=$((capacity * 6 / 10))
echo "== $agents agents, mean talk $talk_ms ms (about $capacity calls/s), $seconds s per load," \
     "$reps repetitions"
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$baseline" ] || echo "== baseline: $baseline/control/acdd; this build: $acdd"
for ((rep = 1; rep <= reps; rep++)); do
  if [ -n "$baseline" ]; then
    run normal "$normal" "$rep" "$baseline/control/acdd" baseline
    run 3x "$((normal * 3))" "$rep" "$baseline/control/acdd" baseline
  fi
  run normal "$normal" "$rep"
  run 3x "$((normal * 3))" "$rep"
done
echo "== $(date -u '+%H:%M:%S UTC') load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = ["answered", "admitted", "overflowed", "adm_p50_us", "adm_p99_us", "adm_p999_us",
        "p99_all_us", "inputs_per_s", "engine_us_per_decision", "engine_decisions_per_s",
        "surge_entries"]
for build in sorted({x["build"] for x in rows}, key=lambda b: b != "baseline"):
    med = {}
    for load in ("normal", "3x"):
        r = [x for x in rows if x["load"] == load and x["build"] == build]
        med[load] = {k: statistics.median(x[k] for x in r) for k in keys}
        print(f"== {build} median {load} ({len(r)} runs): " +
              ", ".join(f"{k} {med[load][k]:.2f}" for k in keys))
        print(f"== {build} {load} surge entries per run: " +
              " ".join(str(x["surge_entries"]) for x in r))
    n, t = med["normal"], med["3x"]
    print(f"== {build} 3x / normal: admitted p99 {t['adm_p99_us'] / n['adm_p99_us']:.2f}x, "
          f"engine decisions/s {t['engine_decisions_per_s'] / n['engine_decisions_per_s']:.2f}x")
EOF
