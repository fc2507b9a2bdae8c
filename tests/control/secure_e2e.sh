#!/usr/bin/env bash
# ACDP/2 end to end: acdd with security.mode = "required" (its key from acdctl key generate, the
# load generator's clients from acd-loadgen --write-keys pasted as [[clients]]) routes every call
# of an authenticated acd-loadgen exactly once with no error (also with its switch clients
# numbered from --first-switch 200); a clear-text ACDP/1 client gets no
# answer at all; under a flood of bogus handshake inits the calls are still all routed; acdd counts
# what it dropped (acd_security_dropped_total) and the sessions; one loud source is rate-limited
# while the load generator, at another address, still makes its sessions.
# Usage: secure_e2e.sh ACDD ACDCTL LOADGEN CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 config=$4
source "$(dirname "$0")/../loadgen_lib.sh"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/acdd.err" ] && cat "$work/acdd.err"; exit 1; }
agents=20

# Keys: acdd's, and one per client the load generator plays (32 switches, one desktop per agent).
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen" || fail "key generate"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
[ -s "$work/acdd.pub" ] || fail "no public key printed: $(cat "$work/keygen")"
"$loadgen" --write-keys "$work/lg" --agents $agents >/dev/null || fail "--write-keys"
[ "$(stat -c %a "$work/lg/lg-switch-0.key")" = 600 ] || fail "a client key is not mode 0600"
[ "$(grep -c '^\[\[clients\]\]' "$work/lg/clients.toml")" = $((32 + agents)) ] ||
  fail "clients.toml: $(head -20 "$work/lg/clients.toml")"

# The shipped production example requires ACDP/2 and is valid as it stands.
example=$(dirname "$0")/../../deploy/acd.toml.production.example
grep -q '^mode = "required"' "$example" || fail "the production example does not require ACDP/2"
"$acdctl" config validate "$example" >/dev/null || fail "the production example is not valid"

# The demo centre with real credentials (the agents' demo passwords) and ACDP/2 required.
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" "$config" >"$work/acd.toml"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/acd.toml"
cat "$work/lg/clients.toml" >>"$work/acd.toml"
for id in $(seq 1000 $((1000 + agents - 1))); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
"$acdd" --check-config "$work/acd.toml" >/dev/null 2>"$work/check.err" || fail "check-config: $(cat "$work/check.err")"

"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && [ -s "$work/port.metrics" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start"
port=$(cat "$work/port")
grep -q "ACDP/2 required: $((32 + agents)) clients; this node's public key $(cat "$work/acdd.pub")" \
  "$work/acdd.out" || fail "start-up line: $(cat "$work/acdd.out")"

# Authenticated: every call routed exactly once, no error.
"$loadgen" --target "127.0.0.1:$port" --rate 2000 --duration 2 --agents $agents \
  --keys-dir "$work/lg" --server-key "$work/acdd.pub" --json >"$work/result.json" 2>"$work/load.err" ||
  fail "loadgen: $(cat "$work/result.json" "$work/load.err")"
expect_every_call_routed "$work/result.json" || fail "authenticated run"

scrape() {  # scrape: the metrics page into $work/metrics
  exec 3<>"/dev/tcp/127.0.0.1/$(cat "$work/port.metrics")"
  printf 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  cat <&3 >"$work/metrics"
  exec 3<&-
}
value() {  # value METRIC: its value as an integer (prometheus-cpp writes 52.000000); fails if absent
  awk -v m="$1" '$1 == m { printf "%d", $2; found = 1 } END { exit !found }' "$work/metrics" ||
    fail "no sample $1: $(grep acd_security "$work/metrics")"
}
scrape
messages=$(value 'acd_dataplane_rx_messages_total{core="0"}')

# Clear text: ACDP/1 Registers (from the load generator's own client numbers) get no answer and
# never reach the decoder.
python3 - "$port" <<'EOF' || fail "a clear-text client was answered"
import socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
def datagram(client, msgs):
    body = b"".join(msgs)
    return struct.pack("<IBBHII", 0x50444341, 1, len(msgs), 16 + len(body), client, 0) + body
def message(mtype, seq, body):
    return struct.pack("<HHIQ", mtype, 16 + len(body), 0, seq) + body
register = message(1, 1, struct.pack("<IIQ", 1, 0, 7))
for client in (100, 7):
    s.sendto(datagram(client, [register]), ("127.0.0.1", port))
