#!/usr/bin/env bash
# A shift start in small: 300 agents sign in at the same moment through a real acdd whose verifier
# pool has 2 threads and room for only 16 waiting sign-ins; the rest are answered Overloaded and
# the desktops (acd-loadgen) send them again after a back-off. Every sign-in must be acknowledged,
# and calls must then route to the agents.
# Usage: signin_storm_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
source "$(dirname "$0")/../loadgen_lib.sh"
work=$(mktemp -d)
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
agents=300
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"\nmax_clients = 1024|' \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
# The default centre has agents 1000..1199; 100 more make 300 with consecutive IDs.
cat >>"$work/acd.toml" <<TOML

[[agent_group]]
first_id = 1200
count = 100
skills = { general = 1 }

[signin]
threads = 2
queue = 16
opslimit = 1
memlimit_kib = 2048
TOML

# All agents in one import (hashed in parallel), at the configured (cheap) cost.
{ echo "id,secret,flag"; for id in $(seq 1000 $((1000 + agents - 1))); do echo "$id,demo-$id,"; done; } >"$work/agents.csv"
"$acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --config "$work/acd.toml" >"$work/import.out" 2>"$work/import.err"
grep -q "$agents added, 0 changed, 0 unchanged, 0 removed" "$work/import.out" || { echo "FAIL: import: $(cat "$work/import.out" "$work/import.err")"; exit 1; }
grep -q '^1000 \$argon2id\$v=19\$m=2048,t=1,' "$work/credentials" || { echo "the configured cost was not used"; head -3 "$work/credentials"; exit 1; }

"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
"$loadgen" --target "127.0.0.1:$port" --rate 300 --duration 1 --agents "$agents" --json \
  --signin-timeout 60 >"$work/storm.json" 2>"$work/loadgen.err" || { echo "FAIL: $(cat "$work/loadgen.err")"; exit 1; }
cat "$work/loadgen.err"
expect_every_call_routed "$work/storm.json"
overloaded=$(loadgen_field "$work/storm.json" signin_overloaded)
[ "${overloaded:-0}" -gt 0 ] || { echo "FAIL: no sign-in was answered Overloaded: the queue bound did not act"; exit 1; }
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?; pid=
[ "$rc" = 0 ] || { echo "acdd exited with status $rc on SIGTERM"; cat "$work/acdd.err"; exit 1; }
echo "ok: $agents simultaneous sign-ins acknowledged ($overloaded answered Overloaded first)"
