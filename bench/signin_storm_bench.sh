#!/usr/bin/env bash
# A shift start: AGENTS agents sign in at once through a real acdd, while 50 agents already signed
# in take calls. Reports how long the sign-ins took and the calls' routing latency during the storm
# against a quiet minute before it (goal: p50 and p99 at most 1.5x quiet).
#
#   bench/signin_storm_bench.sh BUILD_DIR [AGENTS] [OPSLIMIT] [MEMLIMIT_KIB] [SECONDS]
#   bench/signin_storm_bench.sh build 10000 1 8192 60
#
# The credential file is made with `acdctl agent import` at the same cost. Defaults: 10,000
# agents, opslimit 1 / 8 MiB, 60 s of calls at 200/s in each phase. [signin] threads is left at
# its default (the CPUs the dataplane's core leaves free). NICE=N sets [signin] nice, which acdd
# applies only when the verifiers share the dataplane's CPUs (not with cores = [0] on 2+ CPUs).
# KEEP=DIR copies the run's files there (acd.toml, the generators' JSON and stderr, acdd's stderr
# with its counters at exit). IO_PRIORITY=N sets [dataplane] io_priority (acdd makes its IO thread
# SCHED_FIFO N itself; needs root or CAP_SYS_NICE); BURST=N sets [signin] burst;
# SCHED=normal|batch|idle sets [signin] sched (the verifier threads' and the credential writer's
# scheduling policy); QUEUE=N sets [signin] queue (default 1024). None of the optional keys is
# written when unset, so an acdd without these keys runs it too. The script also prints the IO
# thread's time on a CPU and time runnable but waiting for one (schedstat) in each phase.
# GEN_CPUS=LIST runs both load generators (the calls' and the storm's desktops) under
# `taskset -c LIST`, in both phases: on a machine as small as two CPUs, GEN_CPUS=1 keeps them off
# the dataplane's CPU 0, as desktops and switches on other hosts would be; the verifier threads
# share CPU 1 with them (SCHED=idle lets the generators go first). Unset: the scheduler places them.
set -euo pipefail
build=$1 agents=${2:-10000} ops=${3:-1} kib=${4:-8192} seconds=${5:-60}
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${probe:-} 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/acd.toml" <<TOML
site = "bench"
skills = ["general"]
[dataplane]
listen = "127.0.0.1:0"
cores = [0]
max_clients = $((agents + 200))
${IO_PRIORITY:+io_priority = $IO_PRIORITY}
[control]
socket = "$work/ctl.sock"
credentials = "$work/credentials"
[metrics]
listen = "127.0.0.1:0"
[signin]
queue = ${QUEUE:-1024}
${BURST:+burst = $BURST}
${SCHED:+sched = \"$SCHED\"}
nice = ${NICE:-10}
opslimit = $ops
memlimit_kib = $kib
[[queue]]
name = "general"
skills = { general = 1 }
[[agent_group]]
first_id = 1000
count = 50
skills = { general = 1 }
[[agent_group]]
first_id = 100000
count = $agents
skills = { general = 1 }
TOML
{ for id in $(seq 1000 1049) $(seq 100000 $((100000 + agents - 1))); do echo "$id,demo-$id"; done; } >"$work/agents.csv"
echo "== provisioning $((agents + 50)) agents at opslimit=$ops memlimit=${kib}KiB"
/usr/bin/time -f "import: %e s elapsed, %M KiB peak" "$acdctl" agent import "$work/agents.csv" \
  --credentials "$work/credentials" --config "$work/acd.toml" 2>&1 | grep -v "checked or hashed"

"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
# IO_FIFO=N (root): run acdd's IO thread (its main thread) SCHED_FIFO at priority N, so that no
# other thread on its CPU (the generators, other tenants) preempts it: tells acdd's own delays from
# the scheduler's.
[ -n "${IO_FIFO:-}" ] && chrt -f -p "$IO_FIFO" "$pid"
gen=()
[ -n "${GEN_CPUS:-}" ] && gen=(taskset -c "$GEN_CPUS")
latency() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['sent'], j['routed'], j['p50_us'], j['p99_us'])" "$1"; }

# The IO thread's time on a CPU and waiting for one (ns, /proc/PID/task/TID/schedstat).
schedstat() { cat "/proc/$pid/task/$pid/schedstat" 2>/dev/null | awk '{print $1, $2}'; }
echo "== quiet: 50 agents, 200 calls/s for $seconds s"
read -r q_run0 q_wait0 < <(schedstat)
"${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate 200 --duration "$seconds" --agents 50 --json >"$work/quiet.json"
read -r q_sent q_routed q50 q99 < <(latency "$work/quiet.json")
read -r q_run1 q_wait1 < <(schedstat)

