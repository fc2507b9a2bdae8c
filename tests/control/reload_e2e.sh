#!/usr/bin/env bash
# Live reload under traffic: acdctl config diff / reload --dry-run / reload change queue parameters
# of a running acdd, and structural changes too (a queue's policy, a new skill, a new queue, new
# agents who then sign in and take calls, agents removed), with nothing lost; removing a signed-in
# agent, a restart-only change and a broken file are refused and leave the running configuration as
# it was; SIGHUP reloads the file too.
# Usage: reload_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]   (CORES "0, 1": split mode)
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
source "$(dirname "$0")/../loadgen_lib.sh"
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${load:-} 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ctl() { "$acdctl" --socket "$work/ctl.sock" "$@"; }
sed -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' \
    -e "s|^cores = \\[0\\]|cores = [$cores]|" "$default_config" >"$work/acd.toml"
grep -q "^cores = \[$cores\]" "$work/acd.toml" || fail "could not set the cores"
# acdd refuses a configured but missing credential file: give it one.
for id in $(seq 1000 1029); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
target="127.0.0.1:$(cat "$work/port")"
"$loadgen" --target "$target" --rate 200 --duration 7 --agents 30 --talk-ms 50 --json >"$work/load.json" &
load=$!
sleep 1.5

# Parameters: sl_threshold_s of the first queue (general) 20 -> 30, ring_timeout_s 20 -> 25.
sed -i '0,/^sl_threshold_s = 20/s//sl_threshold_s = 30/; 0,/^ring_timeout_s = 20/s//ring_timeout_s = 25/' "$work/acd.toml"
out=$(ctl config diff "$work/acd.toml") || fail "diff: $out"
grep -q "queue general: sl_threshold_s 20 -> 30" <<<"$out" || fail "diff did not show the change: $out"
out=$(ctl config reload --dry-run "$work/acd.toml") || fail "dry run: $out"
ctl --json queues show general | grep -q '"sl_threshold_s": 20' || fail "a dry run changed something"
out=$(ctl config reload "$work/acd.toml") || fail "reload: $out"
grep -q "reloaded: 2 change" <<<"$out" || fail "reload said: $out"
ctl --json queues show general | grep -q '"sl_threshold_s": 30' || fail "the reload did not take effect"
ctl --json status | grep -q '"version": 2' || fail "the configuration version did not move"

# Restart-only changes and broken files are refused and change nothing.
cp "$work/acd.toml" "$work/restart.toml"
sed -i 's/^max_calls = 65536/max_calls = 1000/' "$work/restart.toml"
rc=0; out=$(ctl config reload "$work/restart.toml" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "need a restart of acdd: max_calls" <<<"$out" || fail "restart-only: $rc $out"
printf 'skills = [\n' >"$work/broken.toml"
rc=0; out=$(ctl config reload "$work/broken.toml" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "the running configuration is unchanged" <<<"$out" || fail "broken: $rc $out"

# Structure, under the same traffic: general goes round robin; a new skill, a new queue and five
# new agents who have it.
sed -i '0,/^policy = "longest_idle"/s//policy = "round_robin"/' "$work/acd.toml"
sed -i 's/^skills = \["general", "cards", "loans", "english", "chat"\]/skills = ["general", "cards", "loans", "english", "chat", "mortgage"]/' "$work/acd.toml"
cat >>"$work/acd.toml" <<'TOML'

[[queue]]
name = "mortgage"
skills = { mortgage = 1 }

[[agent_group]]
first_id = 1200
count = 5
skills = { general = 5, mortgage = 6 }
TOML
out=$(ctl config diff "$work/acd.toml") || fail "structural diff: $out"
for line in "queue general: policy longest_idle -> round_robin" "skill mortgage added" \
            "queue mortgage added (index 5)" "agents added: 5 (1200, 1201"; do
  grep -q -- "$line" <<<"$out" || fail "the diff did not show '$line': $out"
done
out=$(ctl config reload "$work/acd.toml") || fail "structural reload: $out"
grep -q "reloaded: 4 change" <<<"$out" || fail "structural reload said: $out"
ctl --json queues show general | grep -q '"policy": "round_robin"' || fail "the policy did not change"
ctl queues show mortgage >/dev/null || fail "the new queue is not there"
ctl --json agents show 1200 | grep -q '"state": "LoggedOut"' || fail "the new agent is not there"
# SIGHUP reloads acdd's own file (general's threshold back to 20 s).
sed -i '0,/^sl_threshold_s = 30/s//sl_threshold_s = 20/' "$work/acd.toml"
kill -HUP "$pid"
for _ in $(seq 60); do
  ctl --json queues show general | grep -q '"sl_threshold_s": 20' && break
  sleep 0.05
done
ctl --json queues show general | grep -q '"sl_threshold_s": 20' || fail "SIGHUP did not reload"
rc=0; wait "$load" || rc=$?; load=
[ "$rc" = 0 ] || fail "the load generator failed ($rc)"
cat "$work/load.json"
expect_every_call_routed "$work/load.json" || fail "the reloads disturbed the traffic"

# The new agents sign in (their passwords set after acdd started) and take the new queue's calls.
for id in $(seq 1200 1204); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
"$loadgen" --target "$target" --rate 50 --duration 1 --agents 5 --first-agent 1200 --first-index 200 \
  --queue 5 --talk-ms 10 --json >"$work/load2.json" || fail "the new agents could not work: $(cat "$work/load2.json")"
expect_every_call_routed "$work/load2.json" && [ "$(loadgen_field "$work/load2.json" sent)" = 50 ] ||
  fail "the new queue did not route: $(cat "$work/load2.json")"
out=$(ctl route test mortgage) || fail "route test: $out"
grep -q "offered to agent 120[0-4] in mortgage" <<<"$out" || fail "route test: $out"

# Removing agents: refused while one is signed in, done once they are out. (First let the load
# generator's last calls end.)
for _ in $(seq 60); do ctl --json status | grep -q '"calls_in_engine": 0' && break; sleep 0.05; done
head -n -5 "$work/acd.toml" >"$work/removed.toml"
rc=0; out=$(ctl config reload "$work/removed.toml" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "agent 120[0-4] is signed in; sign them out first" <<<"$out" || fail "signed-in removal: $rc $out"
ctl --json agents show 1200 | grep -q '"state": "LoggedOut"' && fail "a refused reload signed an agent out"
for id in $(seq 1200 1204); do ctl agents logout "$id" >/dev/null || fail "logout $id"; done
out=$(ctl config reload "$work/removed.toml") || fail "removal: $out"
grep -q "agents removed: 5" <<<"$out" || fail "removal said: $out"
rc=0; out=$(ctl agents show 1200 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "no agent has ID 1200" <<<"$out" || fail "agent 1200 still there: $rc $out"
ctl --json status | grep -q '"agents": 200,' || fail "status still counts the removed agents"

kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?; pid=
[ "$rc" = 0 ] || fail "acdd exited with status $rc on SIGTERM: $(cat "$work/err")"
grep -q "calls in engine=0" "$work/err" || fail "calls left in the engine"
echo "ok: reload under traffic"
