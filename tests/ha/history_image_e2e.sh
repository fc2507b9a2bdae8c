#!/usr/bin/env bash
# History on a standby begun from its primary's image, end to end: a new standby joins in the
# middle of a busy run; its journal is begun again from the primary's node image, whose snapshot
# carries the primary's history deriver's state at the image's seq. The standby's history crosses
# that gap with the state, then it is promoted.
# 1. The primary restarts after a first load (so a standby that joins later is sent an image,
#    not records from the start), and keeps taking calls (talk times of ~0.4 s: calls and agent
#    states are open whenever the image is taken). A fresh standby (empty journal and history
#    database) joins during that load: the primary sends it an image carrying the deriver's state
#    (acd_dataplane_images_with_history_total), and b's history crosses the gap with it
#    (acd_history_gaps_with_state_total 1, its log says so).
# 2. For every input after the image, b's records equal a's (IDs and every column of the four
#    tables): the calls and agent states open across the image are complete on b.
#    b copies a's records of the inputs before the image over the link (frames HistoryFetch and
#    HistoryRows, in chunks): then b's four tables equal a's for EVERY input up to the last both
#    stored, the first load (before a's restart) included.
# 3. The primary dies; b is promoted. b's history over the whole day, as the reports `acdctl
#    report calls|intervals|queues|agents` show it, equals the old primary's (the same inputs:
#    1 up to the last input both stored). Then b takes calls of its own and derives them.
# Usage: history_image_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/history_lib.sh"
require_tools sqlite3 curl
work=$(mktemp -d)
LOAD_PID=
trap 'kill ${LOAD_PID:-} 2>/dev/null || true; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
for n in a b; do
  cat >>"$work/$n/acd.toml" <<EOF

[history]
enabled = true
path = "$work/$n/history.db"
checkpoint_every_s = 1
interval_seconds = 1
EOF
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done

last_seq() { db_field "$1" "SELECT value FROM meta WHERE key = 'last_seq'"; }
tables="calls agent_states queue_intervals agent_intervals"

PAIR_CLOCK_SHIFT_a=1000 start_node a primary
wait_log a "ha: primary with epoch 1"
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 2 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load0.json" 2>"$work/load0.err" ||
  pair_fail "the first load failed: $(cat "$work/load0.json" "$work/load0.err")"
expect_every_call_routed "$work/load0.json" || pair_fail "calls lost in the first load"
# a restarts: a standby joining after this is not sent a's log from its start, but an image.
kill -TERM "$PID_a"
wait "$PID_a" || pair_fail "a did not stop cleanly"
mv "$work/a/out" "$work/a/out.0"; mv "$work/a/err" "$work/a/err.0"
# Down for 3 s. a's first run had a steady clock 1000 s ahead (as if on another machine): the
# restarted a continues the log's time line where it stopped, so the log's time moved 3 s against
# the wall clock, and reports of the first load map through a's clock point from before the
# restart (a standby without it would place those calls 3 s late).
sleep 3
start_node a primary
wait_log a "metrics on" 10
wait_log a "ha: primary with epoch" 10

# 1. Calls through a; a fresh standby joins in the middle of them.
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 100 --duration 6 --agents 30 \
  --talk-ms 400 --settle-s 15 --json >"$work/load1.json" 2>"$work/load1.err" &
LOAD_PID=$!
sleep 3
start_node b standby
wait_log a "standby at seq 0, ours [0-9]+: sending an image" 10
wait_log a "standby synchronous" 20
wait "$LOAD_PID" || pair_fail "the load failed: $(cat "$work/load1.json" "$work/load1.err")"
LOAD_PID=
expect_every_call_routed "$work/load1.json" || pair_fail "calls lost while the standby joined"
wait_log b "history: gap: .* continuing from the snapshot at seq [0-9]+, and its deriver state is restored" 20
image=$(grep -o "continuing from the snapshot at seq [0-9]*" "$work/b/err" | tail -1 | awk '{print $NF}')
[ "$(metric b acd_history_gaps_with_state_total)" = 1 ] || pair_fail "b's gap was not crossed with a state"
with=$(metric a acd_dataplane_images_with_history_total)
[ -n "$with" ] && [ "$with" -ge 1 ] || pair_fail "a's images carry no history state ($with)"
echo "ok: b joined from a's image at seq $image, which carried a's deriver state ($with images with it)"

# 2. Both caught up (the log goes on with ticks): b's records equal a's for every input after the
#    image, up to the last input both have stored.
for _ in $(seq 200); do
  [ "$(metric a acd_history_lag_seq)" = 0 ] && [ "$(metric b acd_history_lag_seq)" = 0 ] && break
  sleep 0.1
done
sleep 1.5
cut=$(last_seq a) cut_b=$(last_seq b)
[ "$cut_b" -lt "$cut" ] && cut=$cut_b
for t in $tables; do
  for n in a b; do
    db_field $n "SELECT * FROM $t WHERE seq > $image AND seq <= $cut ORDER BY seq, idx" >"$work/$n.$t"
  done
  cmp -s "$work/a.$t" "$work/b.$t" ||
    pair_fail "$t after the image differ: $(diff "$work/a.$t" "$work/b.$t" | head -5)"
