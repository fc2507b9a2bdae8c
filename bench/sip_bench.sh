#!/usr/bin/env bash
# SIP call set-up through Kamailio + acd-sip-bridge + acdd against Kamailio alone, in one run on
# loopback. Both Kamailios run the shipped sip/kamailio.cfg; the baseline's copy relays every
# INVITE straight to the agents' SIPp instead of route(ACD). The agents' phones are one SIPp UAS
# (180 at once, then 200); the bridge sends each call to its agent's fixed URI there (no usrloc
# lookup on either side). acdd requires ACDP/2 and has AGENTS agents signed in and ready.
#
# For each repetition, baseline then acd:
#   latency:    RATE calls/s for SECONDS s; per call, INVITE sent -> the agent's first answer
#               (its 180, sent at once; or its 200 when that overtook the 180) back at the
#               caller, by gettimeofday in the caller's scenario; p50 / p99 per mode;
#   throughput: MAX calls/s aimed for 5 s; calls answered (200) per second, from the
#               first INVITE to the last 200.
# Before each acd run: agents acd set not ready (no answer) are made ready again, and the agents
# not ready at the start (busy with a stuck call) are counted.
# After each acd run: the calls the bridge still follows and the INVITEs Kamailio still holds
# suspended for it, given 5 s to settle (0 and 0 unless a call is stuck); at the end, acdd's calls.
# Both Kamailios get 1024 MB of shared memory (-m 1024, SHM_MB to change): the default runs out
# of transactions at 1,000 calls/s, and 256 MB ran out in the overload step (2,000 calls/s aimed),
# where Kamailio then lost transactions it had resumed and left calls up in acd.
# Per acd run, from the histograms of the bridge and of acdd (the bucket holding the p50 / p99, as
# its upper bound): acd's answer as the bridge sees it (RouteRequest sent -> RouteResponse back),
# acdd's engine time per request (acd_decision_latency_seconds: the routing itself, without the
# datagram's way in and out), and Kamailio's handling of a command (written -> its done back).
# KAMAILIO_CFG=FILE runs another Kamailio configuration (default: sip/kamailio.cfg of this tree),
# e.g. an older one beside the binaries of an older build, to compare the two.
# Prints one JSON line per mode and repetition, then the medians.
# Usage: bench/sip_bench.sh [BUILD_DIR] [REPS] [RATE] [SECONDS] [MAX] [AGENTS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
reps=${2:-3} rate=${3:-1000} seconds=${4:-10} max=${5:-3000} agents=${6:-100}
tseconds=5  # throughput runs
shm=${SHM_MB:-1024}  # Kamailio shared memory, MB
trace=${TRACE_MSG:+-trace_msg}  # TRACE_MSG=1: SIPp logs every message (diagnosis)
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
bridge=$build/sip/acd-sip-bridge
for b in "$acdd" "$acdctl" "$loadgen" "$bridge"; do [ -x "$b" ] || { echo "no $b" >&2; exit 1; }; done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
uas_port=$(free_port) acd_sip=$(free_port) base_sip=$(free_port) evapi_port=$(free_port)
base_evapi=$(free_port) caller_port=$(free_port) acdd_metrics=127.0.0.1:$(free_port)

# acdd: the demo centre, ACDP/2 required, AGENTS agents of the generalists group with passwords.
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
"$acdctl" key generate --out "$work/bridge.key" >"$work/bridge.keygen"
bridge_pub=$(sed -n 's/^public key: //p' "$work/bridge.keygen")
"$loadgen" --write-keys "$work/lg" --agents "$agents" >/dev/null
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" "$root/control/default/acd.toml" >"$work/acd.toml"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/acd.toml"
printf '\n[[clients]]\nname = "sip-bridge"\nrole = "switch"\npublic_key = "%s"\n' "$bridge_pub" >>"$work/acd.toml"
cat "$work/lg/clients.toml" >>"$work/acd.toml"
for id in $(seq 1000 $((1000 + agents - 1))); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null
done
"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics "$acdd_metrics" >"$work/acdd.out" 2>"$work/acdd.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/acdd.err")"
acd_port=$(cat "$work/port")
# Sign the agents in and make them ready (the load generator's own calls go to a queue that does
# not exist: it routes nothing).
"$loadgen" --target "127.0.0.1:$acd_port" --rate 1 --duration 1 --agents "$agents" --queue 99 \
  --keys-dir "$work/lg" --server-key "$work/acdd.pub" --signin-timeout 120 --json \
  >"$work/lg.json" 2>"$work/lg.err" || fail "sign-in: $(cat "$work/lg.err")"

