#!/usr/bin/env bash
# A planned switchover between two full pairs and back, with real processes (the active site's
# pair a+b, the DR site's pair d+e, etcd, acd-loadgen knowing the active and the DR primary):
# 1. a routes with b as its synchronous standby; d (the DR primary) follows a and passes the log
#    on to e. Under a load the agents cannot keep up with (callers queue), `acdctl dr switchover`
#    on a drains and hands the centre's epoch to site demo-dr: d takes over at RPO 0 and routes
#    with e as its synchronous standby (e keeps following d). Every call routed exactly once,
#    no two nodes emitting for one epoch, the callers queued at a are served in their order at d
#    (tests/ha/queue_order.py), RTO (from the command to d routing) measured and printed;
# 2. a, stopped by its hand-over, starts again: it follows d as its DR site and passes the log on
#    to b, which follows a as its pair's standby (the old active pair follows the new active site);
# 3. under a new load, `acdctl dr switchback` on d hands the centre back: a routes again with b as
#    its synchronous standby, every call of the load routed exactly once.
# Usage: dr_pair_switchover_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
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

# The DR pair d+e (its own key), each serving the old active site once the DR site took over;
# a and b know both DR nodes' ACDP and replication addresses.
read -r DRS_d DRS_e < <(free_loopback_ports 2)
sed -i "s|^role = \"dr\"$|role = \"dr\"\nreplication_listen = \"127.0.0.1:$DRS_d\"|" "$work/d/acd.toml"
dr_pair_setup
for n in a b; do
  sed -i "s|^dataplane = \\[\"127.0.0.1:$PORT_d\"\\]|dataplane = [\"127.0.0.1:$PORT_d\", \"127.0.0.1:$PORT_e\"]\nreplication = [\"127.0.0.1:$DRS_d\", \"127.0.0.1:$DRS_e\"]|" \
    "$work/$n/acd.toml"
  grep -q "^replication = \\[\"127.0.0.1:$DRS_d\"" "$work/$n/acd.toml" || dr_fail "node $n's file"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || dr_fail "node $n's configuration"
done

