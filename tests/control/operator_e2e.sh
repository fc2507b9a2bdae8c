#!/usr/bin/env bash
# What an operator meets first, end to end: global options in either place, unknown words named,
# malformed numbers refused (never wrapped), refusals counted apart from faults, calls shown with
# the time in their state, `config diff` of acdd's own file, status in reading order; and acdd's
# start-up: a file `--check-config` passes starts, a file it refuses names file, line and key (not
# a flag), a port in use names the key it came from, the start-up line gives the bound address.
# Usage: operator_e2e.sh ACDD ACDCTL LOADGEN CREDENTIALS
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 credentials=$4
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${load:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
set +e  # expect() reads acdctl's exit status itself
until_says() {  # until_says PATTERN -- args: retries for up to 5 s (the snapshot is 100 ms old at most)
  local pattern=$1; shift 2
  for _ in $(seq 100); do
    out=$("$acdctl" --socket "$work/ctl.sock" "$@" 2>&1) && grep -q -- "$pattern" <<<"$out" && return 0
    sleep 0.05
  done
  fail "acdctl $* never said '$pattern': $out"
}

# Start-up: a configuration acdd cannot start on is refused by --check-config, naming file and key.
config=$(dirname "$0")/../../control/default/acd.toml
sed 's/^listen = "127.0.0.1:7070"/listen = "127.0.0.1:70700"/' "$config" >"$work/bad.toml"
grep -q 70700 "$work/bad.toml" || fail "the test's bad file has no bad listen address"
"$acdd" --check-config "$work/bad.toml" --credentials "$credentials" 2>"$work/err"; rc=$?
[ $rc = 2 ] || fail "--check-config passed a listen port of 70700 (exit $rc)"
grep -q 'bad.toml:[0-9]*: dataplane.listen = "127.0.0.1:70700"' "$work/err" || fail "no file:line: $(cat "$work/err")"
"$acdd" --config "$work/bad.toml" --credentials "$credentials" 2>"$work/err"; rc=$?
[ $rc = 2 ] || fail "acdd started on a listen port of 70700 (exit $rc)"
grep -q 'bad.toml:[0-9]*: dataplane.listen' "$work/err" || fail "acdd's refusal names no file and key: $(cat "$work/err")"
grep -q -- '--listen' "$work/err" && fail "acdd's refusal names a flag that was not given: $(cat "$work/err")"
# A file that passes starts; a port in use is reported against the key that set it.
sed -e 's/^listen = "127.0.0.1:7070"/listen = "127.0.0.1:0"/' -e 's/^listen = "127.0.0.1:9470"/listen = "127.0.0.1:0"/' \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" "$config" >"$work/good.toml"
"$acdd" --check-config "$work/good.toml" --credentials "$credentials" >/dev/null || fail "--check-config refused good.toml"
"$acdd" --config "$work/good.toml" --credentials "$credentials" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start on a file --check-config passed: $(cat "$work/err")"
metrics_port=$(cat "$work/port.metrics")
grep -q "metrics on http://127.0.0.1:$metrics_port/metrics" "$work/out" || fail "start-up line: $(cat "$work/out")"
port=$(cat "$work/port")
sed "s/^listen = \"127.0.0.1:0\"/listen = \"127.0.0.1:$port\"/" "$work/good.toml" | sed "s|ctl.sock|ctl2.sock|" >"$work/taken.toml"
"$acdd" --config "$work/taken.toml" --credentials "$credentials" >/dev/null 2>"$work/err"; rc=$?
[ $rc != 0 ] || fail "a second acdd started on a port in use"
grep -q "taken.toml:[0-9]*: dataplane.listen = 127.0.0.1:$port" "$work/err" || fail "port in use: $(cat "$work/err")"

# Global options after the subcommand, as before it.
expect 0 '"role"' -- status --json
expect 0 '"role"' -- --json status
expect 0 '"name": "cards"' -- queues show cards --json
# Unknown words are named; malformed numbers are usage errors, never wrapped around.
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 2 "'-5' is not a whole number" -- agents show -5
expect 2 "not a whole number" -- agents show 0x10
expect 2 "out of range" -- agents show 99999999999999999999
expect 2 "not a whole number" -- route test cards --tier -1
expect 2 "neither a queue name nor an index" -- queues show 99999999999999999999
expect 1 "no agent has ID 10$" -- agents show 010
# Status reads role and uptime first, and explains its rates.
expect 0 "" -- status
[ "$(head -1 <<<"$out" | awk '{print $1}')" = role ] || fail "status does not start with role: $out"
sed -n 2p <<<"$out" | grep -q '^site' || fail "status' second line is not the site: $out"
grep -q "engine events are every input" <<<"$out" || fail "status does not explain its rates: $out"

# Two refused supervisor commands are refusals by reason, not engine errors or faults.
expect 1 "not signed in" -- agents logout 1001
expect 1 "" -- agents ready 1001
until_says '"engine_refused": 2' -- status --json
grep -q '"engine_faults": 0' <<<"$out" || fail "refusals counted as faults: $out"
grep -q '"NotSignedIn": 2' <<<"$out" || fail "refusals not by reason: $out"
grep -q "engine_errors" <<<"$out" && fail "status still reports engine_errors: $out"
curl -s "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics"
grep -q '^acd_engine_refused_total{reason="NotSignedIn"} 2' "$work/metrics" || fail "metrics: $(grep refused "$work/metrics")"
grep -q '^acd_engine_faults_total 0' "$work/metrics" || fail "no faults counter"
grep -q '^acd_engine_tick_seconds_count' "$work/metrics" || fail "ticks are not measured apart"

# Calls show the time in their state under its own name: queued calls wait, talking calls talk.
"$loadgen" --target "127.0.0.1:$port" --rate 200 --duration 3 --agents 1 --first-agent 1001 --first-index 1 --talk-ms 2000 >/dev/null &
load=$!
until_says '"state": "talking"' -- calls --json
grep -q '"in_state_s"' <<<"$out" || fail "calls have no in_state_s: $out"
grep -q 'in_queue_s' <<<"$out" && fail "calls still say in_queue_s: $out"
until_says '"state": "queued"' -- calls --json
expect 0 "in_state_s" -- calls
# Seen both: the calls queued behind the one agent need not be served (about 2 s each).
kill $load 2>/dev/null || fail "loadgen ended before the calls were seen"
wait $load 2>/dev/null || true
load=

# config diff without a FILE compares acdd's own file, as reload does.
expect 0 "running configuration vs $work/good.toml" -- config diff
grep -q "no changes" <<<"$out" || fail "config diff of its own file: $out"

kill -TERM $pid
wait $pid; rc=$?
pid=
[ $rc = 0 ] || fail "acdd exited $rc after SIGTERM"
echo "ok: operator defects stay fixed"
