#!/usr/bin/env bash
# End to end over io_uring on loopback: a real acdd on an ephemeral port, driven by acd-loadgen;
# every call must be routed or queued exactly once (no loss, no duplicate, no rejection), acdd must
# stop cleanly on SIGTERM with no call left in the engine.
# Usage: e2e_loopback.sh ACDD LOADGEN CORES RATE
set -euo pipefail
acdd=$1 loadgen=$2 cores=$3 rate=$4
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$acdd" --listen 127.0.0.1:0 --port-file "$work/port" --cores "$cores" --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 \
  >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
"$loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration 2 --agents 80 --json | tee "$work/result.json"
for field in '"lost": 0,' '"duplicates": 0,' '"rejected": 0,'; do
  grep -q "$field" "$work/result.json" || { echo "expected $field"; exit 1; }
done
sent=$(grep '"sent"' "$work/result.json" | tr -dc 0-9)
received=$(grep '"received"' "$work/result.json" | tr -dc 0-9)
routed=$(grep '"routed"' "$work/result.json" | tr -dc 0-9)
[ "$sent" -gt 0 ] && [ "$sent" = "$received" ] && [ "$sent" = "$routed" ] || {
  echo "sent $sent received $received routed $routed"; exit 1; }
kill -TERM $pid
wait $pid
cat "$work/acdd.err"
grep -q "calls in engine=0" "$work/acdd.err" || { echo "calls left in the engine"; exit 1; }
echo "ok: $sent calls routed exactly once"
