#!/usr/bin/env bash
# History on a DR follower begun from the active site's image, end to end: the DR node copies the
# active primary's records of the inputs before its image over the DR link, as a pair's standby
# does over the pair's link, so after a DR failover the day's reports are the old site's.
# 1. The active primary a (alone) takes a first load and restarts, so that a DR follower joining
#    later is sent an image, not records from the start. A fresh DR node d (empty journal and
#    history database) joins during a second load: a sends it an image carrying a's deriver state
#    and d's history crosses the gap with it.
# 2. d asks a for its records of the inputs before the image over the DR link (frames
#    HistoryFetch and HistoryRows, in chunks, answered by a's history thread); then d's four tables
#    equal a's for every input up to the last both stored, the first load included.
# 3. The active site dies; `acdctl dr failover` on d. d's reports over the whole day (`acdctl
#    report calls|intervals|queues|agents`) equal the old primary's.
# Usage: dr_history_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
source "$here/dr_lib.sh"
source "$here/history_lib.sh"
require_tools sqlite3 curl
work=$(mktemp -d)
LOAD_PID=
trap 'kill ${LOAD_PID:-} 2>/dev/null || true; stop_dr; stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_SEALED=0
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
dr_setup
for n in a d; do
  cat >>"$work/$n/acd.toml" <<EOF

[history]
enabled = true
path = "$work/$n/history.db"
checkpoint_every_s = 1
interval_seconds = 1
EOF
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || dr_fail "node $n's configuration"
done

last_seq() { db_field "$1" "SELECT value FROM meta WHERE key = 'last_seq'"; }
tables="calls agent_states queue_intervals agent_intervals"

# 1. a alone; a first load; a restarts.
PAIR_CLOCK_SHIFT_a=1000 start_node a primary
wait_log a "ha: primary with epoch 1"
"$loadgen" --target "127.0.0.1:$PORT_a" --rate 200 --duration 2 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load0.json" 2>"$work/load0.err" ||
  dr_fail "the first load failed: $(cat "$work/load0.json" "$work/load0.err")"
expect_every_call_routed "$work/load0.json" || dr_fail "calls lost in the first load"
kill -TERM "$PID_a"
wait "$PID_a" || dr_fail "a did not stop cleanly"
mv "$work/a/out" "$work/a/out.0"; mv "$work/a/err" "$work/a/err.0"
# Down for 3 s. a's first run had a steady clock 1000 s ahead (as if on another machine): the
# restarted a continues the log's time line where it stopped, so the log's time moved 3 s against
# the wall clock, and reports of the first load map through a's clock point from before the
# restart (a standby without it would place those calls 3 s late).
sleep 3
start_node a primary
wait_log a "metrics on" 10
wait_log a "ha: primary with epoch" 10

# A second load; the DR node joins in the middle of it.
"$loadgen" --target "127.0.0.1:$PORT_a" --rate 100 --duration 6 --agents 30 \
  --talk-ms 400 --settle-s 15 --json >"$work/load1.json" 2>"$work/load1.err" &
LOAD_PID=$!
sleep 3
start_dr
wait_log a "dr: follower at seq 0, ours [0-9]+: sending an image" 10
wait_log a "dr: DR follower caught up" 20
wait "$LOAD_PID" || dr_fail "the load failed: $(cat "$work/load1.json" "$work/load1.err")"
LOAD_PID=
expect_every_call_routed "$work/load1.json" || dr_fail "calls lost while the DR node joined"
wait_log d "history: gap: .* continuing from the snapshot at seq [0-9]+, and its deriver state is restored" 20
image=$(grep -o "continuing from the snapshot at seq [0-9]*" "$work/d/err" | tail -1 | awk '{print $NF}')
[ "$(metric d acd_history_gaps_with_state_total)" = 1 ] || dr_fail "d's gap was not crossed with a state"
echo "ok: d joined from a's image at seq $image, with a's deriver state"

# 2. d copies a's records of the inputs before the image over the DR link.
wait_log d "history: asking the primary for its records of inputs 1\.\.$image" 5
wait_log d "history: copied the primary's records of inputs 1\.\.$image" 30
[ "$(metric d acd_history_fetch_refused_total)" = 0 ] || dr_fail "d refused answers of a"
served=$(metric a acd_history_fetch_chunks_served_total)
[ -n "$served" ] && [ "$served" -ge 1 ] || dr_fail "a served no chunk ($served)"
for _ in $(seq 200); do
  [ "$(metric a acd_history_lag_seq)" = 0 ] && [ "$(metric d acd_history_lag_seq)" = 0 ] && break
  sleep 0.1