# The agents' phones: one SIPp UAS, every call.
cat >"$work/phone.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench agent phone">
  <recv request="INVITE"/>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]a[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]a[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

  ]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
</scenario>
XML
# The callers: INVITE, 180, 200, ACK, BYE at once. Each call logs the time it sent its INVITE and
# the time the agent's first answer came back: the 180, or the 200 when it overtook the 180 in
# the proxy's two workers. A 180 that comes after the 200 is then dropped (unexpected, and the
# callers run without abort-on-unexpected). It must not be optional="global": SIPp takes a late
# message that matches an earlier global one as the call's step, so a 180 arriving after the ACK
# sent the call back to waiting for a 200 that had come already; after 10 s SIPp gave up with a BYE
# of its own, without the Route set (Kamailio used to answer it 404 and acd kept the call up).
cat >"$work/caller.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench caller">
  <nop><action><gettimeofday assign_to="s1,u1"/></action></nop>
  <send retrans="500"><![CDATA[
      INVITE sip:5000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      To: <sip:5000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="182" optional="true"/>
  <recv response="180" optional="true">
    <action>
      <gettimeofday assign_to="s2,u2"/>
      <log message="[call_id] 180 [$s1] [$u1] [$s2] [$u2]"/>
    </action>
  </recv>
  <recv response="200" rrs="true">
    <action>
      <gettimeofday assign_to="s2,u2"/>
      <log message="[call_id] 200 [$s1] [$u1] [$s2] [$u2]"/>
    </action>
  </recv>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]c[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
XML
(cd "$work" && exec sipp -sf "$work/phone.xml" -i 127.0.0.1 -p "$uas_port" $trace -nostdin >"$work/uas.out" 2>"$work/uas.err" </dev/null) &
pids+=($!)

# Kamailio with acd, and the baseline: the same file, the INVITE relayed straight to the phones.
cfg=${KAMAILIO_CFG:-$root/sip/kamailio.cfg}
[ -r "$cfg" ] || fail "no Kamailio configuration $cfg"
sed "s|^\t\troute(ACD);|\t\t\$du = \"sip:127.0.0.1:$uas_port\";\n\t\tt_relay();|" "$cfg" >"$work/base.cfg"
grep -q "^		\$du = \"sip:127.0.0.1:$uas_port\";" "$work/base.cfg" || fail "the baseline cfg was not made"
for mode in acd base; do
  port_var=${mode}_sip evapi_var=evapi_port
  [ "$mode" = base ] && evapi_var=base_evapi
  file=$cfg
  [ "$mode" = base ] && file=$work/base.cfg
  mkdir -p "$work/run-$mode"
  kamailio -f "$file" -m "$shm" -A "SIP_LISTEN=udp:127.0.0.1:${!port_var}" -A "EVAPI_BIND=\"127.0.0.1:${!evapi_var}\"" \
    -DD -E -Y "$work/run-$mode" -P "$work/kamailio-$mode.pid" -w "$work/run-$mode" \
    >"$work/kamailio-$mode.out" 2>"$work/kamailio-$mode.err" &
  pids+=($!)
done
bridge_metrics=127.0.0.1:$(free_port)
{
  cat <<CONF
evapi = "127.0.0.1:$evapi_port"
acd = "127.0.0.1:$acd_port"
key_file = "$work/bridge.key"
server_key = "$work/acdd.pub"
domain = "127.0.0.1"
ring_s = 10
metrics = "$bridge_metrics"

[[services]]
number = "5000"
queue = 0
CONF
  for id in $(seq 1000 $((1000 + agents - 1))); do
    printf '\n[[agents]]\nid = %d\nuri = "sip:%d@127.0.0.1:%d"\n' "$id" "$id" "$uas_port"
  done
} >"$work/bridge.toml"
sleep 1
"$bridge" --config "$work/bridge.toml" >"$work/bridge.out" 2>"$work/bridge.err" &
pids+=($!)
for _ in $(seq 100); do
  grep -q "connected to evapi" "$work/bridge.out" && grep -q "session made" "$work/bridge.out" && break
  sleep 0.1
done
grep -q "session made" "$work/bridge.out" && grep -q "connected to evapi" "$work/bridge.out" ||
  fail "the bridge is not up: $(cat "$work/bridge.out" "$work/bridge.err")"

bridge_metric() {  # bridge_metric NAME: one sample of the bridge's /metrics
  curl -s "http://$bridge_metrics/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
# What the bridge still follows once SIPp is done (given 5 s to settle): calls, and INVITEs
# Kamailio holds suspended for it. Both 0 unless a call is stuck.
left_in_bridge() {
  for _ in $(seq 50); do
    [ "$(bridge_metric acd_sip_calls)" = 0 ] && break
    sleep 0.1
  done
  echo "$(bridge_metric acd_sip_calls) $(bridge_metric acd_sip_suspended_transactions)"
}

# Agents whose phone did not answer in time at the previous run's overload (Kamailio's 4 s for a
# provisional: acd set them not ready, as it should) are made ready again, so that each run starts
# with the same agents; the number is reported with the run.
ready_again() {
  local n=0 id
  for id in $("$acdctl" --socket "$work/ctl.sock" --json agents list |
    python3 -c 'import json,sys; print(" ".join(str(a["id"]) for a in json.load(sys.stdin) if a["state"] == "NotReady"))'); do
    "$acdctl" --socket "$work/ctl.sock" agents ready "$id" >/dev/null && n=$((n + 1))
  done
  echo "$n"
}

# run MODE KIND RATE: one SIPp caller run; prints a JSON line. Set-up time per call: INVITE sent
# to the agent's first answer received. Calls per second: calls answered (200) over the time from
# the first INVITE to the last 200.
run() {
  local mode=$1 kind=$2 r=$3 port_var=${1}_sip
  local secs=$seconds
  [ "$kind" = throughput ] && secs=$tseconds
  local n=$((r * secs)) dir=$work/$mode-$kind-$rep
  mkdir -p "$dir"
  local status=0 readied=0 busy=0 ignored0=0
  if [ "$mode" = acd ]; then
    readied=$(ready_again)
    busy=$("$acdctl" --socket "$work/ctl.sock" --json agents list |
      python3 -c 'import json,sys; print(sum(a["state"] != "Ready" and a["state"] != "LoggedOut" for a in json.load(sys.stdin)))')
    ignored0=$(bridge_metric acd_sip_ignored_total)
    curl -s "http://$bridge_metrics/metrics" >"$dir/metrics.before"
    curl -s "http://$acdd_metrics/metrics" >"$dir/acdd.before"
  fi
  # A phone's 180 can reach the caller after its 200 (Kamailio's UDP workers relay in any order):
  # without abort-on-unexpected SIPp drops it, as RFC 3261 asks, instead of aborting the call
  # with a BYE that carries no Route (which Kamailio refuses, leaving the call up in acd).
  (cd "$dir" && sipp "127.0.0.1:${!port_var}" -sf "$work/caller.xml" \
    -default_behaviors all,-abortunexp -i 127.0.0.1 -p "$caller_port" \
    -r "$r" -m "$n" -l 4000 -recv_timeout 10000 -timeout $((seconds * 3 + 30))s -timeout_error \
    -trace_stat -stf stat.csv -fd 1 -trace_logs -trace_err $trace -nostdin >sipp.out 2>sipp.err) || status=$?
  local left="-1 -1"
  local ignored=0
  if [ "$mode" = acd ]; then
    left=$(left_in_bridge)
    ignored=$(($(bridge_metric acd_sip_ignored_total) - ignored0))
    curl -s "http://$bridge_metrics/metrics" >"$dir/metrics.after"
    curl -s "http://$acdd_metrics/metrics" >"$dir/acdd.after"
  fi
  python3 - "$dir" "$mode" "$kind" "$r" "$n" "$status" $left "$readied" "$busy" "$ignored" <<'PY'
import csv, glob, json, sys
d, mode, kind, rate, n, status, calls_left, held_left, readied, busy, ignored = sys.argv[1:]
first, answered, starts = {}, [], []
for f in glob.glob(d + "/*_logs.log"):
    for line in open(f):
        p = line.split()
        if len(p) < 6:
            continue
        sent = float(p[2]) + float(p[3]) / 1e6
        got = float(p[4]) + float(p[5]) / 1e6
        if p[0] not in first:
            first[p[0]] = got - sent
            starts.append(sent)
        if p[1] == "200":
            answered.append(got)
times = sorted(v * 1000 for v in first.values())
rows = list(csv.reader(open(glob.glob(d + "/stat.csv")[0]), delimiter=";"))
last = dict(zip(rows[0], rows[-1]))
pct = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 3) if times else None
# The bridge's histograms over this run (acd mode): the bucket an quantile falls in, as its upper
# bound in ms: acd's answer time (RouteRequest to RouteResponse) and Kamailio's read time of a
# command (written to its done).
def hist(name, files="metrics"):
    def read(path):
        b = {}
        try:
            for line in open(path):
                if line.startswith(name + "_bucket{le=\""):
                    le = line.split('"')[1]
                    b[le] = int(line.split()[-1])
        except OSError:
            pass
        return b
    before, after = read(d + "/" + files + ".before"), read(d + "/" + files + ".after")
    rows = [(float("inf") if le == "+Inf" else float(le), after[le] - before.get(le, 0)) for le in after]
    rows.sort()
    total = rows[-1][1] if rows else 0
    def q(x):
        for le, c in rows:
            if total and c >= x * total:
                return None if le == float("inf") else round(le * 1000, 3)
        return None
    return q(0.5), q(0.99)
dec50, dec99 = hist("acd_sip_decision_seconds") if mode == "acd" else (None, None)
ev50, ev99 = hist("acd_sip_evapi_command_seconds") if mode == "acd" else (None, None)
en50, en99 = hist("acd_decision_latency_seconds", "acdd") if mode == "acd" else (None, None)
span = (max(answered) - min(starts)) if answered else 0
print(json.dumps({"mode": mode, "kind": kind, "aimed_cps": int(rate), "calls": int(n),
                  "successful": int(last["SuccessfulCall(C)"]), "failed": int(last["FailedCall(C)"]),
                  "sipp_status": int(status), "answered": len(answered), "span_s": round(span, 3),
                  "cps": round(len(answered) / span, 1) if span else 0,
                  "setup_samples": len(times), "setup_p50_ms": pct(0.5), "setup_p99_ms": pct(0.99),
                  "bridge_calls_left": int(calls_left) if mode == "acd" else None,
                  "held_invites_left": int(held_left) if mode == "acd" else None,
                  "agents_made_ready_before": int(readied) if mode == "acd" else None,
                  "agents_not_ready_at_start": int(busy) if mode == "acd" else None,
                  "bridge_ignored_events": int(ignored) if mode == "acd" else None,
                  "acd_answer_p50_p99_le_ms": [dec50, dec99] if mode == "acd" else None,
                  "evapi_read_p50_p99_le_ms": [ev50, ev99] if mode == "acd" else None,
                  "acdd_engine_p50_p99_le_ms": [en50, en99] if mode == "acd" else None}))
PY
}
[ -n "${KEEP:-}" ] && echo "work: $work"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); rate $rate/s, max $max/s, $seconds s, $reps reps, $agents agents; $build, $cfg"
for rep in $(seq "$reps"); do
  for mode in base acd; do
    run "$mode" latency "$rate" | tee -a "$work/results.jsonl"
    run "$mode" throughput "$max" | tee -a "$work/results.jsonl"
  done
done
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
def med(mode, kind, key):
    v = [r[key] for r in rs if r["mode"] == mode and r["kind"] == kind and r[key] is not None]
    return statistics.median(v) if v else None
b50, a50 = med("base", "latency", "setup_p50_ms"), med("acd", "latency", "setup_p50_ms")
b99, a99 = med("base", "latency", "setup_p99_ms"), med("acd", "latency", "setup_p99_ms")
bt, at = med("base", "throughput", "cps"), med("acd", "throughput", "cps")
print(json.dumps({"median_base_p50_ms": b50, "median_acd_p50_ms": a50, "added_p50_ms": round(a50 - b50, 3),
                  "median_base_p99_ms": b99, "median_acd_p99_ms": a99, "added_p99_ms": round(a99 - b99, 3),
                  "median_base_cps": bt, "median_acd_cps": at, "ratio": round(at / bt, 3),
                  "failed_calls": sum(r["failed"] for r in rs),
                  "max_bridge_calls_left": max(r["bridge_calls_left"] for r in rs if r["mode"] == "acd"),
                  "max_held_invites_left": max(r["held_invites_left"] for r in rs if r["mode"] == "acd")}))
PY
echo "bridge: $(curl -s "http://$bridge_metrics/metrics" |
  grep -E '^acd_sip_(routed_agent_total|queued_total|rejected_total|abandoned_total|retransmits_total|calls|suspended_transactions|evapi_unconfirmed_total|evapi_commands_held) ' | tr '\n' ' ')"
echo "acdd: $("$acdctl" --socket "$work/ctl.sock" --json calls list |
  python3 -c 'import json,sys; c=json.load(sys.stdin); c=c if isinstance(c, list) else c.get("calls", []); print(len(c), "calls left")')"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
