#!/usr/bin/env bash
# SIP calls held across a takeover of the acd pair (docs/ha.md): two acdd over ACDP/2 with their
# etcd witness, a real Kamailio (sip/kamailio.cfg) and acd-sip-bridge configured with both nodes
# (acd = node a, standby = node b). At node a, agent 1000 talks with caller A; callers C and D
# dial 5000 and hear 182 Queued (their INVITEs stay suspended in Kamailio), and so does E, who
# gives up 2.5 s later; agent 1001 signs in and C rings at its phone. Node a is killed (-9) at once; b promotes, and the bridge moves to it
# (b's takeover announcement, or a's silence). Then, with no agent signing in again:
#  - 1001's phone answers C while a is dead (its phone rings 1 s): the 200 reaches node b (the
#    bridge sends the answer again after the move) and C talks there;
#  - C hangs up (released at b) and agent 1001 takes D, queued across the takeover;
#  - E hangs up while queued, after the move: abandoned at b;
#  - caller A hangs up after the move: b releases the call and agent 1000 is ready again.
# Afterwards b's counts for queue general are those of the four calls SIPp made (offered,
# answered, abandoned), b holds no call, both agents are Ready, and the bridge follows no call,
# holds no INVITE and answered nothing 503.
# Usage: sip_failover_e2e.sh ACDD ACDCTL LOADGEN BRIDGE DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 bridge=$4 default_config=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
source "$here/sip_lib.sh"
require_tools kamailio sipp python3 curl
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/../ha/pair_lib.sh"
work=$(mktemp -d)
pids=()
cleanup() {  # every process this script started, by its own ID, then the pair
  sip_stop_started
  stop_pair
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' TERM INT
fail() {
  echo "FAIL: $*"
  for f in bridge.out bridge.err kamailio.err first.err first.msg second.err second.msg talker.err quitter.err uas.err uas2.err lg1000.err lg1001.err; do
    [ -s "$work/$f" ] && { echo "--- $f"; tail -30 "$work/$f"; }
  done
  echo "--- the bridge's counters"
  metrics_text 2>/dev/null | grep '^acd_sip' | grep -v '^acd_sip_decision\|^acd_sip_evapi_latency' || true
  [ -S "$work/b/ctl.sock" ] && declare -F ctl >/dev/null && { echo "--- node b's agents 1000, 1001 and calls"; ctl b agents show 1000; ctl b agents show 1001; ctl b calls list; } 2>&1 | tr -d '\n ' && echo
  pair_dump
  exit 1
}
pair_setup "$work" "$acdd" "$acdctl" "$default_config" 0

# ACDP/2 required on both nodes, each with its own key; the bridge (a switch) and the load
# generator's desktop for agent 1000 are clients of both.
"$acdctl" key generate --out "$work/bridge.key" >"$work/bridge.keygen" || fail "key generate"
bridge_pub=$(sed -n 's/^public key: //p' "$work/bridge.keygen")
"$loadgen" --write-keys "$work/lg" --agents 2 >/dev/null || fail "--write-keys"
for n in a b; do
  sed -n 's/^public key: //p' "$work/$n/key.out" >"$work/$n/acdd.pub"
  [ -s "$work/$n/acdd.pub" ] || fail "no public key for node $n"
  sed -i 's|^\[security\]|[security]\nmode = "required"|' "$work/$n/acd.toml"
  printf '\n[[clients]]\nname = "sip-bridge"\nrole = "switch"\npublic_key = "%s"\n' "$bridge_pub" >>"$work/$n/acd.toml"
  cat "$work/lg/clients.toml" >>"$work/$n/acd.toml"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || fail "node $n's configuration"
done
start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"
ctl() { "$acdctl" --socket "$work/$1/ctl.sock" --json "${@:2}"; }

sip_port=$(free_port) evapi_port=$(free_port) uas_port=$(free_port) reg_port=$(free_port)
first_port=$(free_port) second_port=$(free_port) metrics_port=$(free_port)
uas2_port=$(free_port) talker_port=$(free_port) quitter_port=$(free_port)
start_kamailio
cat >"$work/bridge.toml" <<CONF
evapi = "127.0.0.1:$evapi_port"
acd = "127.0.0.1:$PORT_a"
server_key = "$work/a/acdd.pub"
standby = "127.0.0.1:$PORT_b"
standby_key = "$work/b/acdd.pub"
key_file = "$work/bridge.key"
domain = "127.0.0.1"
ring_s = 10
metrics = "127.0.0.1:$metrics_port"

[[services]]
number = "5000"
queue = 0
CONF
"$bridge" --config "$work/bridge.toml" --check-config >"$work/bridge.check" 2>&1 ||
  fail "bridge --check-config: $(cat "$work/bridge.check")"
"$bridge" --config "$work/bridge.toml" >"$work/bridge.out" 2>"$work/bridge.err" &
pids+=($!)
for _ in $(seq 100); do
  grep -q "connected to evapi" "$work/bridge.out" && grep -q "session made with 127.0.0.1:$PORT_a" "$work/bridge.out" &&
    grep -q "session made with 127.0.0.1:$PORT_b" "$work/bridge.out" && break
  sleep 0.1
done
grep -q "connected to evapi" "$work/bridge.out" || fail "the bridge did not connect to Kamailio's evapi"
grep -q "session made with 127.0.0.1:$PORT_a" "$work/bridge.out" || fail "no ACDP/2 session with node a"
grep -q "session made with 127.0.0.1:$PORT_b" "$work/bridge.out" || fail "no ACDP/2 session with node b (the standby)"

calls_in() {  # calls_in NODE: calls the node holds
  ctl "$1" calls list | python3 -c 'import json,sys; c=json.load(sys.stdin); print(len(c if isinstance(c, list) else c.get("calls", [])))'
}
general() {  # general NODE FIELD: today's FIELD (offered, answered, abandoned, ...) of queue general
  ctl "$1" stats queues | python3 -c 'import json,sys; d=json.load(sys.stdin); print([q for q in (d if isinstance(d, list) else d["queues"]) if q["name"] == "general"][0][sys.argv[1]])' "$2"
}
agent_state() {  # agent_state NODE ID
  ctl "$1" agents show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}
for _ in $(seq 50); do [ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] && break; sleep 0.1; done
[ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] || fail "the bridge did not register with node a"

# The agents' phones (registered in Kamailio) ring 1 s before they answer: 1000 answers A; 1001
# answers C, then D (C hangs up 0.5 s after its answer, A 12 s after its own: 1001 is free first).
sipp -sf "$here/agent_late.xml" -d 1000 -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 60s -timeout_error \
  -trace_msg -message_file "$work/uas.msg" >"$work/uas.out" 2>"$work/uas.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sipp -sf "$here/agent_late.xml" -d 1000 -i 127.0.0.1 -p "$uas2_port" -m 2 -timeout 60s -timeout_error \
  -trace_msg -message_file "$work/uas2.msg" >"$work/uas2.out" 2>"$work/uas2.err" </dev/null &
uas2_pid=$!
pids+=($uas2_pid)
for agent in 1000:$uas_port 1001:$uas2_port; do
  sipp "127.0.0.1:$sip_port" -sf "$here/register.xml" -i 127.0.0.1 -p "$reg_port" -m 1 \
    -key agent "${agent%:*}" -key uasport "${agent#*:}" -timeout 10s -timeout_error \
    >"$work/reg.out" 2>"$work/reg.err" </dev/null || fail "REGISTER ${agent%:*}: $(tail -5 "$work/reg.err")"
done
sign_in() {  # sign_in ID: agent ID signs in at node a and is ready (its desktop: the load generator)
  "$loadgen" --target "127.0.0.1:$PORT_a" --rate 1 --duration 1 --agents 1 --first-agent "$1" --first-index $(($1 - 1000)) \
    --queue 99 --keys-dir "$work/lg" --server-key "$work/a/acdd.pub" --json >"$work/lg$1.json" 2>"$work/lg$1.err"
}
sign_in 1000 || sign_in 1000 || fail "loadgen (agent 1000 at node a): $(cat "$work/lg1000.err")"

# Caller A talks with agent 1000 for 12 s (it hangs up after the takeover): the set-up below,
# up to the kill, must end before; it takes 3 to 6 s on a loaded two-core machine.
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" -s 5000 -d 12000 -i 127.0.0.1 -p "$talker_port" -m 1 \
  -timeout 60s -timeout_error -trace_msg -message_file "$work/talker.msg" \
  >"$work/talker.out" 2>"$work/talker.err" </dev/null &
talker_pid=$!
pids+=($talker_pid)
for _ in $(seq 50); do [ "$(bridge_calls_in talking)" = 1 ] && break; sleep 0.1; done
[ "$(bridge_calls_in talking)" = 1 ] || fail "caller A does not talk with agent 1000"

# Callers C and D while 1000 talks: both queued (182), their INVITEs held in Kamailio.
two_callers_queued ""
grep -q "^SIP/2.0 182 Queued" "$work/first.msg" || fail "the first caller heard no 182"
# Caller E, queued behind them, gives up 2.5 s after its 182: after the move, and before an agent
# is free for it (1001 takes D first, no sooner than 3 s after C starts ringing; A talks 12 s).
sipp "127.0.0.1:$sip_port" -sf "$here/cancel.xml" -s 5000 -d 2500 -i 127.0.0.1 -p "$quitter_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/quitter.msg" \
  >"$work/quitter.out" 2>"$work/quitter.err" </dev/null &
quitter_pid=$!
pids+=($quitter_pid)
wait_metric 'acd_sip_calls_by_state{state="queued"}' 3 5 || fail "caller E is not queued"
# acdctl reads the calls from the monitoring copy, refreshed every 100 ms: it may lag the bridge.
for _ in $(seq 20); do [ "$(calls_in a)" = 4 ] && break; sleep 0.1; done
[ "$(calls_in a)" = 4 ] || fail "node a does not hold the four calls: $(ctl a calls list)"

# Agent 1001 signs in at a (in the background): C rings at its phone, and a dies at once (its
# replication link frozen first, as in tests/ha/secure_failover_e2e.sh).
sign_in 1001 &
lg_pid=$!
pids+=($lg_pid)
wait_metric 'acd_sip_calls_by_state{state="ringing"}' 1 10 || fail "caller C does not ring at agent 1001: $(cat "$work/lg1001.err")"
answered_before=$(bridge_metric acd_sip_answered_total)
kill -STOP "$PROXY_PID"
sleep 0.2
kill -9 "$PID_a" "$PROXY_PID"
wait "$PID_a" 2>/dev/null || true
PID_a=
killed_ms=$(date +%s%3N)
kill "$lg_pid" 2>/dev/null || true  # agent 1001's desktop at the dead node, if still at it
wait_log b "promoted: won epoch 2" 10
for _ in $(seq 100); do
  grep -q "to acd node 127.0.0.1:$PORT_b" "$work/bridge.out" && [ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] && break
  sleep 0.1
done
grep -q "to acd node 127.0.0.1:$PORT_b" "$work/bridge.out" || fail "the bridge did not move to node b"
[ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] || fail "the bridge is not registered with node b"
moved_ms=$(($(date +%s%3N) - killed_ms))
[ "$(bridge_metric acd_sip_failovers_total)" -ge 1 ] || fail "the bridge counts no failover"
# C's answer came while a was dead or just after the move.
[ "$answered_before" = 1 ] || fail "C was answered before node a was killed: the test missed its window"

# C talks at b and hangs up, 1001 takes D, A's BYE frees 1000 at b.
wait "$talker_pid" || fail "caller A's call did not last across the failover"
wait "$first_pid" || fail "caller C, ringing at the failover, was not put through"
wait "$second_pid" || fail "caller D, queued at the failover, was not put through"
wait "$quitter_pid" || fail "caller E's CANCEL: $(tail -5 "$work/quitter.err"; tail -30 "$work/quitter.msg")"
wait "$uas_pid" || fail "agent 1000's phone did not answer A: $(tail -5 "$work/uas.err")"
wait "$uas2_pid" || fail "agent 1001's phone did not answer C and D: $(tail -5 "$work/uas2.err")"
for f in talker first second; do
  grep -q "^SIP/2.0 200" "$work/$f.msg" || fail "caller $f had no 200"
done

# Nothing stuck: no call in b, both agents Ready, no call or held INVITE in the bridge.
for _ in $(seq 50); do [ "$(calls_in b)" = 0 ] && break; sleep 0.1; done
[ "$(calls_in b)" = 0 ] || fail "calls are left in node b: $(ctl b calls list)"
for id in 1000 1001; do
  for _ in $(seq 30); do [ "$(agent_state b $id)" = Ready ] && break; sleep 0.1; done
  [ "$(agent_state b $id)" = Ready ] || fail "agent $id is left $(agent_state b $id) in node b"
done
for _ in $(seq 50); do
  [ "$(bridge_metric acd_sip_calls)" = 0 ] && [ "$(bridge_metric acd_sip_suspended_transactions)" = 0 ] && break
  sleep 0.1
done
[ "$(bridge_metric acd_sip_calls)" = 0 ] || fail "the bridge still follows $(bridge_metric acd_sip_calls) calls"
[ "$(bridge_metric acd_sip_suspended_transactions)" = 0 ] || fail "held INVITEs are left in the bridge"
[ "$(bridge_metric acd_sip_rejected_total)" = 0 ] || fail "the bridge answered calls 503 across the failover"

# The counts: what SIPp did (4 calls: 3 answered and hung up, 1 given up while queued), in the
# bridge and at node b.
for c in invites:4 routed_agent:3 answered:3 released:3 abandoned:1 agent_failed:0 aged_out:0; do
  [ "$(bridge_metric "acd_sip_${c%:*}_total")" = "${c#*:}" ] ||
    fail "the bridge counts $(bridge_metric "acd_sip_${c%:*}_total") ${c%:*}, SIPp made ${c#*:}"
done
echo "node b, queue general: $(ctl b stats queues)" >"$work/stats.txt"
for c in offered:4 answered:3 abandoned:1; do
  [ "$(general b "${c%:*}")" = "${c#*:}" ] ||
    fail "node b counts $(general b "${c%:*}") calls ${c%:*} in queue general, SIPp made ${c#*:}: $(cat "$work/stats.txt")"
done
for id in 1000 1001; do  # no ring timeout at b: every call offered to an agent was answered
  ctl b agents show $id | python3 -c 'import json,sys; t=json.load(sys.stdin)["today"]; sys.exit(0 if t["no_answer"] == 0 else 1)' ||
    fail "agent $id has calls not answered at node b: $(ctl b agents show $id)"
done
echo "ok: across the kill of node a, the ringing call was answered, the talking one released, the" \
  "queued one put through and the one given up counted abandoned at node b; b's counts match SIPp's (the bridge moved to b $moved_ms ms after the kill)"
