#!/usr/bin/env bash
# End-to-end benchmark on loopback, all in one run so the figures compare: the kernel's ceiling
# (acd-udp-echo, recvmmsg/sendmmsg), then acdd over io_uring: highest loss-free rate of each, and
# acdd's latency at 10 %, 50 % and 90 % of its highest loss-free rate.
# "Loss-free" is not "served" (a rate can lose nothing with a p50 of a second): bench/wire_bench.sh
# finds each one's capacity within a p99 bound, at equal work, repeated, with medians and spread.
# Usage: bench/e2e_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-5}
work=$(mktemp -d)
trap 'for p in "$work"/*.pid; do kill "$(cat "$p")" 2>/dev/null || true; done; rm -rf "$work"' EXIT

start() {  # name command...
  local name=$1; shift
  "$@" --port-file "$work/$name.port" >"$work/$name.out" 2>&1 &
  echo $! >"$work/$name.pid"
  for _ in $(seq 100); do [ -s "$work/$name.port" ] && break; sleep 0.05; done
  cat "$work/$name.port"
}

echo "== kernel ceiling: acd-udp-echo on CPU 0"
port=$(start echo "$build/acd-udp-echo" --listen 127.0.0.1:0 --cpu 0)
"$build/acd-loadgen" --target "127.0.0.1:$port" --rate max --duration "$seconds" --agents 100 | tee "$work/echo.json"
kill "$(cat "$work/echo.pid")"

echo "== acdd, io_uring, one core (CPU 0)"
port=$(start acdd "$build/control/acdd" --listen 127.0.0.1:0 --cores 0 --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0)
"$build/acd-loadgen" --target "127.0.0.1:$port" --rate max --duration "$seconds" --agents 150 | tee "$work/acdd.json"
max=$(grep -o '"max_loss_free_rate":[0-9.]*' "$work/acdd.json" | cut -d: -f2)
for share in 0.1 0.5 0.9; do
  rate=$(awk "BEGIN{print int($max*$share)}")
  echo "== acdd at $share of $max = $rate/s"
  "$build/acd-loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration "$seconds" --agents 150
done
echo_max=$(grep -o '"max_loss_free_rate":[0-9.]*' "$work/echo.json" | cut -d: -f2)
awk "BEGIN{printf \"acdd / kernel echo ceiling = %.0f / %.0f = %.2f\n\", $max, $echo_max, $max/$echo_max}"
