#!/usr/bin/env bash
# One node with a journal: kill -9 under load and start again on the same address. The node comes
# back with its state (snapshot + records), its reply cache included: the load generator's
# retransmissions get the answers given before the crash, so every call is routed exactly once,
# with no error, and nothing is lost. Then the journal's tail is torn (cut mid-record) and, on a
# copy, a byte of it flipped: each start cuts the bad tail, says so, and starts.
# Usage: journal_restart_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"  # free_loopback_ports
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${load:-} 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT  # a timeout or Ctrl-C still stops every process the script started
fail() { echo "FAIL: $*"; tail -5 "$work"/err* 2>/dev/null; exit 1; }
read -r port closed < <(free_loopback_ports 2)
for id in $(seq 1000 1029); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
sed -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^listen = \"127.0.0.1:7070\"|listen = \"127.0.0.1:$port\"|" \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
printf '\n[journal]\ndir = "%s/journal"\nsnapshot_every_s = 1\n' "$work" >>"$work/acd.toml"
start() {  # start N: acdd's Nth start; waits until it listens
  "$acdd" --config "$work/acd.toml" >"$work/out$1" 2>"$work/err$1" &
  pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/out$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "acdd did not start ($1)"
}

start 1
# The second address is a closed port: given two, the load generator retransmits unanswered
# requests (every --failover-after, to either address) instead of giving them up, as a switch does
# while acd restarts. 1 s, so that slow sign-ins (argon2) do not look like an outage.
"$loadgen" --target "127.0.0.1:$port,127.0.0.1:$closed" --rate 200 --duration 5 --agents 30 \
  --talk-ms 50 --failover-after 1000 --json >"$work/load.json" &
load=$!
sleep 1.8  # past a snapshot: the restart uses one and the records after it
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
start 2
grep -qE "journal .*: snapshot at seq [1-9][0-9]*, [1-9][0-9]* records replayed" "$work/out2" ||
  fail "the restart did not use a snapshot and records: $(cat "$work/out2")"
wait "$load" || fail "the load generator failed: $(cat "$work/load.json")"
expect_every_call_routed "$work/load.json" || fail "calls lost or doubled across the restart"
kill -TERM "$pid"
wait "$pid" || fail "acdd did not stop cleanly"
pid=
stopped=$(grep -oE "state hash=[0-9a-f]{16}" "$work/err2" | cut -d= -f2)

# A clean restart replays to the state it stopped in.
start 3
replayed=$(grep -oE "state hash [0-9a-f]{16}" "$work/out3" | cut -d' ' -f3)
[ "$replayed" = "$stopped" ] || fail "stopped at $stopped, replayed to $replayed"
sleep 0.5  # a few hundred ticks: records in the new segment, to tear below
kill -TERM "$pid"; wait "$pid" || true; pid=

# A torn tail: the last segment cut in the middle of its last record.
last=$(ls "$work/journal"/journal-*.log | tail -1)
size=$(stat -c %s "$last")
[ "$size" -gt 100 ] || fail "the last segment is too small to tear: $size bytes"
cp -r "$work/journal" "$work/journal.copy"
truncate -s $((size - 7)) "$last"
start 4
grep -q "cut a torn or corrupt tail" "$work/err4" || fail "a torn tail was not reported: $(cat "$work/err4")"
kill -TERM "$pid"; wait "$pid" || true; pid=

# A flipped byte in the last record of the copy.
rm -rf "$work/journal"; mv "$work/journal.copy" "$work/journal"
last=$(ls "$work/journal"/journal-*.log | tail -1)
size=$(stat -c %s "$last")
printf '\xff' | dd of="$last" bs=1 seek=$((size - 3)) conv=notrunc status=none
start 5
grep -q "cut a torn or corrupt tail" "$work/err5" || fail "a corrupt record was not reported: $(cat "$work/err5")"
kill -TERM "$pid"; wait "$pid" || true; pid=
echo "ok: kill -9 and restart from the journal with nothing lost; torn and corrupt tails cut"
