#!/usr/bin/env bash
# ACDP/2 across a restart: one acdd with a journal and security.mode = "required", killed -9 under
# load and started again on the same address. The restarted node knows no session (it never
# answers a datagram it cannot open), so the load generator's clients, hearing nothing for a
# second, handshake again and retransmit over their new sessions: every call is routed exactly
# once, with no error and nothing lost. Then, with sessions living 15 s (session_lifetime_s), the
# clients renew theirs every 10 s (--rekey-after) under load, with nothing lost either.
# Usage: secure_restart_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"  # free_loopback_ports
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${load:-} 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
fail() { echo "FAIL: $*"; tail -5 "$work"/err* "$work"/load*.err 2>/dev/null; exit 1; }
read -r port closed < <(free_loopback_ports 2)
agents=30
for id in $(seq 1000 $((1000 + agents - 1))); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen" || fail "key generate"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
"$loadgen" --write-keys "$work/lg" --agents $agents >/dev/null || fail "--write-keys"
sed -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^listen = \"127.0.0.1:7070\"|listen = \"127.0.0.1:$port\"|" \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
printf '\n[journal]\ndir = "%s/journal"\nsnapshot_every_s = 1\n' "$work" >>"$work/acd.toml"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\nsession_lifetime_s = 15\n' "$work/acdd.key" >>"$work/acd.toml"
cat "$work/lg/clients.toml" >>"$work/acd.toml"
"$acdd" --check-config "$work/acd.toml" >/dev/null 2>"$work/check.err" || fail "check-config: $(cat "$work/check.err")"
start() {  # start N: acdd's Nth start; waits until it listens
  "$acdd" --config "$work/acd.toml" >"$work/out$1" 2>"$work/err$1" &
  pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/out$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "acdd did not start ($1)"
}

start 1
# The second address is a closed port: given two, the load generator keeps every request until
# it is answered and sends it again every --failover-after, as a switch does while acd restarts.
"$loadgen" --target "127.0.0.1:$port,127.0.0.1:$closed" --rate 200 --duration 6 --agents $agents \
  --talk-ms 50 --failover-after 1000 --keys-dir "$work/lg" --server-key "$work/acdd.pub" \
  --json >"$work/load.json" 2>"$work/load.err" &
load=$!
# The kill lands in the routing load, a second in, not among the sign-ins before it.
for _ in $(seq 600); do grep -qs "load starts" "$work/load.err" && break; sleep 0.05; done
grep -qs "load starts" "$work/load.err" || fail "the load generator did not start its load"
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
start 2
grep -q "ACDP/2 required" "$work/out2" || fail "the restarted node does not require ACDP/2"
wait "$load" || fail "the load generator failed: $(cat "$work/load.json" "$work/load.err")"
expect_every_call_routed "$work/load.json" || fail "calls lost or doubled across the restart"
renewed=$(loadgen_field "$work/load.json" renewed)
[ "$renewed" -ge 32 ] || fail "the clients did not all make new sessions after the restart: renewed $renewed"

# Sessions renewed before their lifetime: acdd forgets a session 15 s after its handshake; the
# clients make a new one every 10 s, under load.
"$loadgen" --target "127.0.0.1:$port" --rate 100 --duration 20 --agents $agents \
  --talk-ms 50 --rekey-after 10 --keys-dir "$work/lg" --server-key "$work/acdd.pub" \
  --json >"$work/load2.json" 2>"$work/load2.err" || fail "the rekeying run: $(cat "$work/load2.json" "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || fail "calls lost while sessions were renewed"
renewed2=$(loadgen_field "$work/load2.json" renewed)
[ "$renewed2" -ge 62 ] || fail "sessions were not renewed at --rekey-after: renewed $renewed2"
kill -TERM "$pid"
wait "$pid" || fail "acdd did not stop cleanly"
pid=
echo "ok: kill -9 and restart under ACDP/2 with nothing lost ($renewed sessions made again); $renewed2 sessions renewed before their lifetime with nothing lost"