try:
    data, _ = s.recvfrom(9000)
    print("answered:", data.hex())
    sys.exit(1)
except socket.timeout:
    pass
EOF

# Nothing of the clear text reached the decoder.
scrape
[ "$(value 'acd_dataplane_rx_messages_total{core="0"}')" = "$messages" ] ||
  fail "clear-text messages reached the decoder: $messages -> $(value 'acd_dataplane_rx_messages_total{core="0"}')"

# A flood of bogus inits (5,000/s) while the load generator handshakes again and routes calls:
# half from one loud source (127.0.0.2, every init with a right mac1 and garbage after it, which
# would cost acdd a DH unless it answers with a cookie), half spread over 250 quiet sources
# (127.1.0.x, a few a second each: under the per-source allowance), alternately with a wrong and
# a right mac1. The loud source is rate-limited; the load generator (127.0.0.1) still makes its
# sessions and every call is still routed exactly once.
python3 - "$port" "$(cat "$work/acdd.pub")" 5000 5 <<'EOF' &
import base64, hashlib, os, socket, struct, sys, time
port, server, rate, seconds = int(sys.argv[1]), base64.b64decode(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
mac1_key = hashlib.blake2b(b"acdp2 mac1" + server, digest_size=32).digest()
def bound(address):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    return s
loud = bound("127.0.0.2")
quiet = [bound("127.1.0.%d" % i) for i in range(1, 251)]
start, sent = time.monotonic(), 0
while time.monotonic() - start < seconds:
    for _ in range(50):
        body = struct.pack("<IBBHII", 0x50444341, 2, 0x81, 160, sent, 0) + os.urandom(112)
        good_mac1 = hashlib.blake2b(body, key=mac1_key, digest_size=16).digest()
        if sent % 2:
            loud.sendto(body + good_mac1 + bytes(16), ("127.0.0.1", port))
        else:
            mac1 = good_mac1 if sent % 4 else os.urandom(16)
            quiet[(sent // 2) % len(quiet)].sendto(body + mac1 + bytes(16), ("127.0.0.1", port))
        sent += 1
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
print("flood: %d inits" % sent, file=sys.stderr)
EOF
flood=$!
rcvbuf_errors() {  # the kernel's count of UDP datagrams dropped for a full socket buffer
  awk '/^Udp:/ { if (!n++) { for (i = 1; i <= NF; i++) col[$i] = i } else print $col["RcvbufErrors"] }' /proc/net/snmp
}
kernel_before=$(rcvbuf_errors)
sleep 0.5
"$loadgen" --target "127.0.0.1:$port" --rate 2000 --duration 3 --agents $agents \
  --keys-dir "$work/lg" --server-key "$work/acdd.pub" --json >"$work/flooded.json" 2>"$work/flooded.err" ||
  fail "loadgen under a flood: $(cat "$work/flooded.json" "$work/flooded.err")"
wait $flood
expect_every_call_routed "$work/flooded.json" || fail "the run under a flood"

# The metrics: a session per client, the flood and the clear text counted, nothing forged.
scrape
[ "$(value acd_security_sessions)" = $((32 + agents)) ] || fail "sessions: $(value acd_security_sessions)"
[ "$(value acd_security_handshakes_total)" = $((2 * (32 + agents))) ] ||
  fail "handshakes: $(value acd_security_handshakes_total)"
[ "$(value acd_security_sessions_replaced_total)" = $((32 + agents)) ] || fail "sessions replaced"
[ "$(value 'acd_security_dropped_total{reason="malformed"}')" -ge 2 ] ||
  fail "clear text not counted as malformed: $(grep acd_security_dropped "$work/metrics")"
flooded=$(( $(value 'acd_security_dropped_total{reason="bad_mac1"}') +
  $(value 'acd_security_dropped_total{reason="bad_handshake"}') +
  $(value 'acd_security_dropped_total{reason="need_cookie"}') +
  $(value 'acd_security_dropped_total{reason="ring_full"}') +
  $(value 'acd_security_dropped_total{reason="rate_limited"}') ))
# Every init acdd read is counted; on a loaded machine the kernel may drop some before acdd reads
# them (a full socket buffer), which it counts itself.
kernel_dropped=$(( $(rcvbuf_errors) - kernel_before ))
[ $((flooded + kernel_dropped)) -ge 20000 ] ||
  fail "the flood was not all counted ($flooded by acdd, $kernel_dropped by the kernel): $(grep acd_security_dropped "$work/metrics")"
# The loud source's 12,500 inits: at most its burst (500) and 50 a second past the limiter.
[ $(( $(value 'acd_security_dropped_total{reason="rate_limited"}') + kernel_dropped )) -ge 11000 ] ||
  fail "the loud source was not rate-limited: $(grep acd_security_dropped "$work/metrics")"
[ $(( $(value 'acd_security_dropped_total{reason="bad_mac1"}') + kernel_dropped )) -ge 5500 ] ||
  fail "bad_mac1 not counted"
[ "$(value 'acd_security_dropped_total{reason="bad_tag"}')" = 0 ] || fail "forged datagrams seen"
grep '^acd_security_dropped_total' "$work/metrics" | awk '$2 + 0 > 0' || true

# Forged data datagrams naming random session indices: the socket's filter drops them in the
# kernel (they never wake the IO thread) and they are counted as reason="filtered"; acdd reads
# none of them (unknown_session stays where it was, but for a guess inside the issued range).
unknown_before=$(value 'acd_security_dropped_total{reason="unknown_session"}')
filtered_before=$(value 'acd_security_dropped_total{reason="filtered"}')
python3 - "$port" <<'EOF2'
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.3", 0))
for n in range(2000):
    payload = os.urandom(8 + 48 + 16)
    s.sendto(struct.pack("<IBBHII", 0x50444341, 2, 1, 16 + len(payload),
                         struct.unpack("<I", os.urandom(4))[0], 0) + payload, ("127.0.0.1", int(sys.argv[1])))
EOF2
sleep 0.5
scrape
filtered=$(( $(value 'acd_security_dropped_total{reason="filtered"}') - filtered_before ))
[ "$filtered" -ge 1990 ] || fail "forged data not filtered in the kernel: $filtered of 2000 ($(grep acd_security_dropped "$work/metrics"))"
[ $(( $(value 'acd_security_dropped_total{reason="unknown_session"}') - unknown_before )) -le 10 ] ||
  fail "forged data reached acdd: $(grep acd_security_dropped "$work/metrics")"

# The switch clients numbered from --first-switch (a second load generator beside a first): the
# same keys (DIR/lg-switch-<k>.key) under the other numbers.
"$loadgen" --target "127.0.0.1:$port" --rate 1000 --duration 1 --agents $agents --first-switch 200 \
  --keys-dir "$work/lg" --server-key "$work/acdd.pub" --json >"$work/switch200.json" 2>"$work/switch200.err" ||
  fail "loadgen --first-switch 200: $(cat "$work/switch200.json" "$work/switch200.err")"
expect_every_call_routed "$work/switch200.json" || fail "the run with --first-switch 200"

kill -TERM $pid
rc=0
wait $pid || rc=$?
pid=
[ "$rc" = 0 ] || fail "acdd exited with status $rc on SIGTERM"
grep -q "calls in engine=0" "$work/acdd.err" || fail "calls left in the engine"
if grep -q "demo-10" "$work/acdd.out" "$work/acdd.err"; then fail "a password was printed"; fi

# AES-256-GCM instead of ChaCha20-Poly1305 where the CPU has AES-NI: acdd and the clients alike.
aes="(no AES-NI: AES-256-GCM not tried)"
if grep -qw aes /proc/cpuinfo; then
  sed -i 's|^\[security\]|[security]\naead = "aes256-gcm"|' "$work/acd.toml"
  rm -f "$work/port"
  "$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
    --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/acdd.out" 2>"$work/acdd.err" &
  pid=$!
  for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || fail "acdd did not start with aead = aes256-gcm"
  "$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 1000 --duration 1 --agents $agents \
    --keys-dir "$work/lg" --server-key "$work/acdd.pub" --aead aes256-gcm --json \
    >"$work/aes.json" 2>"$work/aes.err" || fail "loadgen over AES-256-GCM: $(cat "$work/aes.json" "$work/aes.err")"
  expect_every_call_routed "$work/aes.json" || fail "the run over AES-256-GCM"
  aes="$(loadgen_field "$work/aes.json" sent) calls over AES-256-GCM"
fi
echo "ok: $(loadgen_field "$work/result.json" sent) + $(loadgen_field "$work/flooded.json" sent) calls routed over ACDP/2 (the second run under a flood of $flooded bogus inits); clear text unanswered; $aes"
