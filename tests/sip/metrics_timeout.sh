#!/usr/bin/env bash
# The bridge's metrics endpoint cannot be shut by idle connections: eight connections that send
# nothing hold all its places (a ninth is closed at once), and within its 5 s request timeout
# they are closed, counted (acd_sip_metrics_timeouts_total), and a scrape is answered again.
# The bridge runs on its own here: Kamailio and acdd are absent (it keeps trying to reach them).
# Usage: metrics_timeout.sh ACDCTL BRIDGE
set -euo pipefail
acdctl=$1 bridge=$2
source "$(dirname "$0")/../require.sh"
require_tools python3
work=$(mktemp -d)
bridge_pid=
cleanup() {
  [ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in bridge.out bridge.err; do [ -s "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }; done
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
"$acdctl" key generate --out "$work/bridge.key" >/dev/null || fail "key generate"
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen" || fail "key generate"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
metrics_port=$(free_port) evapi_port=$(free_port) acd_port=$(free_port)
cat >"$work/bridge.toml" <<CONF
evapi = "127.0.0.1:$evapi_port"
acd = "127.0.0.1:$acd_port"
key_file = "$work/bridge.key"
server_key = "$work/acdd.pub"
metrics = "127.0.0.1:$metrics_port"

[[services]]
number = "5000"
queue = 0
CONF
"$bridge" --config "$work/bridge.toml" >"$work/bridge.out" 2>"$work/bridge.err" &
bridge_pid=$!
for _ in $(seq 100); do grep -q "metrics on" "$work/bridge.out" && break; sleep 0.05; done
grep -q "metrics on" "$work/bridge.out" || fail "the bridge serves no metrics"

python3 - "$metrics_port" <<'PY' || fail "the metrics endpoint"
import socket, sys, time
port = int(sys.argv[1])

def scrape():
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    data = b""
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:  # closed at once (reset), or no answer in time
        pass
    s.close()
    return data.decode(errors="replace")

first = scrape()
assert first.startswith("HTTP/1.1 200"), "first scrape: %r" % first[:80]
idle = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(8)]
time.sleep(0.3)
blocked = scrape()
assert blocked == "", "a ninth connection was answered while eight idle ones held the places"
began = time.time()
while True:
    answer = scrape()
    if answer.startswith("HTTP/1.1 200"):
        break
    assert time.time() - began < 8, "no scrape answered 8 s after eight idle connections"
    time.sleep(0.5)
waited = time.time() - began
closed = 0
for s in idle:
    s.settimeout(1)
    try:
        closed += s.recv(1) == b""
    except OSError:
        pass
assert closed == 8, "%d of the 8 idle connections were closed" % closed
line = next(l for l in answer.splitlines() if l.startswith("acd_sip_metrics_timeouts_total "))
assert line.split()[1] == "8", line
print("metrics answered again %.1f s after 8 idle connections; %s" % (waited, line))
PY
echo "ok: idle metrics connections time out and are counted; scrapes are answered again"
