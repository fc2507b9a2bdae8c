#!/usr/bin/env bash
# History on a hot-standby pair, end to end: two acdd with [history] and [history.kafka] (each
# node's export goes to a librdkafka in-process mock cluster of its own), acd-loadgen calls.
# 1. Only the primary exports (acd_history_kafka_exporting 1 on a, 0 on b, nothing delivered by
#    b); the primary's export position reaches the standby through the log and is saved there.
# 2. The standby's derived records equal the primary's: same record IDs and content in the four
#    tables, for every input both have stored.
# 3. The primary dies: the standby takes over, and its export starts from the last position the
#    old primary logged (never from the beginning) and delivers the records of later calls,
#    none below that position. It starts at or below the old primary's own last saved position
#    (so no record falls between the two exports), and the records in between, which both sent,
#    are counted: the feed's duplicates after the takeover.
# 4. A restart of the standby and the failover mid-run change nothing in the day's history: b's
#    records, and its call, interval, queue and agent reports, equal those of a single node
#    deriving b's journal from the start. Intervals are 1 s long (`interval_seconds`), so the run
#    spans several and the interval reports are not empty.
# Usage: history_pair_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
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
trap 'stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
for n in a b; do
  cat >>"$work/$n/acd.toml" <<EOF

[history]
enabled = true
path = "$work/$n/history.db"
checkpoint_every_s = 1
interval_seconds = 1

[history.kafka]
brokers = ["127.0.0.1:9"]
topic_prefix = "t."
message_timeout_ms = 5000
close_timeout_ms = 1000

[history.kafka.properties]
"test.mock.num.brokers" = 1
log_level = 2
EOF
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done