done
sleep 1.5
cut=$(last_seq a) cut_d=$(last_seq d)
[ "$cut_d" -lt "$cut" ] && cut=$cut_d
for t in $tables; do
  for n in a d; do
    db_field $n "SELECT * FROM $t WHERE seq <= $cut ORDER BY seq, idx" >"$work/$n.all.$t"
  done
  cmp -s "$work/a.all.$t" "$work/d.all.$t" ||
    dr_fail "$t of the whole day differ: $(diff "$work/a.all.$t" "$work/d.all.$t" | head -5)"
done
before_image=$(db_field d "SELECT count(*) FROM calls WHERE seq <= $image")
[ "$before_image" -ge 100 ] || dr_fail "only $before_image calls before the image on d"
echo "ok: d copied a's records of inputs 1..$image ($(metric d acd_history_fetch_records_total)" \
     "records, $before_image calls, $served chunks served); d's four tables equal a's for every" \
     "input up to seq $cut"

# 3. The active site dies; d takes over; its reports over the day equal a's, and so do today's
#    statistics (acdctl stats: the engine's own day counters, carried by the image and the log,
#    not reset by the takeover).
for w in queues agents; do
  "$acdctl" --socket "$work/a/ctl.sock" --json stats $w >"$work/a.stats.$w" ||
    dr_fail "acdctl stats $w on a"
done
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
for _ in $(seq 100); do
  dr_json d | grep -q '"active_connected": false' && break
  sleep 0.05
done
"$acdctl" --socket "$work/d/ctl.sock" dr failover >"$work/failover.out" 2>&1 ||
  dr_fail "dr failover failed: $(cat "$work/failover.out")"
wait_log d "dr: site demo-dr is the active site with epoch" 5
for w in queues agents; do
  "$acdctl" --socket "$work/d/ctl.sock" --json stats $w >"$work/d.stats.$w" ||
    dr_fail "acdctl stats $w on d"
done
python3 - "$work" <<'PY' || dr_fail "today's statistics on d differ from a's (above)"
import json, sys
work = sys.argv[1]
fields = {"queues": ["offered", "answered", "abandoned", "overflowed", "asa_s", "aht_s",
                     "service_level", "longest_wait_s"],
          "agents": ["offered", "answered", "no_answer", "transfers_out", "talk_s", "hold_s",
                     "wrap_up_s"]}
def rows(doc):
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict) and "id" in r]
    for v in doc.values():
        if isinstance(v, list):
            return rows(v)
    return []
bad = 0
for what, names in fields.items():
    a = {r["id"]: r for r in rows(json.load(open(f"{work}/a.stats.{what}")))}
    d = {r["id"]: r for r in rows(json.load(open(f"{work}/d.stats.{what}")))}
    if not a or set(a) != set(d):
        print(f"{what}: ids differ or none ({len(a)} on a, {len(d)} on d)")
        bad += 1
        continue
    total = sum(r.get("offered", 0) for r in a.values())
    if total < 100:
        print(f"{what}: only {total} offered on a")
        bad += 1
    for i in a:
        for f in names:
            if a[i].get(f) != d[i].get(f):
                print(f"{what} {i} {f}: a {a[i].get(f)}, d {d[i].get(f)}")
                bad += 1
sys.exit(1 if bad else 0)
PY
echo "ok: today's statistics (acdctl stats queues|agents) on d after the takeover equal a's"
sleep 1.5  # d's history commits what it logged since
for n in a d; do
  sqlite3 "$work/$n/history.db" ".backup '$work/$n.own.db'"
  sqlite3 "$work/$n.own.db" "DELETE FROM calls WHERE seq > $cut"
done
same_calls_own_clocks "$work/a.own.db" "$work/d.own.db" "$work/d/acd.toml"
for n in a d; do
  sqlite3 "$work/$n/history.db" ".backup '$work/$n.day.db'"
  # The same inputs on both; for an exact comparison the clock points (each node notes its own
  # once live) are a's on both.
  sqlite3 "$work/$n.day.db" "DELETE FROM calls WHERE seq > $cut;
    DELETE FROM agent_states WHERE seq > $cut; DELETE FROM queue_intervals WHERE seq > $cut;
    DELETE FROM agent_intervals WHERE seq > $cut; DELETE FROM clock;
    ATTACH '$work/a/history.db' AS a; INSERT INTO clock SELECT * FROM a.clock;"
done
compare_reports "$work/a.day.db" "$work/d.day.db" "$work/d/acd.toml" 3
echo "ok: after the DR failover d's reports (calls, intervals, queues, agents) over the whole day" \
     "(inputs 1..$cut, the image at $image) equal the old active primary's"
