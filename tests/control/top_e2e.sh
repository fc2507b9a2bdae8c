#!/usr/bin/env bash
# acdctl top against a real acdd with calls waiting: in tmux at 80x24 the live view fits the screen
# and shows the header, the queues, the queued calls longest first and the agents by state; s
# changes the sort at once (not after the refresh interval), r refreshes, q and Ctrl-C end it with
# status 0 and the terminal given back, a vanished acdd is reported while the view goes on; the
# plain frame (--count 1) is at most 80 columns without escape codes, and --json prints one frame.
# Usage: top_e2e.sh ACDD ACDCTL LOADGEN
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3
command -v tmux >/dev/null || { echo "FAIL: tmux is not installed"; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
tmx() { tmux -L "acd-top-e2e-$$" -f /dev/null "$@"; }
(trap 'kill $! 2>/dev/null; exit 0' TERM; sleep 90 & wait $!; echo "FAIL: watchdog: over 90 s"; kill -TERM $$) &
watchdog=$!
trap 'exit 1' TERM
trap 'tmx kill-server 2>/dev/null || true; kill ${pid:-} $watchdog 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"

"$acdd" --listen 127.0.0.1:0 --port-file "$work/port" --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && [ -S "$work/ctl.sock" ] && break; sleep 0.05; done
# Three agents take the first three calls to queue cards (index 1) and stay in wrap-up for its 30 s
# (then they ring with waiting calls); the other twelve calls wait, one arriving every 0.2 s, so the
# first to come has waited longest. Nothing leaves the engine for 60 s (cards overflows after that).
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 5 --duration 3 --agents 3 --queue 1 >/dev/null || fail "loadgen"
# The plain frame: at most 80 columns, no escape codes, the same sections (once the snapshot, taken
# every 100 ms, has all twelve calls).
for _ in $(seq 20); do
  expect 0 "queued calls, longest first" -- top --count 1
  grep -q " 12 calls in engine " <<<"$out" && break
  sleep 0.1
done
[ -z "$(awk 'length > 80' <<<"$out")" ] || fail "a plain line is longer than 80 columns: $out"
! grep -q $'\e' <<<"$out" || fail "the plain frame has escape codes"
agents_by_state="^agents: Ready [0-9]+  Reserved [0-9]+  Busy 0  WrapUp [0-9]+  NotReady [0-9]+  LoggedOut 197$"
grep -qE "$agents_by_state" <<<"$out" || fail "no agents by state: $out"
expect 0 '"calls_in_engine": 12' -- --json top

# The live view, refreshed every 30 s: keys must not wait for that.
start_top() {  # start_top NAME: acdctl top in its own tmux session; stty, then the exit status, to files
  # (the status last: once its file is there, the terminal's settings are complete)
  tmx new-session -d -s "$1" -x 80 -y 24 \
    "'$acdctl' --socket '$work/ctl.sock' top --interval 30; rc=\$?; stty -a >'$work/$1.stty'; echo \$rc >'$work/$1.rc'"
}
screen_of() { tmx capture-pane -p -t "$1" 2>/dev/null || echo "(session $1 has ended)"; }
wait_for() {  # wait_for NAME PATTERN: the screen shows PATTERN within 5 s (sets $screen)
  for _ in $(seq 100); do
    screen=$(screen_of "$1")
    grep -qE -- "$2" <<<"$screen" && return 0
    sleep 0.05
  done
  fail "the screen of $1 did not show '$2' within 5 s: $screen"
}
ended() {  # ended NAME: acdctl top exited 0 within 5 s, echo and line editing back on
  for _ in $(seq 100); do [ -s "$work/$1.rc" ] && break; sleep 0.05; done
  [ "$(cat "$work/$1.rc" 2>/dev/null)" = 0 ] || fail "top did not end with status 0 within 5 s: $(screen_of "$1")"
  grep -qE '(^| )icanon( |$)' "$work/$1.stty" && grep -qE '(^| )echo( |$)' "$work/$1.stty" ||
    fail "the terminal was not given back: $(cat "$work/$1.stty")"
}

start_top top
wait_for top "queued calls, longest first"
[ -z "$(awk 'length > 80' <<<"$screen")" ] || fail "a line is longer than 80 columns: $screen"
[ "$(wc -l <<<"$screen")" = 24 ] || fail "the view is not 24 lines: $screen"
sed -n 1p <<<"$screen" | grep -qE "^acd active  site demo-1  up .* 12 calls in engine +sort: oldest wait$" ||
  fail "no header with the sort at the right edge: $screen"
sed -n 24p <<<"$screen" | grep -q "^q quit   s sort queues   r refresh now" || fail "no key help at the bottom: $screen"
grep -qE "$agents_by_state" <<<"$screen" || fail "no agents by state: $screen"
grep -qE "^queue +waiting +oldest +EWT +ready +staffed +answered +abandoned +SL$" <<<"$screen" || fail "no queue table: $screen"
grep -qE "^cards +[0-9]+ +[0-9]+s " <<<"$screen" || fail "queue cards does not show its waiting calls: $screen"
# Queued calls longest first: IDs in arrival order, waits never growing down the list.
calls=$(grep -E "^ *[0-9]+ cards +[0-9]+s +0 voice$" <<<"$screen") || fail "no waiting calls: $screen"
ids=$(awk '{print $1}' <<<"$calls")
waits=$(awk '{sub(/s$/, "", $3); print $3}' <<<"$calls")
[ "$(wc -l <<<"$ids")" -ge 5 ] || fail "too few waiting calls shown: $screen"
[ "$ids" = "$(sort -n <<<"$ids")" ] && [ "$waits" = "$(sort -rn <<<"$waits")" ] ||
  fail "the waiting calls are not longest first: $calls"
# The three agents in wrap-up (or, later, ringing), longest in that state first.
agents=$(grep -E "^ +100[0-2] (WrapUp|Reserved|NotReady) +[0-9]+s +[-0-9]+$" <<<"$screen") || fail "no agents listed: $screen"
in_state=$(awk '{sub(/s$/, "", $3); print $3}' <<<"$agents")
[ "$in_state" = "$(sort -rn <<<"$in_state")" ] || fail "the agents are not longest in their state first: $agents"
tmx send-keys -t top s
wait_for top "sort: waiting$"
tmx send-keys -t top s
wait_for top "sort: EWT$"
updated=$(grep -o "updated [0-9:]*" <<<"$screen")
sleep 1.1
tmx send-keys -t top r
for _ in $(seq 100); do screen=$(screen_of top); grep -q "$updated" <<<"$screen" || break; sleep 0.05; done
! grep -q "$updated" <<<"$screen" || fail "r did not refresh at once: $screen"
tmx send-keys -t top q
ended top

start_top interrupted
wait_for interrupted "queued calls, longest first"
tmx send-keys -t interrupted C-c
ended interrupted

# acdd goes away: the view says so and keeps trying; q still ends it.
start_top orphan
wait_for orphan "queued calls, longest first"
kill -TERM "$pid"; wait "$pid" || true; pid=
tmx send-keys -t orphan r
wait_for orphan "^stale since [0-9:]+, retrying: .*is acdd running"
[ ! -s "$work/orphan.rc" ] || fail "top ended when acdd went away"
tmx send-keys -t orphan q
ended orphan
echo "ok: acdctl top"
