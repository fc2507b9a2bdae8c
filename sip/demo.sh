#!/usr/bin/env bash
# The SIP quick-start demo: one real SIP call routed by acd. acdd on the demo centre (ACDP/2
# required), Kamailio with the shipped sip/kamailio.cfg, acd-sip-bridge between them, agent 1000
# signed in at its desktop (acd-loadgen) with a SIP phone (SIPp) registered at Kamailio, and a
# caller (SIPp) dialling service number 5000. acd picks agent 1000; Kamailio relays the held INVITE
# to the phone, which answers; the caller hangs up after a few seconds. Everything runs on
# 127.0.0.1 on free ports, in a directory of its own, and stops at the end (or on Ctrl-C).
# Usage: sip/demo.sh BUILD_DIR   (KEEP=1 keeps the directory with every log)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
scenarios=$here/../tests/sip
for tool in kamailio sipp python3; do
  command -v "$tool" >/dev/null ||
    { echo "sip demo: $tool is missing (make deps installs kamailio and sip-tester)" >&2; exit 1; }
done
acdd=$build/control/acdd acdctl=$build/control/acdctl loadgen=$build/acd-loadgen
bridge=$build/sip/acd-sip-bridge
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -s "$work/kamailio.pid" ] && kill "$(cat "$work/kamailio.pid" 2>/dev/null)" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "sip demo: $*" >&2
  for f in acdd.err kamailio.err bridge.err phone.err caller.err; do
    [ -s "$work/$f" ] && { echo "--- $f" >&2; tail -15 "$work/$f" >&2; }
  done
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
say() { printf '\n== %s\n' "$*"; }
sip_port=$(free_port) evapi_port=$(free_port) phone_port=$(free_port) reg_port=$(free_port)
caller_port=$(free_port) bridge_metrics=$(free_port)

say "keys: acdd's, the bridge's (a switch client) and agent 1000's desktop's"
"$acdctl" key generate --out "$work/acdd.key" >"$work/acdd.keygen"
sed -n 's/^public key: //p' "$work/acdd.keygen" >"$work/acdd.pub"
"$acdctl" key generate --out "$work/bridge.key" >"$work/bridge.keygen"
bridge_pub=$(sed -n 's/^public key: //p' "$work/bridge.keygen")
"$loadgen" --write-keys "$work/desktop" --agents 1 >/dev/null
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
  "$here/../control/default/acd.toml" >"$work/acd.toml"
cat >>"$work/acd.toml" <<TOML

[security]
mode = "required"
key_file = "$work/acdd.key"

[[clients]]
name = "sip-bridge"
role = "switch"
public_key = "$bridge_pub"
TOML
cat "$work/desktop/clients.toml" >>"$work/acd.toml"
echo "demo-1000" | "$acdctl" agent passwd 1000 --credentials "$work/credentials" --cost minimal \
  >/dev/null
"$acdd" --check-config "$work/acd.toml" >/dev/null

say "acdd: the demo centre, ACDP/2 required"
"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/acdd.out" 2>"$work/acdd.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start"
acd_port=$(cat "$work/port")
ctl() { "$acdctl" --socket "$work/ctl.sock" "$@"; }
echo "acdd listens on 127.0.0.1:$acd_port"

say "agent 1000 signs in at its desktop and goes ready"
sign_in() {
  "$loadgen" --target "127.0.0.1:$acd_port" --rate 1 --duration 1 --agents 1 --queue 99 \
    --keys-dir "$work/desktop" --server-key "$work/acdd.pub" --json >"$work/desktop.json" \
    2>"$work/desktop.err"
}
sign_in || sign_in || fail "the desktop could not sign agent 1000 in: $(cat "$work/desktop.err")"
for _ in $(seq 50); do
  ctl --json agents show 1000 | grep -q '"state": "Ready"' && break
  sleep 0.1
done
ctl agents show 1000 | grep -E "^(id|state) "