# What acdd's IO thread (its main thread with cores = [0]) runs as: policy and priority.
echo "acdd IO thread: $(chrt -p "$pid" 2>/dev/null | tr '\n' ' ')"
for task in /proc/"$pid"/task/*; do
  case "$(cat "$task/comm")" in acd-verify-0|acd-cred-write)
    echo "acdd $(cat "$task/comm"): $(chrt -p "${task##*/}" 2>/dev/null | head -1 | sed 's/.*: //')";;
  esac
done
echo "== storm: the same calls while $agents agents sign in"
"${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate 200 --duration "$seconds" --agents 50 --json \
  >"$work/probe.json" 2>"$work/probe.err" &
probe=$!
for _ in $(seq 200); do grep -q "load starts" "$work/probe.err" && break; sleep 0.05; done
switches() { awk '/ctxt_switches/ {printf "%s ", $2}' "/proc/$1/status" 2>/dev/null; }
io_before=$(switches "$pid")  # acdd's IO thread is its main thread (cores = [0])
read -r s_run0 s_wait0 < <(schedstat)
# CPU time (clock ticks) and last CPU of each of acdd's threads, and of the probe generator.
thread_cpu() { for t in /proc/"$pid"/task/* /proc/"$probe"; do awk -v c="$(cat "$t/comm")" '{print c, $14 + $15, $39}' "$t/stat"; done 2>/dev/null; }
cpu_before=$(thread_cpu || true)
/usr/bin/time -f "%U s user, %S s system" -o "$work/storm.time" \
  "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 1 --agents "$agents" --first-agent 100000 \
  --first-index 50 --first-switch 200 --signin-timeout 3600 --json >"$work/storm.json" 2>"$work/storm.err" || {
  echo "storm failed: $(cat "$work/storm.err")"; exit 1; }
echo "context switches during the storm (voluntary, involuntary): acdd IO thread $(switches "$pid") (before: $io_before), probe $(switches "$probe")"
read -r s_run1 s_wait1 < <(schedstat)
cpu_after=$(thread_cpu || true)
echo "CPU during the storm (ms, last CPU): $(awk -v tick="$(getconf CLK_TCK)" 'NR == FNR { before[$1] += $2; next }
  { used[$1] += $2; cpu[$1] = $3 } END { for (n in used) if (used[n] - before[n] > 0)
  printf "%s %d@%s, ", n, (used[n] - before[n]) * 1000 / tick, cpu[n] }' <(echo "$cpu_before") <(echo "$cpu_after"))storm generator $(cat "$work/storm.time")"
echo "acdd IO thread, ms on a CPU / ms runnable waiting for one: quiet $(( (q_run1 - q_run0) / 1000000 )) / $(( (q_wait1 - q_wait0) / 1000000 )), storm (sign-ins only) $(( (s_run1 - s_run0) / 1000000 )) / $(( (s_wait1 - s_wait0) / 1000000 ))"
wait "$probe"; probe=
read -r s_sent s_routed s50 s99 < <(latency "$work/probe.json")
signin_ms=$(python3 -c "import json; print(json.load(open('$work/storm.json'))['signin_ms'])")
overloaded=$(python3 -c "import json; print(json.load(open('$work/storm.json'))['signin_overloaded'])")
kill -TERM "$pid"; wait "$pid" || true; pid=
# acdd's counters at exit (tx_failed, ring_full, ...) and where the probe's calls went.
grep -o "acdd: stopping; .*" "$work/acdd.err" | tr ' ' '\n' | grep -E "^(tx_|ring_full|rx_datagrams|duplicates_answered|drop_|signins_deferred)" | tr '\n' ' ' | sed 's/^/acdd counters: /; s/$/\n/'
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('probe during the storm:', {k: j.get(k) for k in ('sent','received','routed','queued','rejected','errors','error_reasons','retransmissions')})" "$work/probe.json"
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/*.json "$work"/*.err "$work/acd.toml" "$KEEP"/
python3 - "$agents" "$signin_ms" "$overloaded" "$q_sent" "$q_routed" "$q50" "$q99" "$s_sent" "$s_routed" "$s50" "$s99" <<'PY'
import sys
a, ms, ov, qs, qr, q50, q99, ss, sr, s50, s99 = sys.argv[1:]
ms = float(ms)
print(f"sign-in storm: {a} agents in {ms/1000:.1f} s ({int(a)/(ms/1000):.0f}/s), {ov} answered Overloaded and sent again")
print(f"routing quiet: {qr}/{qs} routed, p50 {float(q50):.0f} us, p99 {float(q99):.0f} us")
print(f"routing storm: {sr}/{ss} routed, p50 {float(s50):.0f} us, p99 {float(s99):.0f} us"
      f" (the storm covered {min(ms/1000, 1e9):.0f} s of the {ss} calls' window)")
print(f"ratio storm/quiet: p50 {float(s50)/max(float(q50),1):.2f}x, p99 {float(s99)/max(float(q99),1):.2f}x (goal <= 1.5x)")
PY
