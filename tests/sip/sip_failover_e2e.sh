#!/usr/bin/env bash
# SIP calls held across a takeover of the acd pair (docs/ha.md): two acdd over ACDP/2 with their
# etcd witness, a real Kamailio (sip/kamailio.cfg) and acd-sip-bridge configured with both nodes
# (acd = node a, standby = node b). Two callers dial 5000 while no agent is signed in: both hear
# 182 Queued and their INVITEs stay suspended in Kamailio. Node a is killed (-9); b promotes, and
# the bridge moves to it (b's takeover announcement, or a's silence). Then agent 1000 signs in at
# b and its phone answers both held calls in turn: the suspended transactions completed across
# the failover. Afterwards nothing is stuck: no call in b, no agent reserved, no call and no held
# INVITE in the bridge.
# Usage: sip_failover_e2e.sh ACDD ACDCTL LOADGEN BRIDGE DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 bridge=$4 default_config=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
source "$here/sip_lib.sh"
require_tools kamailio sipp python3
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
  for f in bridge.out bridge.err kamailio.err first.err first.msg second.err second.msg uas.err lg.err; do
    [ -s "$work/$f" ] && { echo "--- $f"; tail -30 "$work/$f"; }
  done
  pair_dump
  exit 1
}
pair_setup "$work" "$acdd" "$acdctl" "$default_config" 0

# ACDP/2 required on both nodes, each with its own key; the bridge (a switch) and the load
# generator's desktop for agent 1000 are clients of both.
"$acdctl" key generate --out "$work/bridge.key" >"$work/bridge.keygen" || fail "key generate"
bridge_pub=$(sed -n 's/^public key: //p' "$work/bridge.keygen")
"$loadgen" --write-keys "$work/lg" --agents 1 >/dev/null || fail "--write-keys"
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
for _ in $(seq 50); do [ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] && break; sleep 0.1; done
[ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] || fail "the bridge did not register with node a"

# Two callers while no agent is signed in: both queued (182), their INVITEs held in Kamailio.
two_callers_queued ""
grep -q "^SIP/2.0 182 Queued" "$work/first.msg" || fail "the first caller heard no 182"
[ "$(calls_in a)" = 2 ] || fail "node a does not hold the two calls"

# Node a dies (its replication link frozen first, as in tests/ha/secure_failover_e2e.sh).
kill -STOP "$PROXY_PID"
sleep 0.2
kill -9 "$PID_a" "$PROXY_PID"
wait "$PID_a" 2>/dev/null || true
PID_a=
killed_ms=$(date +%s%3N)
wait_log b "promoted: won epoch 2" 10
for _ in $(seq 100); do
  grep -q "to acd node 127.0.0.1:$PORT_b" "$work/bridge.out" && [ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] && break
  sleep 0.1
done
grep -q "to acd node 127.0.0.1:$PORT_b" "$work/bridge.out" || fail "the bridge did not move to node b"
[ "$(bridge_metric acd_sip_acdp_registered)" = 1 ] || fail "the bridge is not registered with node b"
moved_ms=$(($(date +%s%3N) - killed_ms))
[ "$(bridge_metric acd_sip_failovers_total)" -ge 1 ] || fail "the bridge counts no failover"
[ "$(bridge_metric acd_sip_suspended_transactions)" = 2 ] || fail "the held INVITEs were lost in the failover"
[ "$(calls_in b)" = 2 ] || fail "node b does not hold the two waiting calls: $(ctl b calls list)"

# Agent 1000 signs in at b; its phone (registered in Kamailio) answers both held calls in turn.
sipp -sf "$here/agent.xml" -i 127.0.0.1 -p "$uas_port" -m 2 -timeout 60s -timeout_error \
  -trace_msg -message_file "$work/uas.msg" >"$work/uas.out" 2>"$work/uas.err" </dev/null &
uas_pid=$!
pids+=($uas_pid)
sipp "127.0.0.1:$sip_port" -sf "$here/register.xml" -i 127.0.0.1 -p "$reg_port" -m 1 \
  -key agent 1000 -key uasport "$uas_port" -timeout 10s -timeout_error \
  >"$work/reg.out" 2>"$work/reg.err" </dev/null || fail "REGISTER: $(tail -5 "$work/reg.err")"
sign_in() {
  "$loadgen" --target "127.0.0.1:$PORT_b" --rate 1 --duration 1 --agents 1 --queue 99 \
    --keys-dir "$work/lg" --server-key "$work/b/acdd.pub" --json >"$work/lg.json" 2>"$work/lg.err"
}
sign_in || sign_in || fail "loadgen (agent 1000 at node b): $(cat "$work/lg.err")"
wait "$first_pid" || fail "the first caller held over the failover was not put through"
wait "$second_pid" || fail "the second caller held over the failover was not put through"
wait "$uas_pid" || fail "agent 1000's phone did not answer both held calls: $(tail -5 "$work/uas.err")"
grep -q "^SIP/2.0 200" "$work/first.msg" || fail "the first caller had no 200"
grep -q "^SIP/2.0 200" "$work/second.msg" || fail "the second caller had no 200"

# Nothing stuck: no call in b, no agent reserved, no call or held INVITE in the bridge.
for _ in $(seq 50); do [ "$(calls_in b)" = 0 ] && break; sleep 0.1; done
[ "$(calls_in b)" = 0 ] || fail "calls are left in node b: $(ctl b calls list)"
ctl b agents list | grep -q '"Reserved"' && fail "an agent is left reserved in node b"
for _ in $(seq 50); do
  [ "$(bridge_metric acd_sip_calls)" = 0 ] && [ "$(bridge_metric acd_sip_suspended_transactions)" = 0 ] && break
  sleep 0.1
done
[ "$(bridge_metric acd_sip_calls)" = 0 ] || fail "the bridge still follows $(bridge_metric acd_sip_calls) calls"
[ "$(bridge_metric acd_sip_suspended_transactions)" = 0 ] || fail "held INVITEs are left in the bridge"
[ "$(bridge_metric acd_sip_rejected_total)" = 0 ] || fail "the bridge answered calls 503 across the failover"
echo "ok: two callers queued at node a were put through by agent 1000 at node b after a was killed" \
  "(the bridge moved to b $moved_ms ms after the kill)"
