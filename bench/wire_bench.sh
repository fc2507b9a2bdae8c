#!/usr/bin/env bash
# The wire benchmark at equal work, in one run: acdd (io_uring, one core) and acd-udp-echo (the
# kernel's ceiling: the same exchanges per call, Offer to the desktop included, and no routing),
# each driven by acd-loadgen pinned to the other CPU.
#
# For each target: its capacity, the highest offered rate at which the p99 stays within
# P99_BOUND_US with nothing lost (acd-loadgen --rate capacity: doubling, then five bisections,
# each step REPS trials of TRIAL_S, passing when most trials pass; halving instead when the first
# rate fails), then REPS runs of DURATION at
# that rate; then both at half of acdd's capacity (the same offered rate for both). The table gives
# the median [lowest-highest] of the REPS runs: calls/s, messages/s and datagrams/s each way, p50
# and p99, the generator's own CPU use and its idle share (the passes of its loop with nothing to
# do: near 0, it, not the target, may have been the limit). "per call" shows that both did the same
# work.
#
# Usage: bench/wire_bench.sh [BUILD_DIR]
# Environment: REPS (3) TRIAL_S (1) DURATION (3) P99_BOUND_US (1000) AGENTS (150)
#   START (5000, first rate tried; use a lower one where the p99 bound fails even there) MAX_RATE (20000000) TARGET_CPU (0) GEN_CPU (1)
#   PROFILE=FILE: `perf record -e cpu-clock` of acdd during one more DURATION at its capacity
#   KEEP=DIR: keep the JSON reports there
set -euo pipefail
build=${1:-build}
reps=${REPS:-3} trial=${TRIAL_S:-1} duration=${DURATION:-3} bound=${P99_BOUND_US:-1000}
agents=${AGENTS:-150} first=${START:-5000} max_rate=${MAX_RATE:-20000000}
target_cpu=${TARGET_CPU:-0} gen_cpu=${GEN_CPU:-1}
work=$(mktemp -d)
trap 'for p in "$work"/*.pid; do [ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; rm -rf "$work"' EXIT

gen=("$build/acd-loadgen")
if [ "$(nproc)" -gt "$gen_cpu" ] && [ "$(nproc)" -gt "$target_cpu" ]; then
  gen=(taskset -c "$gen_cpu" "$build/acd-loadgen")
  pin="acd-loadgen on CPU $gen_cpu"
else
  pin="not pinned (fewer CPUs than TARGET_CPU/GEN_CPU)"
  target_cpu=0
fi

start() {  # name command...
  local name=$1; shift
  rm -f "$work/$name.port"
  "$@" --port-file "$work/$name.port" >"$work/$name.out" 2>&1 &
  echo $! >"$work/$name.pid"
  for _ in $(seq 200); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  [ -s "$work/$name.port" ] || { echo "wire_bench: $name did not start" >&2; cat "$work/$name.out" >&2; exit 1; }
  cat "$work/$name.port"
}
stop() {  # name
  kill "$(cat "$work/$1.pid")" 2>/dev/null || true
  wait "$(cat "$work/$1.pid")" 2>/dev/null || true
  rm -f "$work/$1.pid"
}
load() {  # port out.json loadgen-options...
  local port=$1 out=$2; shift 2
  "${gen[@]}" --target "127.0.0.1:$port" --agents "$agents" --reps "${LOAD_REPS:-$reps}" --duration "$duration" \
    --spin --json "$@" >"$out" 2>"$out.err" || { echo "wire_bench: acd-loadgen failed" >&2; cat "$out.err" >&2; exit 1; }
}
# The search's steps (rate, trials served, median p99), for the record.
steps() {  # json
  python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["capacity_steps"]:
    print("     %9.0f/s: %s, median p99 %.0f us, lost %s" % (s["rate"], "served" if s["served"] else "not served",
          s["median_p99_us"], [t["lost"] + t["retransmitted"] for t in s["trials"]]))' "$1"
}
capacity() {  # json
  python3 -c 'import json, sys; print("%.0f" % json.load(open(sys.argv[1]))["capacity"])' "$1"
}
search=(--rate capacity --p99-bound-us "$bound" --trial-s "$trial" --capacity-start "$first" --capacity-max "$max_rate")
echo "== wire benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   targets on CPU $target_cpu, $pin; p99 bound $bound us; $reps x ${trial}s per search step; $reps x ${duration}s measured; $agents agents"

port=$(start echo "$build/acd-udp-echo" --listen 127.0.0.1:0 --cpu "$target_cpu")
load "$port" "$work/echo.json" "${search[@]}"
stop echo
echo "   echo capacity: $(capacity "$work/echo.json") calls/s"
steps "$work/echo.json"