ha_field() {  # N NAME
  ha_json "$1" 2>/dev/null | sed -n "s/^ *\"$2\": \([0-9]*\).*/\1/p"
}
close_to() {  # ACTUAL TARGET
  [ -n "$1" ] && [ -n "$2" ] && [ "$1" -ge $(($2 - 20)) ]
}
# Polls (up to 10 s) until node FOLLOWER's applied seq (FIELD of its dr or ha status) reaches the
# last seq of node PRIMARY within a few timer records.
follows() {  # FOLLOWER KIND FIELD PRIMARY
  local got target
  for _ in $(seq 200); do
    target=$(ha_field "$4" last_seq)
    if [ "$2" = dr ]; then got=$(dr_field "$1" "$3"); else got=$(ha_field "$1" "$3"); fi
    close_to "$got" "$target" && return 0
    sleep 0.05
  done
  dr_fail "node $1 does not follow node $4: at ${got:-?}, $4 at ${target:-?}"
}
now() { date +%s.%N; }
# acd-loadgen follows NotPrimary between two addresses: the routing primary and the DR primary.
site_ad="127.0.0.1:$PORT_a,127.0.0.1:$PORT_d"
load_started() {  # NAME PID
  for _ in $(seq 600); do
    grep -qs "load starts" "$work/$1.err" && return 0
    kill -0 "$2" 2>/dev/null || dr_fail "acd-loadgen stopped: $(cat "$work/$1.err")"
    sleep 0.05
  done
  dr_fail "the load $1 did not start"
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
start_dr_node d primary
start_dr_node e standby
wait_log a "standby synchronous"
wait_log d "pair primary with epoch 1" 10
wait_log a "dr: DR follower caught up" 10
wait_log d "pair standby caught up" 10

# 1. The switchover under load: more calls than the agents take, so callers queue at a. Calls
#    talk 500 ms: the queue drains slowly enough that many of a's waiting callers still wait when
#    d routes (d starts routing within a few ms of its takeover), and d is the one that serves them.
"$loadgen" --target "$site_ad" --rate 200 --duration 3 --agents 30 --talk-ms 500 --settle-s 20 \
  --routed-order "$work/routed_order" --json >"$work/load1.json" 2>"$work/load1.err" &
load=$!
load_started load1 "$load"
sleep 1
"$acdctl" --socket "$work/a/ctl.sock" --json calls list >"$work/queued_at_a.json"
asked=$(now)
"$acdctl" --socket "$work/a/ctl.sock" dr switchover >"$work/switch.out" 2>&1 ||
  dr_fail "dr switchover failed: $(cat "$work/switch.out")"
handed=$(now)
cat "$work/switch.out"
wait_log d "dr: site demo-dr is the active site with epoch 2" 10
routing=$(now)
"$acdctl" --socket "$work/d/ctl.sock" --json calls list >"$work/queued_at_d.json"
# 2. (While the load goes on at d.) a stopped at its hand-over (exit 3); b lost the swap and
#    stays a standby. a starts again: it follows d as its DR site, and b follows a.
for _ in $(seq 100); do kill -0 "$PID_a" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID_a" 2>/dev/null && dr_fail "the old primary still runs"
wait "$PID_a" 2>/dev/null && dr_fail "the old primary exited 0" || true
PID_a=
ha_json b | grep -q '"role": "standby"' || dr_fail "b is not a standby: $(ha_json b)"
start_node a primary
wait_log a "following it as its DR site" 10
for _ in $(seq 200); do dr_json d | grep -q '"follower": "caught-up"' && break; sleep 0.05; done
dr_json d | grep -q '"follower": "caught-up"' || dr_fail "a did not catch up with d: $(dr_json d)"
wait "$load" || dr_fail "the load failed: $(cat "$work/load1.json" "$work/load1.err")"
expect_every_call_routed "$work/load1.json" || dr_fail "calls lost or doubled across the switchover"
python3 "$here/queue_order.py" "$work/queued_at_a.json" "$work/routed_order" \
  --still-queued "$work/queued_at_d.json" --min-queued 20 --min-kept 10 ||
  dr_fail "the callers queued at the active site were not served in their order at the DR site"
[ "$(loadgen_field "$work/load1.json" epoch_conflicts)" = 0 ] || dr_fail "two nodes emitted for one epoch"
[ "$(dr_field d takeover_estimated_loss_records)" = 0 ] || dr_fail "d lacks records: $(dr_json d)"
grep -q "switchover at RPO 0" "$work/d/err" || dr_fail "d took over otherwise than by the hand-over"
etcd_value /acd-test/epoch | grep -q '"epoch":2,"holder":"demo-dr.at-' ||
  dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"
# d routes with e as its synchronous standby, e applying what d logs.
for _ in $(seq 100); do ha_json d | grep -q '"role": "primary"' && break; sleep 0.05; done
ha_json d | grep -q '"role": "primary"' || dr_fail "e is not d's synchronous standby: $(ha_json d)"
follows e dr applied_seq d
rto=$(echo "$routing - $asked" | bc)
echo "ok: switchover to the DR pair under load, nothing lost; drain and hand-over $(echo "$handed - $asked" | bc) s, RTO (command to the DR primary routing) $rto s; e follows d at $(dr_field e applied_seq)"

follows a dr applied_seq d
follows b ha last_seq d
echo "ok: the old active pair follows the DR site: a at $(dr_field a applied_seq), b at $(ha_field b last_seq), d at $(ha_field d last_seq)"

# 3. The switchback under load: service returns to a, with b as its synchronous standby.
"$loadgen" --target "$site_ad" --rate 150 --duration 3 --agents 30 --talk-ms 50 --settle-s 20 \
  --json >"$work/load2.json" 2>"$work/load2.err" &
load=$!
load_started load2 "$load"
sleep 1
asked=$(now)
"$acdctl" --socket "$work/d/ctl.sock" dr switchback >"$work/back.out" 2>&1 ||
  dr_fail "dr switchback failed: $(cat "$work/back.out")"
cat "$work/back.out"
wait_log a "dr: site demo-1 is the active site with epoch 3" 10
back_rto=$(echo "$(now) - $asked" | bc)
wait "$load" || dr_fail "the load failed: $(cat "$work/load2.json" "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || dr_fail "calls lost or doubled across the switchback"
[ "$(loadgen_field "$work/load2.json" epoch_conflicts)" = 0 ] || dr_fail "two nodes emitted for one epoch"
etcd_value /acd-test/epoch | grep -q '"epoch":3,"holder":"demo-1.at-' ||
  dr_fail "the centre's key: $(etcd_value /acd-test/epoch)"
for _ in $(seq 100); do ha_json a | grep -q '"role": "primary"' && break; sleep 0.05; done
ha_json a | grep -q '"role": "primary"' || dr_fail "b is not a's synchronous standby: $(ha_json a)"
follows b ha last_seq a
echo "ok: switchback to the first site under load, nothing lost; RTO $back_rto s; b follows a at $(ha_field b last_seq)"
echo "RTO switchover $rto s, switchback $back_rto s"
