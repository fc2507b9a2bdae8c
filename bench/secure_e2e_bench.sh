#!/usr/bin/env bash
# ACDP/2 end to end on loopback (acdd + acd-loadgen), clear text and ACDP/2 side by side in one
# run, REPS times each, alternating so that the machine's noise falls on both:
# 1. throughput: the highest loss-free rate (acd-loadgen --rate max) of acdd with security off and
#    of the same acdd with security required, with each AEAD (ChaCha20-Poly1305, the default, and
#    AES-256-GCM where the CPU has AES-NI), and each one's ratio to clear text (goal >= 0.8);
# 2. a forged flood: with security required, the established clients' latency at RATE calls/s
#    alone, then again while a flood of forged datagrams arrives at FLOOD_X times the clients'
#    datagram rate (half data datagrams naming random sessions, half handshake inits with a right
#    mac1 from 250 source addresses, which would cost a DH each unless acdd answers with a
#    cookie): p50 and p99, and the ratio of p99 flooded / alone (goal <= 1.2).
# Medians of the REPS runs are printed last. The same configuration (control/default/acd.toml,
# 50 agents with credentials) for every run; ACDP/2 adds [security] and the clients' keys.
# Usage: bench/secure_e2e_bench.sh [BUILD_DIR] [REPS] [SECONDS] [RATE] [FLOOD_X]
# FLOOD_SENDER=loadgen (default): the flood comes from acd-loadgen --flood (C++, sendmmsg batches,
# datagrams made before the clock starts, sent 8 at a time: about 5 % of a core); FLOOD_SENDER=python:
# from the Python sender this script used first (the same datagrams at the same rate, but sent in
# bursts of 100 every 5 ms, about 10 % of a core): bench/RESULTS.md compares the two.
# FLOOD_BURSTS="0 100" (loadgen sender): one flooded run per value in each rep, side by side:
# 0 sends evenly, N sends N datagrams back to back every N / rate seconds (--flood-burst N).
# FLOOD_ONLY=1: skip the throughput part (1.), measure only the flood (2.).
# GEN_CPUS=LIST runs every acd-loadgen (the clients and the flood's sender) under `taskset -c
# LIST`: with acdd's dataplane on CPU 0 (the shipped cores = [0]), GEN_CPUS=1 keeps them off it,
# as clients and an attacker on other hosts would be.
# WARMUP=0: no unmeasured load on each fresh acdd before its unflooded run (the default runs one,
# so that the unflooded and the flooded runs both meet an acdd whose agents signed in before).
# acdd's CPU per thread is measured while the flooded clients' load runs (after their sign-in,
# whose password hashes would otherwise show as a busy acd-verify-0).
# IO_FIFO=N (root): run acdd's IO thread (its main thread) SCHED_FIFO at priority N, so that no other
# thread on its CPU (the flood sender, the generator, other tenants) preempts it: tells acdd's own
# delays from the scheduler's (diagnosis only; acdd does not do this itself).
# PERF=sched|cpu (root, perf): during each flooded load, 3 s of `perf sched record -a` (every
# thread's wait for a CPU; `perf sched latency` of acdd's threads is printed) or of
# `perf record -e cpu-clock -g` on acdd (the top of `perf report` per thread is printed); the
# recordings stay in PERF_DIR (default: a directory the script names).
# STAGES=1: acdd --trace-port-stages; its once-a-second lines (batch sizes, wake-ups, delays from
# the kernel's receive timestamp to the IO thread, receive cycles) during each measured load are printed.
# SECURE_EXTRA="key = value;key = value": more lines for acd.toml's [security] table of the ACDP/2 runs.
# After each flooded run the script prints what acdd counted meanwhile (sessions made, cookie
# replies sent and withheld, inits dropped by reason).
set -euo pipefail
build=${1:-build}
reps=${2:-3}
seconds=${3:-5}
rate=${4:-2000}
flood_x=${5:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
gen=()
[ -n "${GEN_CPUS:-}" ] && gen=(taskset -c "$GEN_CPUS")
source "$here/tests/loadgen_lib.sh"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
field() { sed -n "s/^ *\"$2\": \([0-9.]*\),\{0,1\}\$/\1/p" "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
agents=50

"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
"$loadgen" --write-keys "$work/lg" --agents $agents >/dev/null
for id in $(seq 1000 $((1000 + agents - 1))); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null
done
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    "$here/control/default/acd.toml" >"$work/clear.toml"
cp "$work/clear.toml" "$work/secure.toml"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/secure.toml"
if [ -n "${SECURE_EXTRA:-}" ]; then printf '%s\n' "${SECURE_EXTRA//;/$'\n'}" >>"$work/secure.toml"; fi
cat "$work/lg/clients.toml" >>"$work/secure.toml"
sed -e 's|^mode = "required"$|mode = "required"\naead = "aes256-gcm"|' "$work/secure.toml" >"$work/aes.toml"

start() {  # start clear|secure: acdd with that configuration on a free port, into $port
  rm -f "$work/port"
  "$acdd" --config "$work/$1.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
    --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 ${STAGES:+--trace-port-stages} >"$work/acdd.out" 2>"$work/acdd.err" &
  pid=$!
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { cat "$work/acdd.err"; exit 1; }
  port=$(cat "$work/port")
  if [ -n "${IO_FIFO:-}" ]; then chrt -f -p "$IO_FIFO" "$pid"; fi
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
# Per-thread CPU of a process: "tid:name:ticks" lines, and the % of a core each used between two.
thread_ticks() {
  for t in /proc/"$1"/task/*; do
    printf '%s:%s:%s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
  done 2>/dev/null
}
thread_cpu() {  # before after seconds
  awk -v secs="$3" -v hz="$(getconf CLK_TCK)" -F: 'NR == FNR { b[$1] = $3; next }
    { used = 100 * ($3 - b[$1]) / hz / secs; if (used >= 1) printf "%s %.0f%% ", $2, used }' \
    <(echo "$1") <(echo "$2")
}
# Per thread of a process: "tid:name:run_ns:wait_ns:slices" (/proc/.../schedstat: time on a CPU,
# time runnable but waiting for one, times it was switched in).
thread_sched() {
  for t in /proc/"$1"/task/*; do
    printf '%s:%s:%s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(tr ' ' : <"$t/schedstat")"
  done 2>/dev/null
}
thread_waits() {  # before after seconds: each busy thread's wait for a CPU, ms a second and µs a switch-in
  awk -v secs="$3" -F: 'NR == FNR { w[$1] = $4; n[$1] = $5; next }
    { dw = $4 - w[$1]; dn = $5 - n[$1];
      if (dn > 0 && dw / secs >= 1e5) printf "%s %.1f ms/s (%.0f us x %d/s) ", $2, dw / secs / 1e6, dw / dn / 1e3, dn / secs }' \
    <(echo "$1") <(echo "$2")
}
# Interrupts and softirqs per CPU: "RES:a:b CAL:a:b NET_RX:a:b" (rescheduling and function-call
# IPIs, the network receive softirq), and their rate a second between two snapshots.
irq_snapshot() {
  { grep -E '^ *(RES|CAL):' /proc/interrupts; grep -E '^ *NET_RX:' /proc/softirqs; } |
    awk '{ n = $1; sub(":", "", n); line = n; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) line = line ":" $i; print line }'
}
irq_rates() {  # before after seconds
  awk -v secs="$3" -F: 'NR == FNR { for (i = 2; i <= NF; i++) b[$1, i] = $i; next }
    { printf "%s", $1; for (i = 2; i <= NF; i++) printf " cpu%d %.0f/s", i - 2, ($i - b[$1, i]) / secs; printf "; " }' \
    <(echo "$1") <(echo "$2")
}
# Every thread of the given processes (the load generators): their waits for a CPU, as thread_waits.
procs_sched() { for p in "$@"; do thread_sched "$p"; done; }
# acdd's security counters, one "name value" a line (the metrics endpoint, --port-file's .metrics).
security_counters() {
  curl -s "http://127.0.0.1:$(cat "$work/port.metrics")/metrics" |
    sed -n 's/^acd_security_\([a-z_]*\)_total\({reason="\([a-z_0-9]*\)"}\)\{0,1\} \([0-9]*\)$/\1:\3 \4/p'
}
counters_delta() {  # before after: the counters that moved, "name+N"
  awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) printf "%s+%d ", $1, d }' \
    <(echo "$1") <(echo "$2")
}
stage_mark() { wc -l <"$work/acdd.err"; }
stage_lines() {  # mark: acdd's port-stage lines since then
  [ -n "${STAGES:-}" ] || return 0
  sed -n "$(($1 + 1)),\$p" "$work/acdd.err" | sed -n 's/^acdd: port stages: /     /p'
}
perf_dir=${PERF_DIR:-}
if [ -n "${PERF:-}" ] && [ -z "$perf_dir" ]; then perf_dir=$(mktemp -d /tmp/acd-flood-perf.XXXXXX); fi
secure_args() { echo --keys-dir "$work/lg" --server-key "$work/acdd.pub"; }
aes_available() { grep -qw aes /proc/cpuinfo; }

clear_max=() secure_max=() ratio=() aes_max=() aes_ratio=() alone_p99=() alone_p50=()
declare -A flood_p99 flood_p50 p99_ratio flood_rate  # by burst: space-separated per rep
flood_sender=${FLOOD_SENDER:-loadgen}
bursts=${FLOOD_BURSTS:-0}
[ "$flood_sender" = loadgen ] || bursts=python
for r in $(seq "$reps"); do
  if [ -z "${FLOOD_ONLY:-}" ]; then
  echo "== rep $r: highest loss-free rate, clear text"
  start clear
  "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate max --duration "$seconds" --agents $agents --json >"$work/clear$r.json"
  stop
  echo "== rep $r: highest loss-free rate, ACDP/2"
  start secure
  # shellcheck disable=SC2046
  "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate max --duration "$seconds" --agents $agents $(secure_args) --json >"$work/secure$r.json"
  stop
  c=$(field "$work/clear$r.json" max_loss_free_rate) s=$(field "$work/secure$r.json" max_loss_free_rate)
  clear_max+=("$c") secure_max+=("$s")
  ratio+=("$(awk "BEGIN{printf \"%.3f\", $s / $c}")")
  echo "   clear $c/s, ACDP/2 $s/s, ratio ${ratio[-1]}"
  if aes_available; then
    echo "== rep $r: highest loss-free rate, ACDP/2 with AES-256-GCM"
    start aes
    # shellcheck disable=SC2046
    "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate max --duration "$seconds" --agents $agents $(secure_args) --aead aes256-gcm --json >"$work/aes$r.json"
    stop
    a=$(field "$work/aes$r.json" max_loss_free_rate)
    aes_max+=("$a")
    aes_ratio+=("$(awk "BEGIN{printf \"%.3f\", $a / $c}")")
    echo "   ACDP/2 with AES-256-GCM $a/s, ratio to clear ${aes_ratio[-1]}"
  fi
  fi

  echo "== rep $r: ACDP/2 at $rate calls/s, alone then under a ${flood_x}x forged flood (bursts: $bursts)"
  start secure
  if [ "${WARMUP:-1}" != 0 ]; then
    # A first load on the fresh acdd, not measured: the agents' first sign-in (password hashes)
    # and the first calls (memory acdd touches the first time) would otherwise fall on the
    # unflooded run only, and every flooded run after it would compare against a slower baseline.
    # shellcheck disable=SC2046
    "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration "$seconds" --agents $agents $(secure_args) --json >"$work/warmup$r.json" 2>"$work/warmup$r.err" ||
      { cat "$work/warmup$r.err" >&2; exit 1; }
    echo "   warm-up (not counted): p50 $(field "$work/warmup$r.json" p50_us) us p99 $(field "$work/warmup$r.json" p99_us) us"
  fi
  # shellcheck disable=SC2046
  "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration "$seconds" --agents $agents $(secure_args) --json >"$work/alone$r.json" 2>"$work/alone$r.err" &
  clients=$!
  until grep -qs "load starts" "$work/alone$r.err" || ! kill -0 $clients 2>/dev/null; do sleep 0.05; done
  sched_before=$(thread_sched "$pid") gen_before=$(procs_sched $clients) irq_before=$(irq_snapshot) mark=$(stage_mark) t0=$(date +%s.%N)
  sleep $((seconds - 1))
  elapsed=$(awk "BEGIN{print $(date +%s.%N) - $t0}")
  wait_alone=$(thread_waits "$sched_before" "$(thread_sched "$pid")" "$elapsed")
  gen_alone=$(thread_waits "$gen_before" "$(procs_sched $clients)" "$elapsed")
  irq_alone=$(irq_rates "$irq_before" "$(irq_snapshot)" "$elapsed")
  wait $clients || { cat "$work/alone$r.err" >&2; exit 1; }
  alone_p50+=("$(field "$work/alone$r.json" p50_us)") alone_p99+=("$(field "$work/alone$r.json" p99_us)")
  expect_every_call_routed "$work/alone$r.json" >/dev/null || echo "   (alone: not every call routed)"
  echo "   alone p50 ${alone_p50[-1]} us p99 ${alone_p99[-1]} us; acdd threads' wait for a CPU: $wait_alone"
  echo "   alone: the clients' generator threads' wait for a CPU: $gen_alone"
  echo "   alone: interrupts and softirqs: $irq_alone"
  stage_lines "$mark"
  for b in $bursts; do
  # The clients' datagram rate is about their call rate (one request per datagram at this rate).
  if [ "$flood_sender" = loadgen ]; then
    # Until the clients are done (SIGTERM below), whatever their sign-in takes.
    "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --server-key "$work/acdd.pub" --flood $((rate * flood_x)) \
        --flood-burst "$b" --duration $((seconds + 120)) --json >"$work/flood$r.json" 2>"$work/flood$r.err" &
  else
  python3 - "$port" "$(cat "$work/acdd.pub")" $((rate * flood_x)) $((seconds + 120)) "$work/floodcpu$r" 2>"$work/flood$r.err" <<'PY' &
import base64, hashlib, os, signal, socket, struct, sys, time
port, server, rate, seconds = int(sys.argv[1]), base64.b64decode(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
mac1_key = hashlib.blake2b(b"acdp2 mac1" + server, digest_size=32).digest()
socks = []
for i in range(1, 251):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.2.0.%d" % i, 0))
    socks.append(s)
pool = []
for n in range(2000):
    if n % 2:
        body = struct.pack("<IBBHII", 0x50444341, 2, 0x81, 160, n, 0) + os.urandom(112)
        pool.append(body + hashlib.blake2b(body, key=mac1_key, digest_size=16).digest() + bytes(16))
    else:  # a data datagram naming a random session: 16-byte header, counter, 64 bytes, tag
        payload = os.urandom(8 + 64 + 16)
        pool.append(struct.pack("<IBBHII", 0x50444341, 2, 1, 16 + len(payload), struct.unpack("<I", os.urandom(4))[0], 0) + payload)
to = ("127.0.0.1", port)
stopped = []
signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
start, sent = time.monotonic(), 0
while not stopped and time.monotonic() - start < seconds:
    for _ in range(100):
        socks[sent % 250].sendto(pool[sent % 2000], to)
        sent += 1
    ahead = start + sent / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
print("%.0f" % (sent / (time.monotonic() - start)), file=sys.stderr)
print("%.1f" % (100 * time.process_time() / (time.monotonic() - start)), file=open(sys.argv[5], "w"))
PY
  fi
  flood=$!
  sleep 1.5
  rm -f "$work/flooded$r.err"  # the previous burst's: its "load starts" is not this run's
  # shellcheck disable=SC2046
  "${gen[@]}" "$loadgen" --target "127.0.0.1:$port" --rate "$rate" --duration "$seconds" --agents $agents $(secure_args) --json >"$work/flooded$r.json" 2>"$work/flooded$r.err" &
  clients=$!
  counters_before=$(security_counters)
  # acdd's threads while the load runs (not while the clients sign in: password hashes).
  until grep -qs "load starts" "$work/flooded$r.err" || ! kill -0 $clients 2>/dev/null; do sleep 0.05; done
  cpu_before=$(thread_ticks "$pid") sched_before=$(thread_sched "$pid")
  gen_before=$(procs_sched $clients $flood) irq_before=$(irq_snapshot) mark=$(stage_mark)
  t0=$(date +%s.%N)
  case "${PERF:-}" in
    sched) perf sched record -a -o "$perf_dir/sched-r$r-b$b.data" -- sleep 3 >/dev/null 2>&1 ;;
    cpu) perf record -e cpu-clock -F 4999 -g -p "$pid" -o "$perf_dir/cpu-r$r-b$b.data" -- sleep 3 >/dev/null 2>&1 ;;
  esac
  sleep "$(awk "BEGIN{s = $seconds - 1 - ($(date +%s.%N) - $t0); print (s > 0) ? s : 0}")"
  elapsed=$(awk "BEGIN{print $(date +%s.%N) - $t0}")
  cpu_line=$(thread_cpu "$cpu_before" "$(thread_ticks "$pid")" "$elapsed")
  wait_line=$(thread_waits "$sched_before" "$(thread_sched "$pid")" "$elapsed")
  gen_line=$(thread_waits "$gen_before" "$(procs_sched $clients $flood)" "$elapsed")
  irq_line=$(irq_rates "$irq_before" "$(irq_snapshot)" "$elapsed")
  clients_ok=1
  wait $clients || clients_ok=
  kill -0 $flood 2>/dev/null || echo "   (the flood ended before the clients' load: not flooded throughout)"
  kill -TERM $flood 2>/dev/null || true
  wait "$flood" || true
  counters_line=$(counters_delta "$counters_before" "$(security_counters)")
  if [ "$flood_sender" = loadgen ]; then
    field "$work/flood$r.json" flood_cpu_percent >"$work/floodcpu$r"
    field "$work/flood$r.json" flood_rate | cut -d. -f1 >>"$work/flood$r.err"
  fi
  if [ -z "$clients_ok" ] || [ -z "$(field "$work/flooded$r.json" p99_us)" ]; then
    echo "   burst $b: the flooded clients' load generator failed (left out of the medians): $(grep -v '^acd-loadgen: load starts' "$work/flooded$r.err" | tail -2 | tr '\n' ' ')"
    continue
  fi
  expect_every_call_routed "$work/flooded$r.json" >/dev/null || echo "   (flooded: not every call routed)"
  fp50=$(field "$work/flooded$r.json" p50_us) fp99=$(field "$work/flooded$r.json" p99_us)
  frate=$(tail -1 "$work/flood$r.err")
  ratio_r=$(awk "BEGIN{printf \"%.3f\", $fp99 / ${alone_p99[-1]}}")
  flood_p50[$b]+="$fp50 " flood_p99[$b]+="$fp99 " p99_ratio[$b]+="$ratio_r " flood_rate[$b]+="$frate "
  echo "   burst $b: flooded (${frate} forged/s) p50 $fp50 us p99 $fp99 us; p99 ratio $ratio_r"
  echo "   CPU while flooded: flood sender $(cat "$work/floodcpu$r" 2>/dev/null || echo ?)% of a core; acdd threads: $cpu_line"
  echo "   acdd threads' wait for a CPU (runnable, not running): $wait_line"
  echo "   the generators' threads' wait for a CPU (clients', flood's): $gen_line"
  echo "   interrupts and softirqs: $irq_line"
  stage_lines "$mark"
  hs=$(ps -L -o tid=,comm=,cls= -p "$pid" | awk '$2 == "acd-handshake" {print $1, $3}')
  echo "   acd-handshake: class ${hs#* }, CPUs $(taskset -c -p "${hs%% *}" 2>/dev/null | sed 's/.*: //')"
  echo "   acdd counted while the flooded clients ran: $counters_line"
  case "${PERF:-}" in
    sched)
      echo "   waits for a CPU (perf sched latency, acdd's threads and the generators):"
      perf sched latency -i "$perf_dir/sched-r$r-b$b.data" 2>/dev/null |
        grep -E 'acdd|acd-|loadgen' | sed -n '1,12s/^/     /p' || true ;;
    cpu)
      echo "   acdd's CPU samples by thread and symbol (perf report, top 15):"
      perf report -i "$perf_dir/cpu-r$r-b$b.data" --no-children --sort comm,sym --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | sed -n '1,15s/^/     /p' || true ;;
  esac
  done
  stop
done

echo "== medians of $reps (machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)); flood sender: $flood_sender"
if [ -z "${FLOOD_ONLY:-}" ]; then
echo "highest loss-free rate: clear $(median "${clear_max[@]}")/s, ACDP/2 $(median "${secure_max[@]}")/s, ACDP/2 / clear $(median "${ratio[@]}") (per rep: ${ratio[*]})"
if [ ${#aes_max[@]} -gt 0 ]; then
  echo "highest loss-free rate with AES-256-GCM: $(median "${aes_max[@]}")/s, AES / clear $(median "${aes_ratio[@]}") (per rep: ${aes_ratio[*]})"
else
  echo "AES-256-GCM not measured: this CPU has no AES-NI"
fi
fi
echo "ACDP/2 at $rate calls/s alone: p50 $(median "${alone_p50[@]}") us, p99 $(median "${alone_p99[@]}") us (per rep: ${alone_p99[*]})"
for b in $bursts; do
  # shellcheck disable=SC2086
  echo "flooded, burst $b: p50 $(median ${flood_p50[$b]}) us, p99 $(median ${flood_p99[$b]}) us (per rep: ${flood_p99[$b]% }); flooded / alone p99 $(median ${p99_ratio[$b]}) (per rep: ${p99_ratio[$b]% }); flood $(median ${flood_rate[$b]}) forged datagrams/s"
done
