#!/usr/bin/env bash
# `acdctl dr drill` with real processes (the active site's pair, a DR node, etcd, acd-loadgen): in
# the middle of a load, the DR node proves it could take over without touching production:
# * the drill passes: a sandbox replayed the followed log from the DR node's journal to the active
#   site's CURRENT state hash (one at or after the seq the follower had applied when asked, not an
#   older one), its state hash matched it, and a synthetic call routed in the sandbox was offered
#   to an agent (or queued when every agent was busy); the answer names the agent and the time;
# * production is untouched: its routing latency percentiles (p50, p99) during a run of drills
#   (half a second apart) stay near those of the same load measured just before, every call is
#   routed, and the DR node still follows, caught up, with no hash mismatch (the active site's
#   later state hashes still match the follower's);
# * the drill is audited (dr.action) and listed by `acdctl dr history`;
# * on the active primary a drill is refused.
# Usage: dr_drill_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
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

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"
start_dr
wait_log a "dr: DR follower caught up" 10

# 8 s: long enough for two drills even when the drill's thread (at the lowest CPU priority) gets
# little of a loaded two-core machine; with 4 s only one drill fit now and then.
load() {  # load NAME: 8 s of calls at 200/s; the report in work/NAME.json
  "$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 8 --agents 30 \
    --talk-ms 50 --settle-s 15 --json >"$work/$1.json" 2>"$work/$1.err"
}
# One round (round R): production's latency with no drill, then the same load with drills run one
# after another. Reports in work/beforeR.json and work/duringR.json; the first drill's answer in
# work/drill1.json.
drill_round() {
  local r=$1 loading
  load "before$r" || dr_fail "the load before the drills failed: $(cat "$work/before$r.err")"
  expect_every_call_routed "$work/before$r.json" || dr_fail "calls lost before the drills"
  load "during$r" &
  loading=$!
  for _ in $(seq 600); do grep -qs "load starts" "$work/during$r.err" && break; sleep 0.05; done
  sleep 0.5
  drills=0
  while kill -0 "$loading" 2>/dev/null; do
    hash_before=$("$acdctl" --socket "$work/d/ctl.sock" --json ha status |
                  sed -n 's/^ *"last_hash_check_seq": \([0-9]*\).*/\1/p')
    "$acdctl" --socket "$work/d/ctl.sock" --json dr drill >"$work/drill.json" 2>&1 ||
      dr_fail "dr drill failed: $(cat "$work/drill.json")"
    drills=$((drills + 1))
    [ $drills = 1 ] && [ "$r" = 1 ] && cp "$work/drill.json" "$work/drill1.json" &&
      first_hash_before=$hash_before
    sleep 0.5  # one drill after another, as an operator would run them, not a storm
  done
  wait "$loading" || dr_fail "the load during the drills failed: $(cat "$work/during$r.err")"
  [ $drills -ge 2 ] || dr_fail "only $drills drill(s) ran during the load"
  expect_every_call_routed "$work/during$r.json" || dr_fail "calls lost during the drills"
}
drill_round 1
cat "$work/drill1.json"
field() { sed -n "s/^ *\"$1\": \(.*\),\{0,1\}\$/\1/p" "$work/drill1.json" | sed 's/,$//'; }
[ "$(field passed)" = true ] || dr_fail "the drill did not pass"
[ "$(field hash_match)" = true ] || dr_fail "no state hash match in the drill"
applied=$(field applied_seq) hash_seq=$(field hash_seq) replayed=$(field replayed_records)
# The current hash: at or after the follower's state when asked, newer than its last check then.
[ "$hash_seq" -ge "$applied" ] && [ "$hash_seq" -gt "$first_hash_before" ] ||
  dr_fail "the drill replayed to seq $hash_seq, not the current hash (follower at $applied," \
          "its last hash check at $first_hash_before)"
[ "$replayed" -gt 0 ] && [ $(( $(field snapshot_seq) + replayed )) = "$hash_seq" ] ||
  dr_fail "the sandbox replayed $replayed records from $(field snapshot_seq), not to $hash_seq"
routed=$(field routed)
case $routed in
  '"agent"') [ "$(field agent)" != null ] || dr_fail "routed to an agent, but which?" ;;
  '"queued"') ;;
  *) dr_fail "the synthetic call was $routed" ;;
esac
took=$(field took_ms)
[ -n "$took" ] || dr_fail "no time taken reported"
echo "ok: $drills drills passed: call $routed $(field agent), replayed $replayed records to the" \
     "hash at seq $hash_seq (follower at $applied when asked), $took ms"
# The last drill too.
grep -q '"passed": true' "$work/drill.json" || dr_fail "the last drill failed: $(cat "$work/drill.json")"

num() { sed -n "s/^ *\"$2\": \([0-9][0-9.e+]*\),\{0,1\}\$/\1/p" "$1"; }
# Unaffected, within the noise of a test machine shared with other work: p50 at most twice the
# figure before plus 1 ms, p99 at most three times plus 5 ms. Other work on the machine can stall
# either load for a moment; a round over the bound is measured again once, and only a second round
# over it fails (a drill that stalls production does so in every round).
unaffected() {
  local r=$1 p50_before p99_before p50_during p99_during
  p50_before=$(num "$work/before$r.json" p50_us) p99_before=$(num "$work/before$r.json" p99_us)
  p50_during=$(num "$work/during$r.json" p50_us) p99_during=$(num "$work/during$r.json" p99_us)
  echo "production latency, round $r: before p50 $p50_before us p99 $p99_before us;" \
       "during $drills drills p50 $p50_during us p99 $p99_during us"
  awk -v a="$p50_before" -v b="$p99_before" -v c="$p50_during" -v d="$p99_during" \
    'BEGIN { exit !(a > 0 && b > 0 && c <= 2 * a + 1000 && d <= 3 * b + 5000) }'
}
if ! unaffected 1; then
  echo "round 1 over the bound; measuring once more"
  drill_round 2
  unaffected 2 || dr_fail "production's routing latency rose during the drills, in two rounds"
fi
dr_json d | grep -q '"role": "following"' || dr_fail "d no longer follows: $(dr_json d)"
for _ in $(seq 100); do dr_json a | grep -q '"follower": "caught-up"' && break; sleep 0.1; done
dr_json a | grep -q '"follower": "caught-up"' || dr_fail "d fell behind after the drill"
"$acdctl" --socket "$work/d/ctl.sock" --json ha status | grep -q '"hash_mismatches": 0' ||
  dr_fail "d's state left the active site's after the drill"
# (Had the drill routed its call in the follower's own engine, the next state hash from the active
# site would differ and take the follower out of service.)
sleep 1
"$acdctl" --socket "$work/d/ctl.sock" --json ha status | grep -q '"hash_mismatches": 0' &&
  dr_json d | grep -q '"role": "following"' || dr_fail "d's state left the active site's"
"$acdctl" --socket "$work/d/ctl.sock" --json audit show >"$work/audit.json"
grep -q '"dr.action"' "$work/audit.json" && grep -q '"drill"' "$work/audit.json" ||
  dr_fail "no dr.action drill in the audit log"
"$acdctl" --socket "$work/d/ctl.sock" dr history | grep -q "drill passed" ||
  dr_fail "dr history lacks the drill"

set +e
"$acdctl" --socket "$work/a/ctl.sock" dr drill >"$work/refused.out" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "a drill is run on the DR site's follower" "$work/refused.out" ||
  dr_fail "a drill on the active primary was not refused ($status): $(cat "$work/refused.out")"
echo "ok: dr drill in a sandbox, production untouched, audited and in the history"
