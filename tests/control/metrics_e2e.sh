#!/usr/bin/env bash
# The live metrics endpoint of a real acdd: served over HTTP, counts the calls a load generator sent,
# passes `promtool check metrics`, and the shipped alert rules pass `promtool check rules`; a single
# node with a [journal] shows role single and its journal (durable past the load, not failed); in
# split mode, without a journal, the rings between the cores are measured (each has held something)
# and no journal families appear. acdd stops with status 0.
# Usage: metrics_e2e.sh ACDD LOADGEN RULES DEFAULT_CONFIG ACDCTL
set -euo pipefail
acdd=$1 loadgen=$2 rules=$3 default_config=$4 acdctl=$5
source "$(dirname "$0")/../require.sh"
require_tools promtool
work=$(mktemp -d)
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
# The embedded demo centre (the same file) with a journal; from a file it needs its credentials.
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" "$default_config" >"$work/acd.toml"
printf '\n[journal]\ndir = "%s"\nsnapshot_every_s = 1\n' "$work/journal" >>"$work/acd.toml"
for id in $(seq 1000 1019); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
"$acdd" --config "$work/acd.toml" --listen 127.0.0.1:0 --port-file "$work/port" \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
mport=$(cat "$work/port.metrics")
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 500 --duration 1 --agents 20 >/dev/null
sleep 0.3
get() {  # get PATH -> body in $work/body, status line in $work/status
  exec 3<>"/dev/tcp/127.0.0.1/$mport"
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1" >&3
  cat <&3 >"$work/response"
  exec 3<&-
  head -1 "$work/response" >"$work/status"
  sed '1,/^\r$/d' "$work/response" >"$work/body"
}
# positive METRIC: the sample named METRIC (name and labels, as written) exists and is above zero.
positive() {
  awk -v m="$1" '$1 == m { found = 1; if ($2 + 0 > 0) ok = 1 } END { exit !(found && ok) }' \
    "$work/body" || { echo "FAIL: $1 should be above zero: $(grep -F "$1" "$work/body")"; exit 1; }
}
# value METRIC: the value of the sample named METRIC (name and labels, as written); fails if absent.
value() {
  awk -v m="$1" '$1 == m { print $2 + 0; found = 1 } END { exit !found }' "$work/body" ||
    { echo "FAIL: no sample $1"; exit 1; }
}
# stop: SIGTERM; acdd must exit with status 0.
stop() {
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" = 0 ] || { echo "FAIL: acdd exited with status $rc on SIGTERM"; cat "$work/err"; exit 1; }
}
get /metrics
grep -q "200 OK" "$work/status"
# prometheus-cpp writes values in fixed notation (500.000000).
grep -Eq '^acd_queue_offered_total\{queue="general"\} 500(\.0+)?$' "$work/body" || { grep offered "$work/body"; exit 1; }
grep -Eq '^acd_agents\{state="Ready"\} 20(\.0+)?$' "$work/body"
positive acd_decision_latency_seconds_count
# The longest input is measured, and at least the mean input (sum / count).
positive 'acd_engine_longest_input_seconds{kind="request"}'
awk -v longest="$(value 'acd_engine_longest_input_seconds{kind="request"}')" \
  -v sum="$(value acd_decision_latency_seconds_sum)" -v n="$(value acd_decision_latency_seconds_count)" \
  'BEGIN { exit !(longest >= sum / n) }' || { echo "FAIL: the longest input is shorter than the mean"; exit 1; }
positive 'acd_dataplane_rx_datagrams_total{core="0"}'
# The journal's node image (one a second here) is a command the engine runs: measured, and the
# longest command at least as long as the mean.
for _ in $(seq 50); do
  awk '$1 == "acd_engine_command_seconds_count" && $2 + 0 > 0 { f = 1 } END { exit !f }' \
    "$work/body" && break
  sleep 0.1
  get /metrics
done
positive acd_engine_command_seconds_count
positive 'acd_engine_longest_input_seconds{kind="command"}'
awk -v longest="$(value 'acd_engine_longest_input_seconds{kind="command"}')" \
  -v sum="$(value acd_engine_command_seconds_sum)" -v n="$(value acd_engine_command_seconds_count)" \
  'BEGIN { exit !(longest >= sum / n) }' || { echo "FAIL: the longest command is shorter than the mean"; exit 1; }
# A node without [ha]: role single, and every other role listed at 0.
[ "$(value 'acd_ha_role{role="single"}')" = 1 ] || { echo "FAIL: role single should be 1"; exit 1; }
for role in standby primary primary-alone fenced out-of-service stepped-down; do
  [ "$(value "acd_ha_role{role=\"$role\"}")" = 0 ] || { echo "FAIL: role $role should be 0"; exit 1; }
done
[ "$(value acd_ha_lag_entries)" = 0 ] || { echo "FAIL: a single node has no standby lag"; exit 1; }
grep -q '^acd_replication_' "$work/body" && { echo "FAIL: link counters without a link"; exit 1; }
# The journal took the load: records durable, group commits counted, nothing failed.
positive acd_journal_durable_seq
positive acd_journal_records_total
positive acd_journal_group_commits_total
positive acd_journal_bytes_total
[ "$(value acd_journal_failed)" = 0 ] || { echo "FAIL: journal failed"; exit 1; }
[ "$(value acd_journal_errors_total)" = 0 ] || { echo "FAIL: journal errors"; exit 1; }
if grep -qi "call_id\|demo-" "$work/body"; then echo "customer data in metrics"; exit 1; fi
promtool check metrics <"$work/body"
promtool check rules "$rules"
promtool test rules "$(dirname "$0")/data/acd_alerts_test.yml"  # the HA, journal, security and audit alerts
grep -q '^acd_dataplane_ring_occupancy' "$work/body" && { echo "ring gauges in one-core mode"; exit 1; }
get /nothing
grep -q "404" "$work/status"
stop
# Split mode (IO and routing on two cores): the rings between them are measured.
rm -f "$work/port" "$work/port.metrics"
"$acdd" --listen 127.0.0.1:0 --cores 0,1 --port-file "$work/port" --control-socket "$work/ctl.sock" \
  --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
mport=$(cat "$work/port.metrics")
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 2000 --duration 1 --agents 20 >/dev/null
get /metrics
grep -Eq '^acd_dataplane_ring_capacity\{ring="to_router"\} 8192(\.0+)?$' "$work/body"
grep -Eq '^acd_dataplane_ring_capacity\{ring="to_io"\} 32768(\.0+)?$' "$work/body"
grep -q '^acd_dataplane_ring_occupancy{ring="to_router"} [0-9]' "$work/body"
grep -q '^acd_dataplane_ring_occupancy{ring="to_io"} [0-9]' "$work/body"
positive 'acd_dataplane_ring_high_water{ring="to_router"}'
positive 'acd_dataplane_ring_high_water{ring="to_io"}'
[ "$(value 'acd_ha_role{role="single"}')" = 1 ] || { echo "FAIL: role single should be 1"; exit 1; }
grep -q '^acd_journal_' "$work/body" && { echo "FAIL: journal families without a journal"; exit 1; }
promtool check metrics <"$work/body"
stop
echo "ok: metrics"
