#!/usr/bin/env bash
# The appliance at a large configured centre: AGENTS agents (groups of AGENTS/GROUPS, 5 skills
# each out of SKILLS, one queue per skill), generated here (no data is kept in the tree), a
# journal taking a node image every SNAPSHOT_S seconds.
#
# Measures: acdd's start-up (launch until the control socket answers `status`), its memory (RSS
# and peak), `acdctl status` and `acdctl agents show ID` (median of REPS), `acdctl config reload`
# of a changed file (a queue's ring timeout: no new engine) and of a structural change (one agent
# more: a new engine built and swapped in), each REPS times; and while a load of RATE calls/s runs
# (acd-loadgen, LOAD_AGENTS agents signed in) across snapshots and both kinds of reload, the
# longest client-visible wait (the load's max and p99.9) and the routing core's longest input
# (acd_engine_longest_input_seconds: a node image and a reload's swap are inputs).
#
# Usage: bench/scale_bench.sh [BUILD_DIR]
# Environment: AGENTS (1000000) AGENT_GROUPS (100) SKILLS (100) SNAPSHOT_S (2) REPS (3) RATE (5000)
#   LOAD_S (12) LOAD_AGENTS (20) TARGET_CPU (0) GEN_CPU (1)
set -euo pipefail
build=${1:-build}
agents=${AGENTS:-1000000} groups=${AGENT_GROUPS:-100} skills=${SKILLS:-100} snapshot_s=${SNAPSHOT_S:-2}
reps=${REPS:-3} rate=${RATE:-5000} load_s=${LOAD_S:-12} load_agents=${LOAD_AGENTS:-20}
target_cpu=${TARGET_CPU:-0} gen_cpu=${GEN_CPU:-1}
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
work=$(mktemp -d)
trap 'kill ${pid:-} ${lpid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
gen=("$loadgen")
[ "$(nproc)" -gt "$gen_cpu" ] && [ "$(nproc)" -gt "$target_cpu" ] && gen=(taskset -c "$gen_cpu" "$loadgen")
[ "$(nproc)" -gt "$target_cpu" ] || target_cpu=0

# config EXTRA_AGENTS RING_TIMEOUT > acd.toml
config() {
  awk -v agents="$agents" -v groups="$groups" -v skills="$skills" -v extra="$1" -v ring="$2" \
      -v journal="$work/journal" -v snap="$snapshot_s" -v creds="$work/credentials" 'BEGIN {
    print "site = \"scale-1\""
    print "max_calls = 65536"
    printf "skills = ["
    for (s = 0; s < skills; s++) printf "%s\"s%d\"", (s ? ", " : ""), s
    print "]"
    print "[control]"
    printf "credentials = \"%s\"\n", creds
    print "[journal]"
    printf "dir = \"%s\"\nsnapshot_every_s = %d\n", journal, snap
    for (s = 0; s < skills; s++) {
      printf "[[queue]]\nname = \"q%d\"\nskills = { s%d = 1 }\npolicy = \"longest_idle\"\nring_timeout_s = %d\n", s, s, ring
    }
    per = int(agents / groups)
    for (g = 0; g < groups; g++) {
      n = (g == groups - 1) ? agents - per * (groups - 1) : per
      printf "[[agent_group]]\nfirst_id = %d\ncount = %d\nskills = { ", 1000 + g * per, n
      for (k = 0; k < 5; k++) printf "%ss%d = %d", (k ? ", " : ""), (g + k * 7) % skills, 5 - k
      print " }"
    }
    if (extra > 0) {
      printf "[[agent_group]]\nfirst_id = %d\ncount = %d\nskills = { s0 = 1 }\n", 1000 + agents + 1000, extra
    }
  }'
}
config 0 20 >"$work/acd.toml"
config 0 25 >"$work/acd_ring.toml"
config 1 20 >"$work/acd_more.toml"
for id in $(seq 1000 $((1000 + load_agents - 1))); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
ctl() { "$acdctl" --socket "$work/ctl.sock" "$@"; }
metric() {  # NAME{labels} -> value
  exec 3<>"/dev/tcp/127.0.0.1/$(cat "$work/port.metrics")"
  printf 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  awk -v m="$1" '$1 == m { print $2 + 0 }' <&3
  exec 3<&-
}
echo "== $agents agents in $groups groups, $skills skills/queues, journal image every ${snapshot_s}s;" \
  "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "config: $(wc -c <"$work/acd.toml") bytes"

