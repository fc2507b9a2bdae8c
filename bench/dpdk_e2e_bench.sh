#!/usr/bin/env bash
# DPDK end to end: acdd --backend dpdk (one core) driven over a net_memif link by acd-dpdk-loadgen
# (a DPDK process of its own on the other CPU; bench/dpdk_memif_lib.sh), both without hugepages.
# The same exchanges as the kernel-path benchmark (bench/wire_bench.sh) in clear text: switch
# clients and desktops register, the agents sign in and are made ready, route requests go 16 to a
# datagram, every call routed to an agent is answered and released.
#
# Rows: the generator at full speed with at most WINDOW route requests unanswered (one row per
# window in WINDOWS), then paced at RATE per second. Each row REPS runs of DURATION seconds, a fresh
# acdd for each; the table gives the median [lowest-highest]: route requests answered per second
# during the load, latency of the first answer (p50, p99, p99.9), requests lost, the decisions'
# mix (routed to an agent / queued / rejected because the engine's call pool was full), datagrams
# per second each way, and the generator's own CPU (its polling thread: 1.00 = a whole CPU, as a
# poll-mode loop always is) with its idle share (passes that received nothing and sent nothing:
# near 0, the generator and not acdd was the limit).
#
# Usage: bench/dpdk_e2e_bench.sh [BUILD_DIR]
# Environment: REPS (3) DURATION (3) AGENTS (150) WINDOWS ("64 512 4096") RATE (50000)
#   ACDD_CPU (0) GEN_CPU (1) KEEP=DIR (keep the JSON reports there)
set -euo pipefail
build=${1:-build}
reps=${REPS:-3} duration=${DURATION:-3} agents=${AGENTS:-150} windows=${WINDOWS:-64 512 4096}
rate=${RATE:-50000} acdd_cpu=${ACDD_CPU:-0} gen_cpu=${GEN_CPU:-1}
acdd=$build/control/acdd gen=$build/acd-dpdk-loadgen
source "$(dirname "$0")/dpdk_memif_lib.sh"
work=$(mktemp -d)
acdd_pid=
trap '[ -n "$acdd_pid" ] && kill -9 "$acdd_pid" 2>/dev/null; rm -rf "$work"' EXIT
[ "$(nproc)" -gt "$gen_cpu" ] || gen_cpu=$acdd_cpu

echo "acd DPDK end to end over memif: $(date -u '+%Y-%m-%d %H:%M UTC'), load:$(uptime | sed 's/.*load average//')"
echo "acdd --backend dpdk --cores $acdd_cpu; acd-dpdk-loadgen on CPU $gen_cpu; $agents agents; $reps x $duration s"
run_row() {  # NAME generator options...
  local name=$1 rep
  shift
  for rep in $(seq "$reps"); do
    memif_start_acdd "$acdd_cpu"
    memif_gen "$gen_cpu" --agents "$agents" --duration "$duration" "$@" >"$work/$name.$rep.json" || {
      echo "$name: the generator failed:"; cat "$work/gen.err"; exit 1; }
    memif_stop_acdd
  done
}
rows=()
for w in $windows; do
  run_row "window$w" --window "$w"
  rows+=("window$w")
done
run_row "rate" --rate "$rate" --window 4096
rows+=("rate")
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/*.json "$KEEP"/

python3 - "$work" "$reps" "$rate" "${rows[@]}" <<'PY'
import json, sys
work, reps, rate, names = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
def label(name):
    return f"paced {rate:,.0f}/s, window 4096" if name == "rate" else f"full speed, window {name[6:]}"
def runs(name):
    return [json.load(open(f"{work}/{name}.{k}.json")) for k in range(1, reps + 1)]
def cell(rs, f, fmt):
    v = sorted(f(r) for r in rs)
    return f"{fmt.format(v[len(v) // 2])} [{fmt.format(v[0])}-{fmt.format(v[-1])}]"
cols = [("route req/s", lambda r: r["route_requests_per_s"], "{:,.0f}"),
        ("p50 us", lambda r: r["p50_us"], "{:.0f}"), ("p99 us", lambda r: r["p99_us"], "{:.0f}"),
        ("p99.9 us", lambda r: r["p999_us"], "{:.0f}"), ("lost", lambda r: r["lost"], "{:.0f}"),
        ("routed", lambda r: r["routed"] / max(r["answered"], 1), "{:.1%}"),
        ("queued", lambda r: r["queued"] / max(r["answered"], 1), "{:.1%}"),
        ("rejected", lambda r: r["rejected"] / max(r["answered"], 1), "{:.1%}"),
        ("dgrams/s to", lambda r: r["out_datagrams"] / r["seconds"], "{:,.0f}"),
        ("dgrams/s from", lambda r: r["in_datagrams"] / r["seconds"], "{:,.0f}"),
        ("gen CPU", lambda r: r["loadgen_cpu_share"], "{:.2f}"),
        ("gen idle", lambda r: r["idle_share"], "{:.3f}")]
print("| load | " + " | ".join(c[0] for c in cols) + " |")
print("|---|" + "---|" * len(cols))
for name in names:
    rs = runs(name)
    print(f"| {label(name)} | " + " | ".join(cell(rs, f, fmt) for _, f, fmt in cols) + " |")
print("(median [lowest-highest]; 'to' = generator to acdd; gen CPU: its polling thread's CPU time over the load and the wait for the last answers; "
      "routed/queued/rejected: first answers, rejected = the engine's call pool full)")
PY