say "Kamailio (sip/kamailio.cfg) on udp:127.0.0.1:$sip_port, evapi on 127.0.0.1:$evapi_port"
mkdir -p "$work/run"
kamailio -f "$here/kamailio.cfg" -A "SIP_LISTEN=udp:127.0.0.1:$sip_port" \
  -A "EVAPI_BIND=\"127.0.0.1:$evapi_port\"" -DD -E -Y "$work/run" -P "$work/kamailio.pid" \
  -w "$work/run" >"$work/kamailio.out" 2>"$work/kamailio.err" &
pids+=($!)
cat >"$work/bridge.toml" <<CONF
evapi = "127.0.0.1:$evapi_port"
acd = "127.0.0.1:$acd_port"
key_file = "$work/bridge.key"
server_key = "$work/acdd.pub"
domain = "127.0.0.1"
ring_s = 10
metrics = "127.0.0.1:$bridge_metrics"

[[services]]
number = "5000"
queue = 0
CONF
"$bridge" --config "$work/bridge.toml" >"$work/bridge.out" 2>"$work/bridge.err" &
bridge_pid=$!
pids+=($bridge_pid)
for _ in $(seq 100); do
  grep -q "connected to evapi" "$work/bridge.out" && grep -q "session made" "$work/bridge.out" && break
  sleep 0.1
done
grep -q "connected to evapi" "$work/bridge.out" || fail "the bridge did not reach Kamailio's evapi"
grep -q "session made" "$work/bridge.out" || fail "the bridge made no ACDP/2 session with acdd"
echo "acd-sip-bridge: connected to Kamailio's evapi and to acdd (service 5000 -> queue general)"

say "agent 1000's phone registers as sip:1000@127.0.0.1:$phone_port"
sipp -sf "$scenarios/agent.xml" -i 127.0.0.1 -p "$phone_port" -m 1 -timeout 30s -timeout_error \
  -trace_msg -message_file "$work/phone.msg" >"$work/phone.out" 2>"$work/phone.err" </dev/null &
phone_pid=$!
pids+=($phone_pid)
sipp "127.0.0.1:$sip_port" -sf "$scenarios/register.xml" -i 127.0.0.1 -p "$reg_port" -m 1 \
  -key agent 1000 -key uasport "$phone_port" -timeout 10s -timeout_error \
  >"$work/register.out" 2>"$work/register.err" </dev/null ||
  fail "the phone's REGISTER was refused: $(tail -3 "$work/register.err")"

say "a caller dials 5000 and talks for 3 s"
sipp "127.0.0.1:$sip_port" -sf "$scenarios/caller.xml" -default_behaviors all,-abortunexp \
  -s 5000 -d 3000 -i 127.0.0.1 -p "$caller_port" -m 1 -timeout 30s -timeout_error -trace_msg \
  -message_file "$work/caller.msg" >"$work/caller.out" 2>"$work/caller.err" </dev/null &
caller_pid=$!
pids+=($caller_pid)
for _ in $(seq 50); do  # until the phone has answered: the call rings at the agent first
  ctl --json calls list 2>/dev/null | grep -qE '"state": *"talking"' && break
  sleep 0.1
done
echo "acdctl calls list, while they talk:"
ctl calls list
wait "$caller_pid" || fail "the call did not complete: $(tail -3 "$work/caller.err")"
wait "$phone_pid" || fail "the phone did not answer: $(tail -3 "$work/phone.err")"

say "what happened"
invite=$(grep -m1 "^INVITE " "$work/phone.msg" || true)
[ -n "$invite" ] || fail "no INVITE reached the phone"
echo "the phone received: $invite"
echo "the caller heard:  $(grep -E "^SIP/2.0 (18[0-9]|200)" "$work/caller.msg" | sort -u | tr '\n' ' ')"
echo "acd's figures for queue general today:"
ctl stats queues | grep -E "^(name|queue|general)|general" | head -3
kill -TERM "$bridge_pid"
wait "$bridge_pid" 2>/dev/null || true
echo "the bridge's counters: $(tail -1 "$work/bridge.out")"
say "a SIP call routed by acd: caller -> Kamailio -> acd-sip-bridge -> acdd chose agent 1000 -> Kamailio -> the agent's phone"