done
# Open across the image: calls recorded after it that arrived before its time, agent state
# spans that began before it (the image's time: the first decision time b's deriver saw after it
# is not known here; a's record of the last call closed at or before the image bounds it below).
image_time=$(db_field a "SELECT max(ended) FROM calls WHERE seq <= $image")
open_calls=$(db_field a "SELECT count(*) FROM calls WHERE seq > $image AND arrived < $image_time")
open_states=$(db_field a "SELECT count(*) FROM agent_states WHERE seq > $image AND start < $image_time")
[ "$open_calls" -ge 1 ] && [ "$open_states" -ge 1 ] ||
  pair_fail "nothing was open across the image ($open_calls calls, $open_states agent states)"
echo "ok: b's records after the image equal a's up to seq $cut ($(wc -l <"$work/a.calls") calls," \
     "$(wc -l <"$work/a.agent_states") agent states; $open_calls calls and $open_states agent" \
     "states open across the image)"

# b's copy of a's records before the image: asked at the gap, done in chunks.
wait_log b "history: asking the primary for its records of inputs 1\.\.$image" 5
wait_log b "history: copied the primary's records of inputs 1\.\.$image" 20
chunks=$(metric b acd_history_fetch_chunks_total)
served=$(metric a acd_history_fetch_chunks_served_total)
[ "$(metric b acd_history_fetch_refused_total)" = 0 ] || pair_fail "b refused answers of a"
for t in $tables; do
  for n in a b; do
    db_field $n "SELECT * FROM $t WHERE seq <= $cut ORDER BY seq, idx" >"$work/$n.all.$t"
  done
  cmp -s "$work/a.all.$t" "$work/b.all.$t" ||
    pair_fail "$t of the whole day differ: $(diff "$work/a.all.$t" "$work/b.all.$t" | head -5)"
done
before_image=$(db_field b "SELECT count(*) FROM calls WHERE seq <= $image")
[ "$before_image" -ge 100 ] || pair_fail "only $before_image calls before the image"
echo "ok: b copied a's records of inputs 1..$image ($(metric b acd_history_fetch_records_total)" \
     "records, $before_image calls; $chunks chunks stored, $served served); b's four tables" \
     "equal a's for every input up to seq $cut"

# 3. a dies; b is promoted; its reports over the whole day equal a's.
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
wait_log b "promoted: won epoch [0-9]+" 10
sleep 1.5  # b's history commits what its promotion logged
for n in a b; do
  sqlite3 "$work/$n/history.db" ".backup '$work/$n.own.db'"
  sqlite3 "$work/$n.own.db" "DELETE FROM calls WHERE seq > $cut"
done
same_calls_own_clocks "$work/a.own.db" "$work/b.own.db" "$work/b/acd.toml"
for n in a b; do
  sqlite3 "$work/$n/history.db" ".backup '$work/$n.day.db'"
  # The same inputs on both (a stopped at its last commit, b went on after it); for an exact
  # comparison the clock points (each node notes its own once live) are a's on both.
  sqlite3 "$work/$n.day.db" "DELETE FROM calls WHERE seq > $cut;
    DELETE FROM agent_states WHERE seq > $cut; DELETE FROM queue_intervals WHERE seq > $cut;
    DELETE FROM agent_intervals WHERE seq > $cut; DELETE FROM clock;
    ATTACH '$work/a/history.db' AS a; INSERT INTO clock SELECT * FROM a.clock;"
done
compare_reports "$work/a.day.db" "$work/b.day.db" "$work/b/acd.toml" 3
first=$(head -2 "$work/b.day.db.report.calls" | tail -1 | cut -d, -f1-3)
copied=$(db_field b "SELECT count(*) FROM calls WHERE seq <= $image")
echo "ok: after the failover b's reports (calls, intervals, queues, agents) over the whole day" \
     "(inputs 1..$cut, the image at $image, $copied calls before it; first call: $first)" \
     "equal the old primary's"

# b goes on alone: its own calls are derived.
before=$(db_field b "SELECT count(*) FROM calls")
"$loadgen" --target "127.0.0.1:$PORT_b" --rate 100 --duration 1 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load2.json" 2>"$work/load2.err" ||
  pair_fail "the load through b failed: $(cat "$work/load2.json" "$work/load2.err")"
expect_every_call_routed "$work/load2.json" || pair_fail "calls lost through b"
sent=$(loadgen_field "$work/load2.json" sent)
for _ in $(seq 100); do
  after=$(db_field b "SELECT count(*) FROM calls")
  [ $((after - before)) -ge "$sent" ] && break
  sleep 0.1
done
[ $((after - before)) -ge "$sent" ] || pair_fail "b stored $((after - before)) call records of $sent calls"
echo "ok: the promoted b derived its own $sent calls"
