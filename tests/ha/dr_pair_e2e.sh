#!/usr/bin/env bash
# The DR site as a pair, with real processes (the active site's node a alone, the DR pair d and e,
# etcd, acd-loadgen):
# 1. d (start_as = "primary") wins the DR pair's own key and follows a; e follows d. Under load,
#    what d receives from a goes on to e: e's applied seq reaches a's last, the state hashes a
#    sends are checked on e too (none differs), and d's `dr status` shows e and its lag;
# 2. d dies (kill -9) while following, under load: e wins the pair's key, follows a itself
#    (a sends it the records it lacks: e holds a's history up to its seq) and catches up;
# 3. d starts again: it follows e as the pair's standby, as e followed it, and catches up;
# 4. a dies; `acdctl dr failover` on e takes the centre's epoch: e routes a new load, with d as
#    its synchronous standby (it still follows);
# 5. e dies: d takes the centre's next epoch under the site's name and routes every call of a
#    new load.
# Usage: dr_pair_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/dr_lib.sh"
work=$(mktemp -d)
trap 'stop_e; stop_dr; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_SEALED=0
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
dr_setup

# The DR pair d and e (its own key).
dr_pair_setup
# The pair's key may not be the centre's.
sed 's|^etcd_key = "/acd-test/dr-epoch"|etcd_key = "/acd-test/epoch"|' "$work/d/acd.toml" \
  >"$work/same-key.toml"
if "$acdd" --check-config "$work/same-key.toml" >"$work/same-key.out" 2>&1; then
  dr_fail "a DR pair on the centre's key was accepted"
fi
grep -q "needs a key of its own" "$work/same-key.out" ||
  dr_fail "no clear error for the centre's key: $(cat "$work/same-key.out")"

