#!/usr/bin/env bash
# The quick-start demo: acdd on its embedded configuration, and simulated traffic over the real wire
# protocol (calls arriving, agents signing in, answering after a talk time, going ready again).
# Ctrl-C stops both. Usage: control/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
"$build/control/acdd" &
pids+=($!)
sleep 1
cat <<TXT

acd is routing. In another terminal, as root or as a member of acd-viewer, acd or acd-admin
(acdctl refuses users in none of them):
  $build/control/acdctl top                      live queues and agents
  $build/control/acdctl agents | head            agents and their states
  curl -s http://127.0.0.1:9470/metrics | grep acd_queue
Traffic: 3 calls/s to the "general" queue, 100 agents signed in, 30 s mean talk time.
Ctrl-C stops acdd and the traffic.

TXT
"$build/acd-loadgen" --target 127.0.0.1:7070 --rate 3 --duration 86400 --agents 100 --talk-ms 30000 >/dev/null &
pids+=($!)
wait "${pids[0]}"
