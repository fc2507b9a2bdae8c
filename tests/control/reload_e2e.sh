#!/usr/bin/env bash
# Live reload under traffic: acdctl config diff / reload --dry-run / reload change queue parameters
# of a running acdd with nothing lost; a structural change and a broken file are refused and leave
# the running configuration as it was; SIGHUP reloads the file too.
# Usage: reload_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -uo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${load:-} 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ctl() { "$acdctl" --socket "$work/ctl.sock" "$@"; }
sed -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" -e "s|^credentials = .*|credentials = \"$work/none\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' \
    "$default_config" >"$work/acd.toml"
# acdd refuses a configured but missing credential file: give it one.
for id in $(seq 1000 1029); do echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/none" >/dev/null; done
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 200 --duration 4 --agents 30 --talk-ms 50 --json \
  >"$work/load.json" &
load=$!
sleep 1.5
# sl_threshold_s of the first queue (general) 20 -> 30, ring_timeout_s 20 -> 25.
sed -i '0,/^sl_threshold_s = 20/s//sl_threshold_s = 30/; 0,/^ring_timeout_s = 20/s//ring_timeout_s = 25/' "$work/acd.toml"
out=$(ctl config diff "$work/acd.toml") || fail "diff: $out"
grep -q "queue general: sl_threshold_s 20 -> 30" <<<"$out" || fail "diff did not show the change: $out"
out=$(ctl config reload --dry-run "$work/acd.toml") || fail "dry run: $out"
ctl --json queues show general | grep -q '"sl_threshold_s": 20' || fail "a dry run changed something"
out=$(ctl config reload "$work/acd.toml") || fail "reload: $out"
grep -q "reloaded: 2 change" <<<"$out" || fail "reload said: $out"
sleep 0.3
ctl --json queues show general | grep -q '"sl_threshold_s": 30' || fail "the reload did not take effect"
# A structural change needs a restart; a broken file is refused; both leave things as they are.
cp "$work/acd.toml" "$work/structural.toml"
sed -i '0,/^policy = "longest_idle"/s//policy = "round_robin"/' "$work/structural.toml"
out=$(ctl config reload "$work/structural.toml" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "need a restart of acdd: queue general: policy" <<<"$out" || fail "structural: $rc $out"
printf 'skills = [\n' >"$work/broken.toml"
out=$(ctl config reload "$work/broken.toml" 2>&1); rc=$?
[ "$rc" = 1 ] && grep -q "the running configuration is unchanged" <<<"$out" || fail "broken: $rc $out"
# SIGHUP reloads acdd's own file (back to 20 s).
sed -i '0,/^sl_threshold_s = 30/s//sl_threshold_s = 20/' "$work/acd.toml"
kill -HUP "$pid"
sleep 0.5
ctl --json queues show general | grep -q '"sl_threshold_s": 20' || fail "SIGHUP did not reload"
wait "$load" || fail "load generator failed"; load=
cat "$work/load.json"
for field in '"lost": 0,' '"duplicates": 0,' '"rejected": 0,'; do
  grep -q "$field" "$work/load.json" || fail "traffic was disturbed: expected $field"
done
kill -TERM "$pid"; wait "$pid"; pid=
grep -q "calls in engine=0" "$work/err" || fail "calls left in the engine"
echo "ok: reload under traffic"