# The active site's last seq and a node's applied seq, equal within a few timer records.
last_a() { ha_json a | sed -n 's/^ *"last_seq": \([0-9]*\).*/\1/p'; }
close_to() {  # ACTUAL TARGET
  [ -n "$1" ] && [ -n "$2" ] && [ "$1" -ge $(($2 - 20)) ]
}
# Polls (up to 10 s) until node FOLLOWER's DR applied seq reaches the last seq of PRIMARY's ha
# status within a few timer records. The primary keeps writing timer records, so the two are read
# together on each try and the answer is the loop's, never a second, later reading.
follows() {  # FOLLOWER PRIMARY
  local got target
  for _ in $(seq 200); do
    target=$(ha_json "$2" | sed -n 's/^ *"last_seq": \([0-9]*\).*/\1/p')
    got=$(dr_field "$1" applied_seq)
    close_to "$got" "$target" && return 0
    sleep 0.05
  done
  dr_fail "node $1 does not follow node $2: applied ${got:-?}, $2 at ${target:-?}"
}
load() {  # NAME TARGET SECONDS
  "$loadgen" --target "$2" --rate 150 --duration "$3" --agents 30 --talk-ms 50 --settle-s 15 \
    --json >"$work/$1.json" 2>"$work/$1.err" &
  LOAD=$!
  for _ in $(seq 600); do grep -qs "load starts" "$work/$1.err" && break; sleep 0.05; done
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_dr_node d primary
wait_log d "pair primary with epoch 1" 10
wait_log a "dr: DR follower caught up" 10
start_dr_node e standby
wait_log d "pair standby caught up" 10
dr_json e | grep -q '"role": "standby"' || dr_fail "e is not the pair's standby: $(dr_json e)"
etcd_value /acd-test/dr-epoch | grep -q '"dr-d"' || dr_fail "the pair's key: $(etcd_value /acd-test/dr-epoch)"
etcd_value /acd-test/epoch | grep -q '"node-a"' || dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"

# 1. Under load, d passes a's log on to e.
load load1 "127.0.0.1:$PORT_a" 3
sleep 1.5
echo "under load: d's standby $(dr_field d pair_standby_lag_records) records behind, d $(dr_field d rpo_records) behind a"
wait "$LOAD" || dr_fail "the load failed: $(cat "$work/load1.err")"
expect_every_call_routed "$work/load1.json" || dr_fail "calls lost with the DR pair following"
follows e a
target=$(last_a)
checks=$(ha_json e | sed -n 's/^ *"hash_checks": \([0-9]*\).*/\1/p')
bad=$(ha_json e | sed -n 's/^ *"hash_mismatches": \([0-9]*\).*/\1/p')
[ -n "$checks" ] && [ "$checks" -gt 0 ] && [ "$bad" = 0 ] ||
  dr_fail "e checked $checks state hashes of a's, $bad differed"
dr_json d | grep -q '"pair_standby": "caught-up"' || dr_fail "d's status lacks its standby: $(dr_json d)"
lag=$(dr_field d pair_standby_lag_records)
echo "d's standby lag after the load: $lag records"
[ -n "$lag" ] && [ "$lag" -le 20 ] || dr_fail "d shows e $lag records behind"
echo "ok: e applied $(dr_field e applied_seq) (a at $target), $checks state hashes checked on e"

# 2. d dies while following, under load: e follows a itself.
load load2 "127.0.0.1:$PORT_a" 4
sleep 1
kill -9 "$PID_d"
killed=$(date +%s.%N)
wait "$PID_d" 2>/dev/null || true
PID_d=
for _ in $(seq 200); do dr_json e | grep -q '"active_connected": true' && break; sleep 0.02; done
following=$(date +%s.%N)
wait_log e "pair primary with epoch 2" 10
wait "$LOAD" || dr_fail "the load failed: $(cat "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || dr_fail "calls lost while the DR pair changed"
for _ in $(seq 100); do dr_json e | grep -q '"role": "following"' && break; sleep 0.1; done
dr_json e | grep -q '"active_connected": true' || dr_fail "e does not follow a: $(dr_json e)"
follows e a
etcd_value /acd-test/dr-epoch | grep -q '"dr-e"' || dr_fail "the pair's key: $(etcd_value /acd-test/dr-epoch)"
"$acdctl" --socket "$work/a/ctl.sock" dr history | grep -q "sending the records it lacks" ||
  dr_fail "a did not send e the records it lacked: $("$acdctl" --socket "$work/a/ctl.sock" dr history)"
echo "ok: d killed; e follows a at $(dr_field e applied_seq), connected to a $(echo "$following - $killed" | bc) s after the kill"

# 3. d comes back: it is e's standby now. e logs it caught up once the image is sent; d holds
# e's state once it has installed the image and applied what followed.
start_dr_node d primary
wait_log e "pair standby caught up" 10
dr_json d | grep -q '"role": "standby"' || dr_fail "d is not the pair's standby: $(dr_json d)"
follows d e

# 4. The active site dies; the DR pair's primary takes over, its standby follows it.
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
for _ in $(seq 100); do
  dr_json e | grep -q '"active_connected": false' && break
  sleep 0.05
done
"$acdctl" --socket "$work/e/ctl.sock" dr failover >"$work/failover.out" 2>&1 ||
  dr_fail "dr failover failed: $(cat "$work/failover.out")"
cat "$work/failover.out"
wait_log e "dr: site demo-dr is the active site with epoch 2" 5
etcd_value /acd-test/epoch | grep -q '"holder":"demo-dr.took-' || dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"
for _ in $(seq 100); do ha_json e | grep -q '"role": "primary"' && break; sleep 0.05; done
ha_json e | grep -q '"role": "primary"' || dr_fail "e does not route with d as its standby: $(ha_json e)"
load load3 "127.0.0.1:$PORT_e" 2
wait "$LOAD" || dr_fail "load against e failed: $(cat "$work/load3.err")"
expect_every_call_routed "$work/load3.json" || dr_fail "e does not route every call"
follows d e
last_e=$(ha_json e | sed -n 's/^ *"last_seq": \([0-9]*\).*/\1/p')
echo "ok: e took over and routes; d follows it at $(dr_field d applied_seq) (e at $last_e)"

# 5. e dies: d takes the centre's next epoch and routes.
kill -9 "$PID_e"
wait "$PID_e" 2>/dev/null || true
PID_e=
wait_log d "dr: site demo-dr is the active site with epoch 3" 10
etcd_value /acd-test/epoch | grep -q '"epoch":3,"holder":"demo-dr"' ||
  dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"
load load4 "127.0.0.1:$PORT_d" 2
wait "$LOAD" || dr_fail "load against d failed: $(cat "$work/load4.err")"
expect_every_call_routed "$work/load4.json" || dr_fail "d does not route every call"
echo "ok: the DR pair: forwarding, a standby following in its primary's place, takeover by the pair"
