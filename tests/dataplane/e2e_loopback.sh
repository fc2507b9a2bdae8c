#!/usr/bin/env bash
# End to end over io_uring on loopback: a real acdd on an ephemeral port, driven by acd-loadgen;
# every call must be routed to an agent exactly once (no loss, no duplicate, no rejection, no
# error), and acdd must stop cleanly (exit status 0) on SIGTERM with no call left in the engine.
# Usage: e2e_loopback.sh ACDD LOADGEN CORES RATE
set -euo pipefail
acdd=$1 loadgen=$2 cores=$3 rate=$4
source "$(dirname "$0")/../loadgen_lib.sh"
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$acdd" --listen 127.0.0.1:0 --port-file "$work/port" --cores "$cores" --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 \
  >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
"$loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration 2 --agents 80 --json | tee "$work/result.json"
expect_every_call_routed "$work/result.json"
kill -TERM $pid
rc=0
wait $pid || rc=$?
cat "$work/acdd.err"
[ "$rc" = 0 ] || { echo "acdd exited with status $rc on SIGTERM"; exit 1; }
grep -q "calls in engine=0" "$work/acdd.err" || { echo "calls left in the engine"; exit 1; }
echo "ok: $(loadgen_field "$work/result.json" sent) calls routed exactly once"