port=$(start acdd "$build/control/acdd" --listen 127.0.0.1:0 --cores "$target_cpu" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0)
load "$port" "$work/acdd.json" "${search[@]}"
acdd_cap=$(capacity "$work/acdd.json")
echo "   acdd capacity: $acdd_cap calls/s"
steps "$work/acdd.json"
half=$(awk -v c="$acdd_cap" -v f="$first" 'BEGIN { r = int(c / 2); if (r < 1) r = int(f / 2); print r }')
load "$port" "$work/acdd_half.json" --rate "$half"
if [ -n "${PROFILE:-}" ]; then
  perf record -e cpu-clock -g -o "$PROFILE" -p "$(cat "$work/acdd.pid")" -- sleep "$((${duration%.*} + 3))" \
    >"$work/perf.out" 2>&1 &
  perf_pid=$!
  sleep 0.5
  LOAD_REPS=1 load "$port" "$work/acdd_profiled.json" --rate "$((half * 2))"
  wait $perf_pid || true
  echo "   profile of acdd at $((half * 2)) calls/s: $PROFILE"
fi
stop acdd

port=$(start echo "$build/acd-udp-echo" --listen 127.0.0.1:0 --cpu "$target_cpu")
load "$port" "$work/echo_half.json" --rate "$half"
stop echo

[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/*.json "$KEEP"/

python3 - "$work" "$bound" <<'EOF'
import json, sys
work, bound = sys.argv[1], float(sys.argv[2])
def load(name):
    with open(f"{work}/{name}.json") as f:
        return json.load(f)
rows = [("acd-udp-echo @ its capacity", load("echo")), ("acdd @ its capacity", load("acdd")),
        ("acd-udp-echo @ half acdd's", load("echo_half")), ("acdd @ half its capacity", load("acdd_half"))]
def runs(j):
    return j.get("runs") or [j]
def stat(j, key, scale=1.0, fmt="{:.0f}"):
    v = sorted(r[key] * scale for r in runs(j))
    return f"{fmt.format(v[len(v) // 2])} [{fmt.format(v[0])}-{fmt.format(v[-1])}]"
cols = [("offered/s", "target_rate", 1, "{:.0f}"), ("calls/s", "calls_per_s", 1, "{:.0f}"),
        ("msgs/s to", "messages_out_per_s", 1, "{:.0f}"), ("msgs/s from", "messages_in_per_s", 1, "{:.0f}"),
        ("dgrams/s to", "datagrams_out_per_s", 1, "{:.0f}"), ("dgrams/s from", "datagrams_in_per_s", 1, "{:.0f}"),
        ("p50 us", "p50_us", 1, "{:.0f}"), ("p99 us", "p99_us", 1, "{:.0f}"),
        ("lost", "lost", 1, "{:.0f}"), ("gen CPU", "loadgen_cpu_share", 1, "{:.2f}"),
        ("gen idle", "loadgen_idle_share", 1, "{:.2f}")]
print("| target | " + " | ".join(c[0] for c in cols) + " |")
print("|---|" + "---|" * len(cols))
for name, j in rows:
    print(f"| {name} | " + " | ".join(stat(j, k, s, f) for _, k, s, f in cols) + " |")
print("(median [lowest-highest] of the runs; 'to' = generator to target; gen CPU: the generator's own, "
      "1.00 = one CPU, it polls without sleeping above 10k calls/s; gen idle: share of its loop's passes "
      "with nothing to receive or send, near 0 = it was the bottleneck)")
print()
def per_call(j, key):
    v = sorted(r[key] / max(r["received"], 1) for r in runs(j))
    return v[len(v) // 2]
for name, j in rows[:2]:
    print(f"per call, {name.split()[0]}: messages to {per_call(j, 'messages_out'):.2f}, from "
          f"{per_call(j, 'messages_in'):.2f}; datagrams to {per_call(j, 'datagrams_out'):.2f}, from "
          f"{per_call(j, 'datagrams_in'):.2f}")
echo, acdd = rows[0][1], rows[1][1]
ratio = acdd["capacity"] / echo["capacity"] if echo["capacity"] else 0
print(f"capacity (p99 <= {bound:.0f} us, nothing lost): acdd {acdd['capacity']:.0f} / echo "
      f"{echo['capacity']:.0f} calls/s = {ratio:.2f}")
def med(j, key):
    v = sorted(r[key] for r in runs(j))
    return v[len(v) // 2]
e99, a99 = med(rows[2][1], "p99_us"), med(rows[3][1], "p99_us")
print(f"p99 at half acdd's capacity: acdd {a99:.0f} us / echo {e99:.0f} us = "
      f"{(a99 / e99 if e99 else 0):.2f}")
EOF
