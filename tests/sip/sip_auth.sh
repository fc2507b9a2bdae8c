#!/usr/bin/env bash
# Digest authentication in the shipped sip/kamailio.cfg (-A ACD_AUTH_DB, Debian's db_text +
# auth_db): a real Kamailio on loopback ports of its own, SIPp as phones and as a caller's gateway,
# and a stand-in for the bridge on evapi (it answers every INVITE it is handed 486, and records
# them). The password column holds "-": db_text has no empty strings. Checked: a REGISTER without credentials is challenged (401); with agent 1000's password
# it is saved (200); with a wrong password it is challenged again; with another user's good
# credentials for AOR 1000 it is refused (403); an authenticated REGISTER sent again as it was
# (a replay) is challenged, its nonce being spent; an INVITE without credentials is challenged
# (407) and never reaches the bridge; with the gateway's credentials it does (the bridge's 486
# comes back). The subscriber table holds HA1 digests only.
# Usage: sip_auth.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
require_tools kamailio sipp python3
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in kamailio.err bridge.log; do [ -s "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }; done
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
sip_port=$(free_port) evapi_port=$(free_port) phone_port=$(free_port) gw_port=$(free_port)
realm=127.0.0.1

# The db_text directory: Debian's table definitions, then one row per subscriber (HA1 only).
schema=/usr/share/kamailio/dbtext/kamailio
[ -f "$schema/subscriber" ] && [ -f "$schema/version" ] || fail "no db_text schema in $schema"
mkdir "$work/auth"
cp "$schema/version" "$work/auth/version"
head -1 "$schema/subscriber" >"$work/auth/subscriber"
ha1() { printf '%s' "$1:$realm:$2" | md5sum | cut -d' ' -f1; }
printf '1:1000:%s:-:%s:-\n' "$realm" "$(ha1 1000 phone-secret-1000)" >>"$work/auth/subscriber"
printf '2:gateway:%s:-:%s:-\n' "$realm" "$(ha1 gateway gw-secret)" >>"$work/auth/subscriber"

cfg=$here/../../sip/kamailio.cfg
kamailio -c -f "$cfg" -A "ACD_AUTH_DB=\"text://$work/auth\"" >"$work/check" 2>&1 ||
  fail "kamailio -c with ACD_AUTH_DB: $(tail -5 "$work/check")"
mkdir -p "$work/run"
kamailio -f "$cfg" -A "SIP_LISTEN=udp:127.0.0.1:$sip_port" -A "EVAPI_BIND=\"127.0.0.1:$evapi_port\"" \
  -A "ACD_AUTH_DB=\"text://$work/auth\"" -DD -E -Y "$work/run" -P "$work/kamailio.pid" -w "$work/run" \
  >"$work/kamailio.out" 2>"$work/kamailio.err" &
pids+=($!)

# The bridge's stand-in: every INVITE event is written down and answered 486.
python3 - "$evapi_port" "$work/bridge.log" <<'PY' &
import json, socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        time.sleep(0.1)
out = open(log, "a", buffering=1)
out.write("connected\n")
buf = b""
while True:
    data = s.recv(65536)
    if not data:
        break
    buf += data
    while b":" in buf:
        n, rest = buf.split(b":", 1)
        if len(rest) < int(n) + 1:
            break
        event, buf = json.loads(rest[:int(n)]), rest[int(n) + 1:]
        out.write(json.dumps(event) + "\n")
        if event.get("event") == "invite":
            cmd = json.dumps({"cmd": "continue", "callid": event["callid"], "tindex": event["tindex"],
                              "tlabel": event["tlabel"], "action": "reply", "code": 486,
                              "reason": "Busy Here", "status": 0}).encode()
            s.sendall(b"%d:%s," % (len(cmd), cmd))
PY
pids+=($!)
for _ in $(seq 100); do grep -q connected "$work/bridge.log" 2>/dev/null && break; sleep 0.1; done
grep -q connected "$work/bridge.log" || fail "the bridge's stand-in did not reach evapi"

# register NAME TO_USER AUTH_USER PASSWORD FINAL: a REGISTER for sip:TO_USER, answered FINAL;
# with AUTH_USER, after a 401 it is sent again with that user's credentials.
register() {
  local name=$1 to=$2 user=$3 password=$4 final=$5 auth_step=""
  if [ -n "$user" ]; then
    auth_step=$(cat <<XML
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:$to@$realm>;tag=[pid]r[call_number]
      To: <sip:$to@$realm>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:$to@127.0.0.1:$phone_port>
      Expires: 600
      [authentication username=$user password=$password]
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
XML
)
  fi
  cat >"$work/$name.xml" <<XML
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="$name">
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:$to@$realm>;tag=[pid]r[call_number]
      To: <sip:$to@$realm>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:$to@127.0.0.1:$phone_port>
      Expires: 600
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
$auth_step
  <recv response="$final"/>
</scenario>
XML
  sipp "127.0.0.1:$sip_port" -sf "$work/$name.xml" -i 127.0.0.1 -p "$phone_port" -m 1 \
    -timeout 10s -timeout_error -trace_msg -message_file "$work/$name.msg" \
    >"$work/$name.out" 2>"$work/$name.err" </dev/null
}
register reg_none 1000 "" "" 401 || fail "a REGISTER without credentials was not challenged 401: $(tail -30 "$work/reg_none.msg")"
register reg_ok 1000 1000 phone-secret-1000 200 ||
  fail "agent 1000's REGISTER with its password was not saved: $(tail -30 "$work/reg_ok.msg")"
register reg_wrong 1000 1000 not-the-password 401 ||
  fail "a REGISTER with a wrong password was not challenged again: $(tail -30 "$work/reg_wrong.msg")"
register reg_other 1000 gateway gw-secret 403 ||
  fail "AOR 1000 registered with another user's credentials was not refused 403: $(tail -30 "$work/reg_other.msg")"

# A replay: agent 1000's authenticated REGISTER sent again as it was (a fresh Via branch, the
# same nonce and response): challenged, never saved.
python3 - "$work/reg_ok.msg" "$sip_port" <<'PY' || fail "a replayed REGISTER was accepted"
import re, socket, sys
text = open(sys.argv[1]).read()
sent = []
for chunk in re.split(r"-{20,}.*\n", text):  # "UDP message sent (N bytes):", a blank line, the message
    head, _, body = chunk.partition("\n\n")
    if "message sent" in head and body.startswith("REGISTER") and "Authorization:" in body:
        sent.append(body[:body.index("\n\n") + 2] if "\n\n" in body else body)
assert sent, "no authenticated REGISTER in the trace"
msg = sent[0]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
port = s.getsockname()[1]
msg = re.sub(r"Via: SIP/2.0/UDP [^\n]*", "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-replay1" % port, msg)
msg = msg.replace("\r\n", "\n").replace("\n", "\r\n")
s.sendto(msg.encode(), ("127.0.0.1", int(sys.argv[2])))
answer = s.recv(65536).decode(errors="replace")
status = answer.split("\r\n", 1)[0]
assert status.startswith("SIP/2.0 401"), "the replay was answered: " + status
print("replayed REGISTER: " + status)
PY

# invite NAME USER PASSWORD FINAL: an INVITE to 5000 from USER, answered FINAL; with a password,
# after a 407 it is sent again with the credentials.
invite() {
  local name=$1 user=$2 password=$3 final=$4 auth_step=""
  if [ -n "$password" ]; then
    auth_step=$(cat <<XML
  <recv response="407" auth="true"/>
  <send><![CDATA[
      ACK sip:5000@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:$user@$realm>;tag=[pid]i[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <send retrans="500"><![CDATA[
      INVITE sip:5000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:$user@$realm>;tag=[pid]i[call_number]
      To: <sip:5000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:$user@[local_ip]:[local_port]>
      [authentication username=$user password=$password]
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
XML
)
  fi
  cat >"$work/$name.xml" <<XML
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="$name">
  <send retrans="500"><![CDATA[
      INVITE sip:5000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:$user@$realm>;tag=[pid]i[call_number]
      To: <sip:5000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:$user@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
$auth_step
  <recv response="$final"/>
  <send><![CDATA[
      ACK sip:5000@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:$user@$realm>;tag=[pid]i[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: [cseq] ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
</scenario>
XML
  sipp "127.0.0.1:$sip_port" -sf "$work/$name.xml" -i 127.0.0.1 -p "$gw_port" -m 1 \
    -timeout 10s -timeout_error -trace_msg -message_file "$work/$name.msg" \
    >"$work/$name.out" 2>"$work/$name.err" </dev/null
}
invite inv_none gateway "" 407 || fail "an INVITE without credentials was not challenged 407: $(tail -30 "$work/inv_none.msg")"
sleep 0.3
if grep -q '"event": "invite"' "$work/bridge.log"; then fail "an unauthenticated INVITE reached the bridge"; fi
invite inv_ok gateway gw-secret 486 ||
  fail "the gateway's authenticated INVITE did not reach the bridge: $(tail -30 "$work/inv_ok.msg")"
[ "$(grep -c '"event": "invite"' "$work/bridge.log")" = 1 ] || fail "the bridge saw $(grep -c '"event": "invite"' "$work/bridge.log") INVITEs, not 1"
grep -q '"service": "5000"' "$work/bridge.log" || fail "the INVITE handed over is not for 5000: $(cat "$work/bridge.log")"
if grep -q "phone-secret\|gw-secret" "$work/auth/subscriber"; then fail "a clear-text password is stored"; fi
echo "ok: REGISTER and INVITE digest-authenticated (db_text, HA1 only): challenged without or with" \
  "wrong credentials, 403 for another user's, a replay challenged, only an authenticated INVITE" \
  "reached the bridge"