# wait_metric N NAME MIN SECONDS: until NAME on N is at least MIN.
wait_metric() {
  local v i
  for i in $(seq $(($4 * 10))); do
    v=$(metric "$1" "$2")
    [ -n "$v" ] && [ "$v" -ge "$3" ] && return 0
    sleep 0.1
  done
  curl -s "http://$(metrics_of "$1")/metrics" | grep -E "^acd_history_(kafka|stored|applied)" || true
  pair_fail "$2 on $1 is '$v', wanted at least $3 within $4 s"
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 3 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load.json" 2>"$work/load.err" ||
  pair_fail "the load generator failed: $(cat "$work/load.json" "$work/load.err")"
expect_every_call_routed "$work/load.json" || pair_fail "calls lost"

# The standby restarts (killed) in the middle of the day and catches up again.
synced=$(grep -c "standby synchronous" "$work/a/out" "$work/a/err" | awk -F: '{s += $2} END {print s}')
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null || true
start_node b standby
for _ in $(seq 200); do
  now=$(grep -c "standby synchronous" "$work/a/out" "$work/a/err" | awk -F: '{s += $2} END {print s}')
  [ "$now" -gt "$synced" ] && break
  sleep 0.05
done
[ "$now" -gt "$synced" ] || pair_fail "b did not catch up after its restart"
"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 2 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load1.json" 2>"$work/load1.err" ||
  pair_fail "the load after b's restart failed: $(cat "$work/load1.json" "$work/load1.err")"
expect_every_call_routed "$work/load1.json" || pair_fail "calls lost after b's restart"
echo "ok: the standby restarted mid-run and caught up"

# 1. Only a exports; its position reaches b through the log.
wait_metric a acd_history_kafka_delivered_total 100 20
wait_metric b acd_history_kafka_log_positions_total 1 10
[ "$(metric a acd_history_kafka_exporting)" = 1 ] || pair_fail "a does not export"
[ "$(metric b acd_history_kafka_exporting)" = 0 ] || pair_fail "the standby exports"
[ "$(metric b acd_history_kafka_delivered_total)" = 0 ] || pair_fail "the standby delivered records"
for _ in $(seq 100); do
  b_pos=$(db_field b "SELECT seq FROM export_position WHERE name = 'kafka'" 2>/dev/null || true)
  [ -n "$b_pos" ] && [ "$b_pos" -gt 0 ] && break
  sleep 0.1
done
[ -n "$b_pos" ] && [ "$b_pos" -gt 0 ] || pair_fail "b saved no position of a's export"
a_pos=$(db_field a "SELECT seq FROM export_position WHERE name = 'kafka'")
[ "$b_pos" -le "$a_pos" ] || pair_fail "b's position $b_pos is ahead of a's $a_pos"
echo "ok: only the primary exports; its position (seq $b_pos, its own now $a_pos) reached the standby"

# 2. The same records on both nodes, up to the inputs both have stored.
sleep 1.5  # a checkpoint and a commit on both
cut=$(( $(db_field a "SELECT value FROM meta WHERE key = 'last_seq'") ))
cut_b=$(( $(db_field b "SELECT value FROM meta WHERE key = 'last_seq'") ))
[ "$cut_b" -lt "$cut" ] && cut=$cut_b
for t in calls agent_states queue_intervals agent_intervals; do
  for n in a b; do
    db_field $n "SELECT * FROM $t WHERE seq <= $cut ORDER BY seq, idx" >"$work/$n.$t"
  done
  cmp -s "$work/a.$t" "$work/b.$t" ||
    pair_fail "$t differ up to seq $cut: $(diff "$work/a.$t" "$work/b.$t" | head -5)"
done
calls=$(wc -l <"$work/a.calls")
[ "$calls" -ge 300 ] || pair_fail "only $calls call records up to seq $cut"
echo "ok: standby's records equal the primary's up to seq $cut ($calls calls," \
     "$(wc -l <"$work/a.agent_states") agent states)"

# 3. The primary dies; b takes over and exports from the last position a logged.
logged=$(db_field b "SELECT seq || '/' || idx FROM export_position WHERE name = 'kafka'")
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
wait_log b "promoted: won epoch [0-9]+" 5  # 3 when a swapped epochs at b's restart
wait_log b "history: kafka: exporting from" 10
line=$(grep -o "exporting from [0-9]*/[0-9]* (the log's last position [0-9]*/[0-9]*)" "$work/b/err" | tail -1)
from=$(echo "$line" | awk '{print $3}')
[ "$(metric b acd_history_kafka_exporting)" = 1 ] || pair_fail "b does not export after the takeover"
from_seq=${from%/*} from_idx=${from#*/}
logged_seq=${logged%/*}
[ "$from_seq" -ge "$logged_seq" ] || pair_fail "b exports from $from, below the position $logged it held"
# a's own last saved position (never ahead of what its brokers acknowledged): b must start at or
# below it, or the records in between would be delivered by nobody. Those in [from, a's) were
# delivered by both: the duplicates on the feed.
a_final=$(db_field a "SELECT seq || '/' || idx FROM export_position WHERE name = 'kafka'")
a_seq=${a_final%/*} a_idx=${a_final#*/}
[ "$from_seq" -lt "$a_seq" ] || { [ "$from_seq" -eq "$a_seq" ] && [ "$from_idx" -le "$a_idx" ]; } ||
  pair_fail "b exports from $from, above a's last saved position $a_final: records in between lost"
duplicates=$(db_field a "SELECT (SELECT count(*) FROM calls WHERE (seq, idx) >= ($from_seq, $from_idx)
    AND (seq, idx) < ($a_seq, $a_idx)) +
  (SELECT count(*) FROM agent_states WHERE (seq, idx) >= ($from_seq, $from_idx) AND (seq, idx) < ($a_seq, $a_idx)) +
  (SELECT count(*) FROM queue_intervals WHERE (seq, idx) >= ($from_seq, $from_idx) AND (seq, idx) < ($a_seq, $a_idx)) +
  (SELECT count(*) FROM agent_intervals WHERE (seq, idx) >= ($from_seq, $from_idx) AND (seq, idx) < ($a_seq, $a_idx))")
echo "ok: b starts at $from, a had saved $a_final: $duplicates records sent by both (the duplicates)"
# New calls through b: their records are b's to deliver.
"$loadgen" --target "127.0.0.1:$PORT_b" --rate 200 --duration 1 --agents 30 \
  --talk-ms 50 --settle-s 15 --json >"$work/load2.json" 2>"$work/load2.err" ||
  pair_fail "the second load failed: $(cat "$work/load2.json" "$work/load2.err")"
wait_metric b acd_history_kafka_delivered_total 100 20
for _ in $(seq 100); do [ "$(metric b acd_history_kafka_backlog_records)" = 0 ] && break; sleep 0.1; done
delivered=$(metric b acd_history_kafka_delivered_total)
above=$(db_field b "SELECT (SELECT count(*) FROM calls WHERE (seq, idx) >= ($from_seq, $from_idx)) +
  (SELECT count(*) FROM agent_states WHERE (seq, idx) >= ($from_seq, $from_idx)) +
  (SELECT count(*) FROM queue_intervals WHERE (seq, idx) >= ($from_seq, $from_idx)) +
  (SELECT count(*) FROM agent_intervals WHERE (seq, idx) >= ($from_seq, $from_idx))")
total=$(db_field b "SELECT (SELECT count(*) FROM calls) + (SELECT count(*) FROM agent_states) +
  (SELECT count(*) FROM queue_intervals) + (SELECT count(*) FROM agent_intervals)")
[ "$delivered" -le "$above" ] || pair_fail "b delivered $delivered records, only $above are at or above $from"
echo "ok: after the takeover b exports from $from ($line); delivered $delivered of $total records" \
     "(a had delivered up to its last logged position)"

# 4. The day's history across the failover equals a derivation without it: b stops; a single node
#    derives b's journal (a's log up to the takeover, then b's own) into a fresh database; every
#    record b stored, and the day's queue and agent reports, are the same.
b_last=$(( $(db_field b "SELECT value FROM meta WHERE key = 'last_seq'") ))
kill -TERM "$PID_b"
wait "$PID_b" || pair_fail "b did not stop cleanly"
PID_b=
b_last=$(( $(db_field b "SELECT value FROM meta WHERE key = 'last_seq'") ))
mkdir -p "$work/c"
cp -r "$work/b/journal" "$work/c/journal"
sed -e '/^\[ha\]/,$d' -e "s|$work/b/journal|$work/c/journal|" -e "s|$work/b/ctl.sock|$work/c/ctl.sock|" \
  "$work/b/acd.toml" >"$work/c/acd.toml"
printf '\n[history]\nenabled = true\npath = "%s"\ninterval_seconds = 1\n' "$work/c/history.db" >>"$work/c/acd.toml"
"$acdd" --config "$work/c/acd.toml" >"$work/c/out" 2>"$work/c/err" &
PID_a=$!  # stopped by stop_pair
wait_log c "metrics on" 10
wait_metric c acd_history_stored_seq "$b_last" 60
for t in calls agent_states queue_intervals agent_intervals; do
  for n in b c; do
    db_field $n "SELECT * FROM $t WHERE seq <= $b_last ORDER BY seq, idx" >"$work/$n.$t"
  done
  cmp -s "$work/b.$t" "$work/c.$t" ||
    pair_fail "$t across the failover differ from a derivation without it: $(diff "$work/b.$t" "$work/c.$t" | head -5)"
done
kill -TERM "$PID_a"
wait "$PID_a" || true
PID_a=
# The reports print UTC through each database's (log time, wall time) notes; c derived later, so
# it takes b's notes (when the log ran is b's to say, not the derivation's).
# c ran on after b's journal ended (its own clock closes the interval b left open): its records
# beyond b's last input are not part of the day compared.
sqlite3 "$work/c/history.db" "DELETE FROM clock; ATTACH '$work/b/history.db' AS b;
  INSERT INTO clock SELECT * FROM b.clock;
  DELETE FROM calls WHERE seq > $b_last; DELETE FROM agent_states WHERE seq > $b_last;
  DELETE FROM queue_intervals WHERE seq > $b_last; DELETE FROM agent_intervals WHERE seq > $b_last;"
# Interval rows appear when the log's time reaches an interval's end; with 1 s intervals the run
# spans several, so no report may be empty.
compare_reports "$work/b/history.db" "$work/c/history.db" "$work/c/acd.toml" 5
echo "ok: b's history across the failover equals a derivation of its journal without it" \
     "(up to seq $b_last; $(wc -l <"$work/b.calls") calls;" \
     "reports calls, intervals ($(wc -l <"$work/b/history.db.report.intervals") lines), queues and agents identical)"