t0=$(date +%s%N)
"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" --cores "$target_cpu" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
until ctl status >/dev/null 2>&1; do
  kill -0 $pid 2>/dev/null || { echo "acdd exited:"; cat "$work/err"; exit 1; }
  sleep 0.02
done
t1=$(date +%s%N)
echo "start-up (launch to a control socket answering status): $(ms "$t0" "$t1") ms"
awk '/^VmRSS|^VmHWM/ { printf "%s %.0f MiB  ", $1, $2 / 1024 } END { print "" }' "/proc/$pid/status"

time_cmd() {  # label command... : median of REPS wall times
  local times=()
  for _ in $(seq "$reps"); do
    local a b; a=$(date +%s%N); "$@" >"$work/cmd.out" 2>&1 || { echo "refused: $(tail -1 "$work/cmd.out")"; return; }
    b=$(date +%s%N); times+=("$(ms "$a" "$b")")
  done
  echo "$(printf '%s\n' "${times[@]}" | median) ms (runs: ${times[*]})"
}
echo "acdctl status: $(time_cmd ctl status)"
echo "acdctl agents show $((1000 + agents / 2)): $(time_cmd ctl agents show $((1000 + agents / 2)))"
echo "acdctl config reload (a ring timeout, no new engine): $(time_cmd ctl config reload "$work/acd_ring.toml")"
ctl config reload "$work/acd.toml" >/dev/null 2>&1 || true
echo "acdctl config reload (one agent more: a new engine): $(time_cmd ctl config reload "$work/acd_more.toml")"
awk '/^VmRSS|^VmHWM/ { printf "%s %.0f MiB  ", $1, $2 / 1024 } END { print "(after the reloads)\n" }' "/proc/$pid/status"
echo "routing core's longest input so far (start-up, reloads, snapshots): $(metric 'acd_engine_longest_input_seconds{kind="request"}') s (ticks: $(metric 'acd_engine_longest_input_seconds{kind="tick"}') s)"

# The load across snapshots and reloads: a reload of each kind in the middle.
"${gen[@]}" --target "127.0.0.1:$(cat "$work/port")" --rate "$rate" --duration "$load_s" \
  --agents "$load_agents" --json >"$work/load.json" 2>"$work/load.err" &
lpid=$!
until grep -q "load starts" "$work/load.err" 2>/dev/null; do sleep 0.05; done
sleep "$(awk -v s="$load_s" 'BEGIN { print s / 3 }')"
r1=$(date +%s%N); ctl config reload "$work/acd_ring.toml" >/dev/null 2>&1 || echo "reload under load refused"; r2=$(date +%s%N)
sleep "$(awk -v s="$load_s" 'BEGIN { print s / 3 }')"
r3=$(date +%s%N); ctl config reload "$work/acd.toml" >/dev/null 2>&1 || echo "reload under load refused"; r4=$(date +%s%N)
wait $lpid
lpid=
echo "under load: reloads took $(ms "$r1" "$r2") ms (ring timeout) and $(ms "$r3" "$r4") ms (one agent fewer: a new engine)"
python3 - "$work/load.json" "$load_s" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"load {j['target_rate']:.0f} calls/s for {sys.argv[2]} s: sent {j['sent']}, lost {j['lost']}, "
      f"p50 {j['p50_us']:.0f} us, p99 {j['p99_us']:.0f} us, p99.9 {j['p999_us']:.0f} us, max {j['max_us']:.0f} us")
EOF
echo "routing core's longest input: $(metric 'acd_engine_longest_input_seconds{kind="request"}') s (ticks: $(metric 'acd_engine_longest_input_seconds{kind="tick"}') s)"
echo "journal images taken: $(ls "$work/journal" | grep -c snap || true) files now in the journal"
kill -TERM $pid
wait $pid || true
pid=
