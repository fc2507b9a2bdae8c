#!/usr/bin/env bash
# acd-sip-bridge end to end: acdd (ACDP/2 required), a real Kamailio with the shipped
# sip/kamailio.cfg on 127.0.0.1 and ports of its own, the bridge, an agent phone (SIPp: registers
# agent 1000, then answers as a UAS) and a caller (SIPp UAC dialling service 5000). The call
# reaches the agent's phone through acd's decision, and acdd counts it answered, then released
# (no call left). A call to a number that is no service is refused 404 without reaching acd.
# While the agent talks, a second caller hears 182 Queued and is put through when the agent is
# free; a third hears 182 Queued and hangs up (487; abandoned in acd). Then agent 1001 signs in
# too: agent 1000's phone answers 486 Busy, the bridge reports it (RingNoAnswer) and the call
# reaches 1001's phone at once (1000 not ready); then 1001's phone unregisters, the next call
# finds no contact (480), 1001 goes not ready and the caller waits (182) until 1000 is made ready.
# A caller who hangs up while the phone rings is abandoned in acd; a phone that rings past the
# bridge's ring_s is cancelled by Kamailio's timer, the agent goes not ready and the caller waits.
# With core-banking down, a call to the cards service is relayed to the announcement; a caller to
# a queue nobody can take hears 182 and, after the queue's max wait, is relayed to the IVR, or
# refused 486 (busy) or 480 (callback). acdd restarts while two callers wait
# (182): the bridge asks for them again and both are answered once agent 1000 signs in again.
# After each case nothing is left: no call
# in acdd, no agent reserved, no call or held INVITE in the bridge (its /metrics). The bridge's
# counters agree.
# Usage: sip_e2e.sh ACDD ACDCTL LOADGEN BRIDGE CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 bridge=$4 config=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
source "$here/sip_lib.sh"
require_tools kamailio sipp python3 curl
work=$(mktemp -d)
pids=()
cleanup() {  # every process this script started, by its own ID: TERM, then KILL after 2 s
  sip_stop_started
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in acdd.err acdd2.err bridge.out bridge.err kamailio.err uas.err caller.err caller.msg uas.msg uas2.err; do
    [ -s "$work/$f" ] && { echo "--- $f"; tail -30 "$work/$f"; }
  done
  exit 1
}
sip_port=$(free_port) evapi_port=$(free_port) uas_port=$(free_port) reg_port=$(free_port) caller_port=$(free_port)
ivr_port=$(free_port) metrics_port=$(free_port)

# Keys: acdd's, the bridge's (a switch), the load generator's (its desktop signs agent 1000 in).
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen" || fail "key generate"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
"$acdctl" key generate --out "$work/bridge.key" >"$work/bridge.keygen" || fail "key generate"
bridge_pub=$(sed -n 's/^public key: //p' "$work/bridge.keygen")
"$loadgen" --write-keys "$work/lg" --agents 2 >/dev/null || fail "--write-keys"

# Queue general keeps its ring timeout (20 s): a phone's refusal reaches acd through the bridge.
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" "$config" >"$work/acd.toml"
grep -q "^ring_timeout_s = 20" "$work/acd.toml" || fail "queue general's ring_timeout_s is not 20 in $config"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/acd.toml"
printf '\n[[clients]]\nname = "sip-bridge"\nrole = "switch"\npublic_key = "%s"\n' "$bridge_pub" >>"$work/acd.toml"
cat "$work/lg/clients.toml" >>"$work/acd.toml"
# A queue nobody here can take (no signed-in agent has english): its callers wait 2 s at most,
# then go to the IVR, number 9000.
cat >>"$work/acd.toml" <<'TOML'

[[queue]]
name = "sip-overflow"
skills = { english = 1 }
policy = "longest_idle"
max_wait_s = 2
max_wait_action = "ivr"
max_wait_target = "9000"

# Two more that nobody can take: after 1 s their callers are refused busy, or told a callback
# is scheduled.
[[queue]]
name = "sip-busy"
skills = { english = 1 }
policy = "longest_idle"
max_wait_s = 1
max_wait_action = "busy"

[[queue]]
name = "sip-callback"
skills = { english = 1 }
policy = "longest_idle"
max_wait_s = 1
max_wait_action = "callback"
TOML
echo "demo-1000" | "$acdctl" agent passwd 1000 --credentials "$work/credentials" >/dev/null
echo "demo-1001" | "$acdctl" agent passwd 1001 --credentials "$work/credentials" >/dev/null
"$acdd" --check-config "$work/acd.toml" >/dev/null 2>"$work/check.err" || fail "check-config: $(cat "$work/check.err")"
"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/acdd.out" 2>"$work/acdd.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start"
acd_port=$(cat "$work/port")
ctl() { "$acdctl" --socket "$work/ctl.sock" --json "$@"; }

