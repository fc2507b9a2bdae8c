#!/usr/bin/env bash
# After an unplanned failover, the old active site comes back and does not act as active: with real
# processes (the active site's pair, a DR node serving a follower on its replication_listen, etcd,
# acd-loadgen):
# 1. the pair routes, the DR node follows; both nodes of the pair die (kill -9); `acdctl dr
#    failover` makes the DR node the active site with epoch 2;
# 2. the old primary starts again with start_as = "primary" (which, alone, would take the next
#    epoch and route): it sees etcd's epoch held by the DR site, does not promote, and follows the
#    DR site instead, caught up from it (dr status: following; the DR node: follower caught up);
# 3. the old standby starts too: it stays its pair's standby and does not promote either; etcd
#    still names the DR site with epoch 2, and the DR node routes every call of a load.
# The pair dies under load, so the old primary's journal may end before the seq the DR node took
# over at (the primary ships a record before its own journal has it on disk), after it (records
# the DR node never got) or at it (docs/dr.md). The old primary, which restarts from its own
# journal, must end with the DR site's state, not its own: it is caught up with an image unless
# its journal ends exactly at the takeover point (the same records up to there), and a drill on it
# afterwards replays its new journal to the DR site's state hash.
# Usage: dr_rejoin_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/dr_lib.sh"
work=$(mktemp -d)
trap 'stop_dr; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_SEALED=0
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
dr_setup
# The DR node serves a follower once it is the active site; the pair's nodes know where.
read -r DR_d < <(free_loopback_ports 1)
sed -i "s|^role = \"dr\"$|role = \"dr\"\nreplication_listen = \"127.0.0.1:$DR_d\"|" "$work/d/acd.toml"
for n in a b; do
  sed -i "s|^dataplane = \\[\"127.0.0.1:$PORT_d\"\\]|&\nreplication = [\"127.0.0.1:$DR_d\"]|" \
    "$work/$n/acd.toml"
  grep -q "^replication = \\[\"127.0.0.1:$DR_d\"\\]" "$work/$n/acd.toml" || dr_fail "node $n's file"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || dr_fail "node $n's configuration"
done
grep -q "^replication_listen = \"127.0.0.1:$DR_d\"" "$work/d/acd.toml" || dr_fail "d's file"
# Once it took over, d checks its follower's state hash every 500 records, as the pair does.
printf '\n[ha]\nhash_every = 500\n' >>"$work/d/acd.toml"
"$acdd" --check-config "$work/d/acd.toml" >/dev/null || dr_fail "node d's configuration"
etcd_holder() {
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" get /acd-test/epoch --print-value-only
}

# 1. The active site routes and dies; the DR site takes over.
start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"
start_dr
wait_log a "dr: DR follower caught up" 10
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 100 --duration 1 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load1.json" 2>"$work/load1.err" || dr_fail "first load"
# More load, and the pair dies in the middle of it.
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 100 --duration 3 --agents 30 \
  --talk-ms 50 --json >"$work/load1b.json" 2>"$work/load1b.err" &
load1b=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load1b.err" && break; sleep 0.05; done
sleep 0.5
kill -9 "$PID_a" "$PID_b"
wait "$PID_a" "$PID_b" 2>/dev/null || true
PID_a= PID_b=
kill "$load1b" 2>/dev/null || true
wait "$load1b" 2>/dev/null || true
journal_a=$(python3 "$here/journal_last_seq.py" "$work/a/journal")
for _ in $(seq 100); do
  dr_json d | grep -q '"active_connected": false' && break
  sleep 0.05
done
"$acdctl" --socket "$work/d/ctl.sock" dr failover >"$work/failover.out" 2>&1 ||
  dr_fail "dr failover failed: $(cat "$work/failover.out")"
wait_log d "dr: site demo-dr is the active site with epoch 2" 5
wait_log d "dr: serving site demo-1's follower on 127.0.0.1:$DR_d" 5
took_at=$(sed -n 's/^applied_seq: //p' "$work/failover.out")
[ -n "$took_at" ] || dr_fail "no applied seq in the failover's answer: $(cat "$work/failover.out")"
echo "a's journal ends at seq $journal_a; d took over at seq $took_at"
before=$(etcd_holder)
echo "$before" | grep -q "demo-dr" || dr_fail "etcd does not name demo-dr: $before"

# 2. The old primary comes back, as a primary would start: it follows the DR site.
for n in a b; do  # what they log from here on is their second life's
  mv "$work/$n/out" "$work/$n/out.first"
  mv "$work/$n/err" "$work/$n/err.first"
done
start_node a primary
wait_log a "site demo-dr holds epoch 2 \(demo-dr.took-$took_at\): following it as its DR site" 10
wait_log a "dr: site demo-1 following site demo-dr" 5
wait_log d "dr: DR follower caught up" 15
dr_json a | grep -q '"role": "following"' || dr_fail "a is not following: $(dr_json a)"
dr_json d | grep -q '"follower": "caught-up"' || dr_fail "d does not serve a caught-up follower"
# How d caught a up: records only if a's journal ended exactly where d took over.
"$acdctl" --socket "$work/d/ctl.sock" dr history >"$work/d_history.out" 2>&1
if [ "$journal_a" = "$took_at" ]; then
  how="sending the records it lacks"
else
  how="sending an image"
fi
grep -q "follower at seq $journal_a, ours [0-9]*: $how" "$work/d_history.out" ||
  dr_fail "d did not catch a up by '$how' from seq $journal_a: $(cat "$work/d_history.out")"
echo "ok: the old primary follows the site that took over (from seq $journal_a: $how)"

# 3. The old standby comes back too; nobody but the DR site routes.
start_node b standby
sleep 3
for n in a b; do
  ! grep -q "ha: primary with epoch\|promoted: won epoch" "$work/$n/out" "$work/$n/err" ||
    dr_fail "node $n took an epoch after the DR site took over"
done
ha_json b | grep -q '"role": "standby"' || dr_fail "b is not a standby: $(ha_json b)"
dr_json d | grep -q '"follower": "caught-up"' || dr_fail "d's follower a was disturbed: $(dr_json d)"
[ "$(etcd_holder)" = "$before" ] || dr_fail "etcd changed: $before -> $(etcd_holder)"
"$loadgen" --target "127.0.0.1:$PORT_d" --rate 100 --duration 3 --agents 30 --talk-ms 50 --settle-s 15 --json \
  >"$work/load2.json" 2>"$work/load2.err" &
load2=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load2.err" && break; sleep 0.05; done
sleep 0.5
# a holds the DR site's state, not the one its own journal ended with: its journal replayed (the
# image d sent, then d's records) reaches d's current state hash, and no hash check ever differed.
"$acdctl" --socket "$work/a/ctl.sock" --json dr drill >"$work/a_drill.json" 2>&1 ||
  dr_fail "the drill on the rejoined node failed: $(cat "$work/a_drill.json")"
wait "$load2" || dr_fail "load against d failed: $(cat "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || dr_fail "d does not route every call"
grep -q '"hash_match": true' "$work/a_drill.json" || dr_fail "a's state is not d's: $(cat "$work/a_drill.json")"
"$acdctl" --socket "$work/d/ctl.sock" dr history >"$work/d_history.out" 2>&1
! grep -q "hash mismatch" "$work/d_history.out" || dr_fail "a diverged: $(cat "$work/d_history.out")"
dr_json a | grep -q '"role": "following"' || dr_fail "a left the DR site's state: $(dr_json a)"
echo "ok: the old active site came back as a follower of the DR site, which alone routes"
