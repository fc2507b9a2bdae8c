#!/usr/bin/env bash
# The hot-standby pair's CPU cost per call, beside a single node's, in one run: the same
# configuration (default centre, no journal, production hash_every) under the same fixed rate,
# each setup ROUNDS times, alternating. CPU is each acdd's utime + stime (/proc/PID/stat) over the
# load only (from acd-loadgen's "load starts" to its end, so the agents' sign-ins are left out),
# divided by the calls sent. A fixed moderate rate keeps every setup below saturation, so the figure
# is what each call costs rather than how the shared cores were divided; it is far steadier on a
# busy 2-core machine than the highest loss-free rate. Latency (p50, p99) at that rate beside it.
# Prints one line per round and the medians.
# Usage: bench/ha_cpu_bench.sh [BUILD_DIR] [RATE] [SECONDS] [ROUNDS]
set -euo pipefail
build=${1:-build}
rate=${2:-40000}
seconds=${3:-5}
rounds=${4:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
source "$here/tests/require.sh"
source "$here/tests/loadgen_lib.sh"
source "$here/tests/etcd_lib.sh"
source "$here/tests/ha/pair_lib.sh"
work=$(mktemp -d)
[ -z "${KEEP:-}" ] || echo "work directory (kept): $work"
spid=
trap '[ -z "$spid" ] || kill -9 "$spid" 2>/dev/null; stop_pair; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),\{0,1\}\$/\1/p" "$1"; }
ticks=$(getconf CLK_TCK)
cpu_ms() {  # cpu_ms PID: utime + stime of the process so far, in ms
  awk -v t="$ticks" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / t }' "/proc/$1/stat"
}

pair_setup "$work/p" "$acdd" "$acdctl" "$here/control/default/acd.toml" 0 >/dev/null
sed -i '/^\[journal\]/,/^$/d' "$work/p/a/acd.toml" "$work/p/b/acd.toml"
sed -i 's/^hash_every = .*/hash_every = 10000/' "$work/p/a/acd.toml" "$work/p/b/acd.toml"
single=$work/p/single.toml
sed '/^\[ha\]/,$d' "$work/p/a/acd.toml" >"$single"

# measure NAME PID...: runs the load against node a's port; prints "sent cpu_ms... p50 p99".
measure() {
  local name=$1 lg pid before=() after=() i
  shift
  "$loadgen" --target "127.0.0.1:$PORT_a" --rate "$rate" --duration "$seconds" --agents 30 --json \
    >"$work/$name.json" 2>"$work/$name.err" &
  lg=$!
  for _ in $(seq 600); do grep -qs "load starts" "$work/$name.err" && break; sleep 0.02; done
  for pid in "$@"; do before+=("$(cpu_ms "$pid")"); done
  wait "$lg" || { echo "load failed: $(cat "$work/$name.err")" >&2; exit 1; }
  for pid in "$@"; do after+=("$(cpu_ms "$pid")"); done
  printf "%s" "$(field "$work/$name.json" sent)"
  for i in "${!before[@]}"; do printf " %s" "$(awk "BEGIN{print ${after[$i]} - ${before[$i]}}")"; done
  printf " %s %s\n" "$(field "$work/$name.json" p50_us)" "$(field "$work/$name.json" p99_us)"
}

echo "== CPU per 100,000 calls at $rate calls/s, $seconds s of load, $rounds rounds" \
  "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-6s %-8s %9s %12s %12s %12s %9s %9s\n" round setup sent "acdd_ms" "standby_ms" "total_ms" p50_us p99_us
for r in $(seq "$rounds"); do
  "$acdd" --config "$single" >"$work/single.out" 2>&1 &
  spid=$!
  sleep 1
  read -r sent c p50 p99 < <(measure "single$r" "$spid")
  kill -TERM "$spid"; wait "$spid" || true; spid=
  rm -f "$work/p/a/ctl.sock"
  awk -v r="$r" -v s="$sent" -v c="$c" -v p50="$p50" -v p99="$p99" 'BEGIN {
    printf "%-6s %-8s %9d %12.0f %12s %12.0f %9s %9s\n", r, "single", s, c * 1e5 / s, "-", c * 1e5 / s, p50, p99 }' |
    tee -a "$work/single.rows"

  : >"$work/p/a/err"; : >"$work/p/a/out"; : >"$work/p/b/err"; : >"$work/p/b/out"
  start_node a primary
  wait_log a "ha: primary with epoch"
  start_node b standby
  wait_log a "standby synchronous at seq [1-9]" 15
  read -r sent ca cb p50 p99 < <(measure "pair$r" "$PID_a" "$PID_b")
  kill -9 "$PID_a" "$PID_b"; wait "$PID_a" "$PID_b" 2>/dev/null || true; PID_a= PID_b=
  rm -rf "$work/p/a/ctl.sock" "$work/p/b/ctl.sock"
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" del /acd-test/epoch >/dev/null
  awk -v r="$r" -v s="$sent" -v a="$ca" -v b="$cb" -v p50="$p50" -v p99="$p99" 'BEGIN {
    printf "%-6s %-8s %9d %12.0f %12.0f %12.0f %9s %9s\n", r, "pair", s, a * 1e5 / s, b * 1e5 / s, (a + b) * 1e5 / s, p50, p99 }' |
    tee -a "$work/pair.rows"
done
median() {  # median FILE COLUMN
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
s_total=$(median "$work/single.rows" 6) p_a=$(median "$work/pair.rows" 4) p_b=$(median "$work/pair.rows" 5)
p_total=$(median "$work/pair.rows" 6)
echo "medians: single ${s_total} ms of CPU per 100k calls (p50 $(median "$work/single.rows" 7) us," \
  "p99 $(median "$work/single.rows" 8) us); pair ${p_total} ms (primary ${p_a}, standby ${p_b};" \
  "p50 $(median "$work/pair.rows" 7) us, p99 $(median "$work/pair.rows" 8) us)"
awk "BEGIN{printf \"pair / single CPU per call = %.2f; primary alone / single = %.2f\n\", $p_total / $s_total, $p_a / $s_total}"