# Agent 1000 signs in and is ready (its desktop: the load generator, which also routes, answers
# and releases two calls of its own; they are counted below as the starting point).
# On a loaded machine its handshakes may miss its set-up time: once more then.
sign_in() {
  "$loadgen" --target "127.0.0.1:$acd_port" --rate 1 --duration 1.5 --agents 1 --queue 0 \
    --keys-dir "$work/lg" --server-key "$work/acdd.pub" --json >"$work/lg.json" 2>"$work/lg.err"
}
sign_in || sign_in || fail "loadgen: $(cat "$work/lg.err")"
for _ in $(seq 50); do
  ctl agents show 1000 >"$work/agent.json" || fail "agents show: $(cat "$work/agent.json")"
  grep -q '"state": "Ready"' "$work/agent.json" && break
  sleep 0.1
done
grep -q '"state": "Ready"' "$work/agent.json" || fail "agent 1000 is not ready: $(cat "$work/agent.json" "$work/lg.json")"
answered() {  # answered: calls answered from queue general today, by acdd's statistics
  ctl stats queues | python3 -c 'import json,sys; d = json.load(sys.stdin); print([q for q in (d if isinstance(d, list) else d["queues"]) if q["name"] == "general"][0]["answered"])'
}
no_calls() {  # no_calls: true when acdd holds no call (waits up to 5 s)
  for _ in $(seq 50); do
    ctl calls list >"$work/calls.json"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if not (c if isinstance(c, list) else c.get("calls")) else 1)' \
      "$work/calls.json" && return 0
    sleep 0.1
  done
  return 1
}
no_calls || fail "the load generator's calls are still in acdd: $(cat "$work/calls.json")"
answered_before=$(answered)
[ "$answered_before" -ge 1 ] || fail "the load generator's calls were not answered: $(cat "$work/lg.json")"

# Kamailio with the shipped configuration, on ports of its own (never the packaged service's).
cfg=$here/../../sip/kamailio.cfg
mkdir -p "$work/run"
kamailio -c -f "$cfg" >"$work/kamailio.check" 2>&1 || fail "kamailio -c: $(tail -5 "$work/kamailio.check")"
# A call whose 200 is never acknowledged ends after 2 s here (32 s as shipped).
start_kamailio -A ACD_ACK_WAIT_S=2

cat >"$work/bridge.toml" <<CONF
evapi = "127.0.0.1:$evapi_port"
acd = "127.0.0.1:$acd_port"
key_file = "$work/bridge.key"
server_key = "$work/acdd.pub"
domain = "127.0.0.1"
overflow_domain = "127.0.0.1:$ivr_port"
ring_s = 4
metrics = "127.0.0.1:$metrics_port"

[[services]]
number = "5000"
queue = 0

[[services]]
number = "5001"
queue = 1

[[services]]
number = "5002"
queue = 5

[[services]]
number = "5003"
queue = 6

[[services]]
number = "5004"
queue = 7
CONF
"$bridge" --config "$work/bridge.toml" --check-config >"$work/bridge.check" 2>&1 ||
  fail "bridge --check-config: $(cat "$work/bridge.check")"
grep -q "$bridge_pub" "$work/bridge.check" || fail "--check-config does not print the bridge's key"
"$bridge" --config "$work/bridge.toml" >"$work/bridge.out" 2>"$work/bridge.err" &
bridge_pid=$!
pids+=($bridge_pid)
for _ in $(seq 100); do
  grep -q "connected to evapi" "$work/bridge.out" && grep -q "session made" "$work/bridge.out" && break
  sleep 0.1
done
grep -q "connected to evapi" "$work/bridge.out" || fail "the bridge did not connect to Kamailio's evapi"
grep -q "session made" "$work/bridge.out" || fail "the bridge made no ACDP/2 session with acdd"
no_stuck() {  # after each case: no call in acdd, no agent reserved, no call or held INVITE in the bridge
  no_calls || fail "calls are left in acdd: $(cat "$work/calls.json")"
  ctl agents list >"$work/agents.json"
  grep -q '"Reserved"' "$work/agents.json" && fail "an agent is left reserved: $(cat "$work/agents.json")"
  for _ in $(seq 50); do
    [ "$(bridge_metric acd_sip_calls)" = 0 ] && [ "$(bridge_metric acd_sip_suspended_transactions)" = 0 ] && return 0
    sleep 0.1
  done
  fail "the bridge still follows $(bridge_metric acd_sip_calls) calls, $(bridge_metric acd_sip_suspended_transactions) held INVITEs"
}
[ "$(bridge_metric acd_sip_evapi_up)" = 1 ] || fail "the bridge's metrics do not show evapi up"

# Kamailio relays each reply in whichever worker reads it, so over UDP a phone's 180 Ringing can
# reach the caller after its 200 OK (RFC 3261 lets a UAC drop such a late provisional). SIPp would
# abort the call on it; callers therefore run without abort-on-unexpected. Every case still checks
# what the caller and the phones received, and that nothing is left behind.
caller_behaviour=(-default_behaviors all,-abortunexp)

# The agent's phone: registers 1000 with its contact on the UAS port, then answers one call.
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas.msg" >"$work/uas.out" 2>"$work/uas.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sipp "127.0.0.1:$sip_port" -sf "$here/register.xml" -i 127.0.0.1 -p "$reg_port" -m 1 \
  -key agent 1000 -key uasport "$uas_port" -timeout 10s -timeout_error \
  >"$work/reg.out" 2>"$work/reg.err" </dev/null || fail "REGISTER: $(tail -5 "$work/reg.err")"

# A call to 5000: acd routes it to agent 1000, whose phone answers; the caller hangs up.
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 500 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/caller.msg" >"$work/caller.out" 2>"$work/caller.err" </dev/null ||
  fail "the call to 5000 did not complete: $(tail -5 "$work/caller.err")"
wait "$uas_pid" || fail "the agent's phone did not answer and hang up one call"

# acd: one more call answered from queue general, then released (no call left in acdd).
for _ in $(seq 50); do
  [ "$(answered)" = $((answered_before + 1)) ] && break
  sleep 0.1
done
[ "$(answered)" = $((answered_before + 1)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 1))"
no_stuck

# A number that is no service: 404 from the bridge, nothing in acd.
cat >"$work/nowhere.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="no service">
  <send retrans="500"><![CDATA[
      INVITE sip:4999@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]x[call_number]
      To: <sip:4999@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="404"/>
  <send><![CDATA[
      ACK sip:4999@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]x[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
</scenario>
XML
sipp "127.0.0.1:$sip_port" -sf "$work/nowhere.xml" -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 10s -timeout_error >"$work/nowhere.out" 2>"$work/nowhere.err" </dev/null ||
  fail "a call to no service was not refused 404: $(tail -5 "$work/nowhere.err")"

# A BYE without Route for a dialog nobody has (a stray, forged or replayed BYE: a Call-ID and tags
# of no call): Kamailio answers 404 and nothing changes, no event reaches the bridge and no call
# ends in acd.
stray_before=$(for m in released_total ignored_total bad_events_total abandoned_total; do
  bridge_metric "acd_sip_$m"; done | tr '\n' ' ')
sipp "127.0.0.1:$sip_port" -sf "$here/bye_unknown_dialog.xml" -s 5000 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 10s -timeout_error -trace_msg -message_file "$work/stray.msg" >"$work/stray.out" \
  2>"$work/stray.err" </dev/null ||
  fail "a BYE for an unknown dialog was not answered 404: $(tail -5 "$work/stray.err"; tail -20 "$work/stray.msg")"
sleep 0.3
stray_after=$(for m in released_total ignored_total bad_events_total abandoned_total; do
  bridge_metric "acd_sip_$m"; done | tr '\n' ' ')
[ "$stray_after" = "$stray_before" ] ||
  fail "a BYE for an unknown dialog changed the bridge's counters (released, ignored, bad events, abandoned): $stray_before -> $stray_after"
no_stuck

# Queued: while the agent talks (a 6.5 s call: longer than tm's 5 s fr_timer, which must not end
# a waiting INVITE), a second caller hears 182 Queued (position 1) and waits; a third hears 182 Queued and hangs up (CANCEL: 487, abandoned in acd). When the first
# call ends, acd offers the waiting call to the agent, whose phone answers it.
abandoned() {
  ctl stats queues | python3 -c 'import json,sys; d = json.load(sys.stdin); print([q for q in (d if isinstance(d, list) else d["queues"]) if q["name"] == "general"][0]["abandoned"])'
}
abandoned_before=$(abandoned)
answered_before=$(answered)
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 2 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas2.msg" >"$work/uas2.out" 2>"$work/uas2.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
talk_port=$(free_port) queued_port=$(free_port) cancel_port=$(free_port)
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 6500 -i 127.0.0.1 -p "$talk_port" -m 1 \
  -timeout 30s -timeout_error >"$work/talk.out" 2>"$work/talk.err" </dev/null &
talk_pid=$!
pids+=($talk_pid)
for _ in $(seq 100); do  # the first call has the agent before the next caller dials
  ctl agents show 1000 >"$work/agent.json"
  grep -q '"state": "Ready"' "$work/agent.json" || break
  sleep 0.05
done
grep -q '"state": "Ready"' "$work/agent.json" && fail "the first call never reached the agent"
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 500 -i 127.0.0.1 -p "$queued_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/queued.msg" \
  >"$work/queued.out" 2>"$work/queued.err" </dev/null &
queued_pid=$!
pids+=($queued_pid)
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/cancel.xml" -s 5000 -d 800 -i 127.0.0.1 -p "$cancel_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/cancel.msg" \
  >"$work/cancel.out" 2>"$work/cancel.err" </dev/null ||
  fail "the caller who gave up: $(tail -5 "$work/cancel.err"; tail -40 "$work/cancel.msg")"
wait "$talk_pid" || fail "the first call: $(tail -5 "$work/talk.err")"
wait "$queued_pid" || fail "the queued call: $(tail -5 "$work/queued.err"; tail -40 "$work/queued.msg")"
wait "$uas_pid" || fail "the agent's phone did not answer two calls: $(tail -5 "$work/uas2.err")"
grep -q "^SIP/2.0 182 Queued" "$work/queued.msg" || fail "the waiting caller heard no 182 Queued"
grep -q "^X-ACD-Position: 1" "$work/queued.msg" || fail "the 182 does not say position 1: $(grep -A8 '^SIP/2.0 182' "$work/queued.msg")"
grep -q "^SIP/2.0 182 Queued" "$work/cancel.msg" || fail "the caller who gave up heard no 182 Queued"
for _ in $(seq 50); do
  [ "$(answered)" = $((answered_before + 2)) ] && [ "$(abandoned)" = $((abandoned_before + 1)) ] && break
  sleep 0.1
done
[ "$(answered)" = $((answered_before + 2)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 2))"
[ "$(abandoned)" = $((abandoned_before + 1)) ] ||
  fail "acdd counts $(abandoned) abandoned in general, expected $((abandoned_before + 1))"
no_stuck

# Ring-no-answer from the phone (the bridge's RingNoAnswer; acd's ring timeout is 20 s here and
# never comes into it). Agent 1001 signs in at its own desktop (the load generator again, its
# route requests to a queue that does not exist) and its phone registers. Agent 1000, idle
# longer, is offered the next call; its phone answers 486 Busy: the call goes at once to 1001,
# whose phone answers, and 1000 is not ready ("no answer").
answered_before=$(answered)
sign_in_1001() {
  "$loadgen" --target "127.0.0.1:$acd_port" --rate 1 --duration 1 --agents 1 --first-agent 1001 \
    --first-index 1 --queue 99 --keys-dir "$work/lg" \
    --server-key "$work/acdd.pub" --json >"$work/lg1001.json" 2>"$work/lg1001.err"
}
sign_in_1001 || sign_in_1001 || fail "loadgen (agent 1001): $(cat "$work/lg1001.err")"
for _ in $(seq 50); do
  ctl agents show 1001 >"$work/agent1001.json"
  grep -q '"state": "Ready"' "$work/agent1001.json" && break
  sleep 0.1
done
grep -q '"state": "Ready"' "$work/agent1001.json" ||
  fail "agent 1001 is not ready: $(cat "$work/agent1001.json" "$work/lg1001.json" "$work/lg1001.err")"
uas1001_port=$(free_port) reg1001_port=$(free_port)
sipp "127.0.0.1:$sip_port" -sf "$here/register.xml" -i 127.0.0.1 -p "$reg1001_port" -m 1 \
  -key agent 1001 -key uasport "$uas1001_port" -timeout 10s -timeout_error \
  >"$work/reg1001.out" 2>"$work/reg1001.err" </dev/null || fail "REGISTER 1001: $(tail -5 "$work/reg1001.err")"
sipp -sf "$here/agent_busy.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s \
  -timeout_error -trace_msg -message_file "$work/uas3.msg" >"$work/uas3.out" 2>"$work/uas3.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas1001_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas1001.msg" >"$work/uas1001.out" 2>"$work/uas1001.err" </dev/null &
uas1001_pid=$!
pids+=($uas1001_pid)
sleep 0.3
began=$(date +%s%N)
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 500 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/rna.msg" >"$work/rna.out" \
  2>"$work/rna.err" </dev/null ||
  fail "the call after a busy agent: $(tail -5 "$work/rna.err"; tail -40 "$work/rna.msg")"
took_ms=$((($(date +%s%N) - began) / 1000000))
wait "$uas_pid" || fail "agent 1000's phone was not offered the call: $(tail -5 "$work/uas3.err")"
wait "$uas1001_pid" || fail "agent 1001's phone did not answer: $(tail -5 "$work/uas1001.err"; tail -30 "$work/uas1001.msg")"
[ "$took_ms" -lt 4000 ] || fail "the call took $took_ms ms: it waited for the ring timer (ring_s 4)"
ctl agents show 1000 >"$work/agent.json"
grep -q '"state": "NotReady"' "$work/agent.json" ||
  fail "agent 1000 not set not ready after its phone's 486: $(cat "$work/agent.json")"
for _ in $(seq 50); do [ "$(answered)" = $((answered_before + 1)) ] && break; sleep 0.1; done
[ "$(answered)" = $((answered_before + 1)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 1))"
no_stuck
echo "ring-no-answer: busy at 1000, answered at 1001, caller done in $took_ms ms"

# No registered phone: agent 1001's phone takes its registration back. With 1000 not ready the
# next call is offered to 1001; Kamailio finds no contact (480), the bridge reports it, 1001 goes
# not ready and the call waits (182 Queued) until an operator makes 1000 ready, whose phone
# answers.
answered_before=$(answered)
sipp "127.0.0.1:$sip_port" -sf "$here/unregister.xml" -i 127.0.0.1 -p "$reg1001_port" -m 1 \
  -key agent 1001 -key uasport "$uas1001_port" -timeout 10s -timeout_error \
  >"$work/unreg1001.out" 2>"$work/unreg1001.err" </dev/null || fail "un-REGISTER 1001: $(tail -5 "$work/unreg1001.err")"
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas5.msg" >"$work/uas5.out" 2>"$work/uas5.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 500 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/nophone.msg" >"$work/nophone.out" \
  2>"$work/nophone.err" </dev/null &
nophone_pid=$!
pids+=($nophone_pid)
for _ in $(seq 100); do
  ctl agents show 1001 >"$work/agent1001.json"
  grep -q '"state": "NotReady"' "$work/agent1001.json" && break
  sleep 0.1
done
grep -q '"state": "NotReady"' "$work/agent1001.json" ||
  fail "agent 1001 (no phone) not set not ready: $(cat "$work/agent1001.json")"
[ "$(answered)" = "$answered_before" ] || fail "a call was answered while no ready agent had a phone"
"$acdctl" --socket "$work/ctl.sock" agents ready 1000 >/dev/null || fail "acdctl agents ready 1000"
wait "$nophone_pid" || fail "the call after an agent with no phone: $(tail -5 "$work/nophone.err"; tail -40 "$work/nophone.msg")"
wait "$uas_pid" || fail "agent 1000's phone did not answer: $(tail -5 "$work/uas5.err")"
grep -q "^SIP/2.0 182 Queued" "$work/nophone.msg" || fail "the caller heard no 182 Queued while no phone could take the call"
for _ in $(seq 50); do [ "$(answered)" = $((answered_before + 1)) ] && break; sleep 0.1; done
[ "$(answered)" = $((answered_before + 1)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 1))"
no_stuck

# A caller who hangs up while the agent's phone rings: Kamailio cancels the phone's leg, acdd
# counts the call abandoned, and the agent is free again.
abandoned_before=$(abandoned)
sipp -sf "$here/agent_ringing.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas4.msg" >"$work/uas4.out" 2>"$work/uas4.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/cancel_ringing.xml" -s 5000 -d 500 -i 127.0.0.1 \
  -p "$cancel_port" -m 1 -timeout 30s -timeout_error -trace_msg -message_file "$work/cancel2.msg" \
  >"$work/cancel2.out" 2>"$work/cancel2.err" </dev/null ||
  fail "the caller who gave up while the agent rang: $(tail -5 "$work/cancel2.err"; tail -40 "$work/cancel2.msg")"
wait "$uas_pid" || fail "the ringing phone was not cancelled: $(tail -5 "$work/uas4.err"; tail -30 "$work/uas4.msg")"
for _ in $(seq 50); do [ "$(abandoned)" = $((abandoned_before + 1)) ] && break; sleep 0.1; done
[ "$(abandoned)" = $((abandoned_before + 1)) ] ||
  fail "acdd counts $(abandoned) abandoned in general, expected $((abandoned_before + 1))"
no_stuck

# Kamailio's ring timer: agent 1000's phone rings and never answers. After the bridge's ring_s
# (4 s) Kamailio cancels the leg (tm's timer: a 408 in the failure route), the bridge reports
# RingNoAnswer (no answer) and acd sets 1000 not ready; with nobody else ready the call waits
# (182 Queued) until an operator makes 1000 ready again, whose phone then answers.
answered_before=$(answered)
rna_before=$(bridge_metric acd_sip_ring_no_answer_total)
sipp -sf "$here/agent_ringing.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas9.msg" >"$work/uas9.out" 2>"$work/uas9.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
began=$(date +%s%N)
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5000 -d 300 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/ringtimer.msg" >"$work/ringtimer.out" \
  2>"$work/ringtimer.err" </dev/null &
ringtimer_pid=$!
pids+=($ringtimer_pid)
wait "$uas_pid" || fail "the phone that never answered was not cancelled: $(tail -5 "$work/uas9.err"; tail -30 "$work/uas9.msg")"
rang_ms=$((($(date +%s%N) - began) / 1000000))
[ "$rang_ms" -ge 3500 ] || fail "the phone's leg was cancelled after $rang_ms ms, before ring_s (4 s)"
[ "$rang_ms" -lt 9000 ] ||
  fail "the phone's leg was cancelled after $rang_ms ms: not by Kamailio's timer at ring_s (4 s)"
for _ in $(seq 50); do
  ctl agents show 1000 >"$work/agent.json"
  grep -q '"state": "NotReady"' "$work/agent.json" && break
  sleep 0.1
done
grep -q '"state": "NotReady"' "$work/agent.json" ||
  fail "agent 1000 not set not ready after its phone rang out: $(cat "$work/agent.json")"
[ "$(bridge_metric acd_sip_ring_no_answer_total)" = $((rna_before + 1)) ] ||
  fail "the bridge reported $(bridge_metric acd_sip_ring_no_answer_total) ring-no-answers, expected $((rna_before + 1))"
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas10.msg" >"$work/uas10.out" 2>"$work/uas10.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
"$acdctl" --socket "$work/ctl.sock" agents ready 1000 >/dev/null || fail "acdctl agents ready 1000"
wait "$ringtimer_pid" || fail "the call after the ring timer: $(tail -5 "$work/ringtimer.err"; tail -40 "$work/ringtimer.msg")"
wait "$uas_pid" || fail "agent 1000's phone did not answer after the ring timer: $(tail -5 "$work/uas10.err")"
grep -q "^SIP/2.0 182 Queued" "$work/ringtimer.msg" || fail "the caller heard no 182 Queued after the phone rang out"
for _ in $(seq 50); do [ "$(answered)" = $((answered_before + 1)) ] && break; sleep 0.1; done
[ "$(answered)" = $((answered_before + 1)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 1))"
no_stuck
echo "ring timer: the phone's leg cancelled after $rang_ms ms, 1000 not ready, the caller queued and then answered"

# Overflow: with the back-end service core-banking down, queue cards (service 5001) diverts its
# calls to the announcement, number 7100: Kamailio relays the INVITE to sip:7100@ the overflow
# domain, where the announcement (SIPp) answers. The call has left acd: nothing is answered there.
answered_before=$(answered)
ctl service down core-banking >/dev/null || fail "acdctl service down core-banking"
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$ivr_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/ivr.msg" >"$work/ivr.out" 2>"$work/ivr.err" </dev/null &
ivr_pid=$!
pids+=($ivr_pid)
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5001 -d 300 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/overflow.msg" >"$work/overflow.out" \
  2>"$work/overflow.err" </dev/null ||
  fail "the call to 5001: $(tail -5 "$work/overflow.err"; tail -40 "$work/overflow.msg")"
wait "$ivr_pid" || fail "the announcement did not answer: $(tail -5 "$work/ivr.err")"
grep -q "^INVITE sip:7100@127.0.0.1:$ivr_port " "$work/ivr.msg" ||
  fail "the announcement was not called as 7100: $(grep '^INVITE' "$work/ivr.msg")"
[ "$(answered)" = "$answered_before" ] || fail "an overflowed call was counted answered"
no_stuck

# Overflow after the longest wait: a caller to 5002 (queue sip-overflow, which nobody signed in
# can take) hears 182 Queued; after the queue's max_wait_s (2 s) acd sends the call to the IVR,
# and Kamailio relays the held INVITE to sip:9000@ the overflow domain, where the IVR answers.
answered_before=$(answered)
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$ivr_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/ivr2.msg" >"$work/ivr2.out" 2>"$work/ivr2.err" </dev/null &
ivr_pid=$!
pids+=($ivr_pid)
sleep 0.3
began=$(date +%s%N)
sipp "127.0.0.1:$sip_port" -sf "$here/caller.xml" "${caller_behaviour[@]}" -s 5002 -d 300 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/maxwait.msg" >"$work/maxwait.out" \
  2>"$work/maxwait.err" </dev/null ||
  fail "the call to 5002: $(tail -5 "$work/maxwait.err"; tail -40 "$work/maxwait.msg")"
took_ms=$((($(date +%s%N) - began) / 1000000))
wait "$ivr_pid" || fail "the IVR did not answer: $(tail -5 "$work/ivr2.err")"
grep -q "^SIP/2.0 182 Queued" "$work/maxwait.msg" || fail "the caller to 5002 heard no 182 Queued"
grep -q "^INVITE sip:9000@127.0.0.1:$ivr_port " "$work/ivr2.msg" ||
  fail "the IVR was not called as 9000: $(grep '^INVITE' "$work/ivr2.msg")"
[ "$took_ms" -ge 2000 ] || fail "the call left the queue after $took_ms ms, before its 2 s max wait"
[ "$(answered)" = "$answered_before" ] || fail "an overflowed call was counted answered"
no_stuck
echo "max wait: 182 Queued, then relayed to the IVR (9000) after $took_ms ms"

# Overflow to busy and to a callback: a caller to 5003 (queue sip-busy) hears 182 Queued, then
# after the queue's max_wait_s (1 s) 486 Busy Here; a caller to 5004 (sip-callback) 182, then 480
# Callback Scheduled. Nothing is answered, nothing is left.
refused_caller() {  # refused_caller SERVICE CODE NAME: 182 Queued, then CODE, which it acknowledges
  cat >"$work/$3.xml" <<XML
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refused after a wait">
  <send retrans="500"><![CDATA[
      INVITE sip:$1@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]r[call_number]
      To: <sip:$1@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="182"/>
  <recv response="$2"/>
  <send><![CDATA[
      ACK sip:$1@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]r[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
</scenario>
XML
  local began=$(date +%s%N) took
  sipp "127.0.0.1:$sip_port" -sf "$work/$3.xml" -i 127.0.0.1 -p "$caller_port" -m 1 \
    -timeout 15s -timeout_error -trace_msg -message_file "$work/$3.msg" >"$work/$3.out" \
    2>"$work/$3.err" </dev/null ||
    fail "the caller to $1 was not queued and then refused $2: $(tail -5 "$work/$3.err"; tail -30 "$work/$3.msg")"
  took=$((($(date +%s%N) - began) / 1000000))
  [ "$took" -ge 1000 ] || fail "the caller to $1 was refused after $took ms, before the queue's 1 s max wait"
  no_stuck
  echo "max wait: the caller to $1 heard 182 Queued, then $2 after $took ms"
}
answered_before=$(answered)
refused_caller 5003 486 busy
grep -q "^SIP/2.0 486 Busy Here" "$work/busy.msg" || fail "the busy overflow's reason: $(grep '^SIP/2.0 4' "$work/busy.msg")"
refused_caller 5004 480 callback
grep -q "^SIP/2.0 480 Callback Scheduled" "$work/callback.msg" ||
  fail "the callback overflow's reason: $(grep '^SIP/2.0 4' "$work/callback.msg")"
[ "$(answered)" = "$answered_before" ] || fail "a refused call was counted answered"

# A caller that never acknowledges the 200 (it gave up before the 200 reached it, and its BYE,
# without the Record-Route, cannot reach the phone): the call is answered in acd, and Kamailio's
# dialog ends ACD_ACK_WAIT_S (2 s here) after the 200; the bridge releases the call in acd, and
# agent 1000 is free again.
answered_before=$(answered)
released_before=$(bridge_metric acd_sip_released_total)
sipp -sf "$here/agent_no_ack.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas7.msg" >"$work/uas7.out" 2>"$work/uas7.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
noack_began=$(date +%s%N)
sipp "127.0.0.1:$sip_port" -sf "$here/caller_no_ack.xml" "${caller_behaviour[@]}" -s 5000 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/noack.msg" >"$work/noack.out" \
  2>"$work/noack.err" </dev/null ||
  fail "the call without ACK: $(tail -5 "$work/noack.err"; tail -40 "$work/noack.msg")"
wait "$uas_pid" || fail "agent 1000's phone did not answer the call without ACK: $(tail -5 "$work/uas7.err")"
for _ in $(seq 50); do [ "$(answered)" = $((answered_before + 1)) ] && break; sleep 0.1; done
[ "$(answered)" = $((answered_before + 1)) ] ||
  fail "acdd counts $(answered) answered in general, expected $((answered_before + 1))"
released_reaches() {  # released_reaches N TRIES: true once the bridge counts N calls released
  for _ in $(seq "$2"); do
    [ "$(bridge_metric acd_sip_released_total)" = "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
released_reaches $((released_before + 1)) 150 || true
noack_ms=$((($(date +%s%N) - noack_began) / 1000000))
[ "$(bridge_metric acd_sip_released_total)" = $((released_before + 1)) ] ||
  fail "the call whose 200 was never acknowledged is still up after $noack_ms ms ($(bridge_metric acd_sip_calls) calls in the bridge)"
# The dialog timer counts whole seconds: a 2 s wait may end a little after 1 s.
[ "$noack_ms" -ge 1000 ] || fail "the call without ACK was released after $noack_ms ms, before its ACK wait"
no_stuck
ctl agents show 1000 >"$work/agent.json"
grep -q '"state": "Busy"' "$work/agent.json" && fail "agent 1000 is still busy: $(cat "$work/agent.json")"
echo "no ACK: the call was released in acd $noack_ms ms after the INVITE"

# A caller that hangs up with a BYE that does not follow the Record-Route (sent to the number it
# dialled, as SIPp's own BYE when it gives up waiting): Kamailio finds the dialog, answers the
# caller 200 and sends the BYE on to the agent's phone; acd counts the call released.
released_before=$(bridge_metric acd_sip_released_total)
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/uas8.msg" >"$work/uas8.out" 2>"$work/uas8.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
sipp "127.0.0.1:$sip_port" -sf "$here/caller_bye_no_route.xml" "${caller_behaviour[@]}" -s 5000 -i 127.0.0.1 -p "$caller_port" -m 1 \
  -timeout 30s -timeout_error -trace_msg -message_file "$work/noroute.msg" >"$work/noroute.out" \
  2>"$work/noroute.err" </dev/null ||
  fail "the BYE without Route was not answered 200: $(tail -5 "$work/noroute.err"; tail -40 "$work/noroute.msg")"
wait "$uas_pid" || fail "agent 1000's phone had no BYE after the caller's BYE without Route: $(tail -5 "$work/uas8.err"; tail -30 "$work/uas8.msg")"
released_reaches $((released_before + 1)) 50 ||
  fail "the call ended by a BYE without Route is still up ($(bridge_metric acd_sip_calls) calls in the bridge)"
no_stuck

# acdd restarts while callers wait (182 Queued, their INVITEs held in Kamailio). Agent 1000 is
# logged out, so two callers to 5000 queue; acdd is stopped and started again on the same port
# with nothing of them (no journal here). The bridge finds acdd silent (its heartbeat goes
# unanswered), makes a new ACDP/2 session and asks again for both held calls; acdd queues them
# anew. Then agent 1000 signs in again, its phone answers both calls in turn, and nothing is left.
ctl agents logout 1000 >/dev/null || fail "acdctl agents logout 1000"
first_port=$(free_port) second_port=$(free_port)
two_callers_queued restart_
grep -q "^SIP/2.0 182 Queued" "$work/restart_first.msg" || fail "the first waiting caller heard no 182"
sessions_before=$(bridge_metric acd_sip_acdp_sessions_total)
acdd_pid=${pids[0]}
kill -TERM "$acdd_pid"
wait "$acdd_pid" 2>/dev/null || true
rm -f "$work/port"
"$acdd" --config "$work/acd.toml" --listen "127.0.0.1:$acd_port" --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/acdd2.out" 2>"$work/acdd2.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start again"
restarted_ms=$(date +%s%3N)
# Both held calls are in the new acdd again, without a caller or an agent doing anything.
for _ in $(seq 100); do
  ctl calls list >"$work/calls.json" 2>/dev/null || true
  [ "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(len(c if isinstance(c, list) else c.get("calls", [])))' "$work/calls.json" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
resynced_ms=$(($(date +%s%3N) - restarted_ms))
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if len(c if isinstance(c, list) else c.get("calls", [])) == 2 else 1)' \
  "$work/calls.json" || fail "the restarted acdd does not hold the two waiting calls: $(cat "$work/calls.json")"
[ "$(bridge_metric acd_sip_acdp_sessions_total)" -gt "$sessions_before" ] ||
  fail "the bridge made no new ACDP/2 session after acdd restarted"
[ "$(bridge_metric acd_sip_resyncs_total)" = 2 ] || fail "the bridge asked again for $(bridge_metric acd_sip_resyncs_total) calls, not 2"
answered_before=$(answered)
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 2 -timeout 60s -timeout_error \
  -trace_msg -message_file "$work/uas6.msg" >"$work/uas6.out" 2>"$work/uas6.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sleep 0.3
sign_in_again() {
  "$loadgen" --target "127.0.0.1:$acd_port" --rate 1 --duration 1 --agents 1 --queue 99 \
    --keys-dir "$work/lg" --server-key "$work/acdd.pub" --json >"$work/lg2.json" 2>"$work/lg2.err"
}
sign_in_again || sign_in_again || fail "loadgen (agent 1000 after the restart): $(cat "$work/lg2.err")"
wait "$first_pid" || fail "the first caller held over the restart: $(tail -5 "$work/restart_first.err"; tail -40 "$work/restart_first.msg")"
wait "$second_pid" || fail "the second caller held over the restart: $(tail -5 "$work/restart_second.err"; tail -40 "$work/restart_second.msg")"
wait "$uas_pid" || fail "agent 1000's phone did not answer both calls held over the restart: $(tail -5 "$work/uas6.err")"
grep -q "^SIP/2.0 200" "$work/restart_second.msg" || fail "the second caller was not answered"
for _ in $(seq 50); do [ "$(answered)" = $((answered_before + 2)) ] && break; sleep 0.1; done
[ "$(answered)" = $((answered_before + 2)) ] ||
  fail "the restarted acdd counts $(answered) answered in general, expected $((answered_before + 2))"
no_stuck
echo "acdd restart: both held callers asked for again in $resynced_ms ms, then answered by agent 1000"

# The bridge's own account, printed as it stops.
kill -TERM "$bridge_pid"
wait "$bridge_pid" || fail "the bridge did not stop cleanly"
counters=$(tail -1 "$work/bridge.out")
python3 - "$counters" <<'PY' || fail "bridge counters: $counters"
import json, sys
c = json.loads(sys.argv[1])
# queued: 3 + the ring timer's caller + the three max-wait callers + the two callers of the
# restart, twice each (before it, and when asked for again); overflowed: the announcement, the
# IVR, busy and callback; ignored: the BYEs of the two relayed overflows, which left acd.
expect = {"invites": 17, "refused": 1, "routed_agent": 14, "queued": 11, "answered": 10,
          "released": 10, "abandoned": 2, "agent_failed": 3, "ring_no_answer": 3, "overflowed": 4,
          "ignored": 2, "bad_events": 0, "acd_errors": 0, "resyncs": 2, "calls": 0}
wrong = {k: (c.get(k), v) for k, v in expect.items() if c.get(k) != v}
assert not wrong, wrong
PY
echo "ok: SIP calls through Kamailio and acd-sip-bridge reached agent 1000 (at once, queued" \
  "behind a call), agent 1001 at once after 1000's phone was busy, and 1000 again after 1001's" \
  "phone was gone, and 1000 after its phone rang out; answered then released; CANCELs while" \
  "queued and while ringing were abandoned; overflows reached the announcement and the IVR or" \
  "were refused busy / callback; nothing was left stuck after any case"
