#!/usr/bin/env bash
# Sign-in end to end with real credentials: acdctl sets argon2id passwords, acdd (configured from a
# file) verifies every sign-in off the routing core, acd-loadgen signs agents in over ACDP and routes
# calls to them; a wrong password is refused; no password appears in anything acdd prints; and acdd
# refuses to start when its configured credential file is missing.
# Usage: signin_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
source "$(dirname "$0")/../loadgen_lib.sh"
work=$(mktemp -d)
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
# Back-offs long enough to outlast the test's slowest step (60 s; agent-wide after 4 failures).
printf '[signin]\nbackoff_s = 60\nagent_free_failures = 4\nagent_max_backoff_s = 120\n[audit]\ndir = "%s"\n' \
  "$work/audit" >>"$work/acd.toml"

# A configured but missing credential file stops acdd before it starts.
if "$acdd" --config "$work/acd.toml" 2>"$work/missing.err"; then echo "started without credentials"; exit 1; fi
grep -q "credentials: cannot be read" "$work/missing.err"

for id in $(seq 1000 1009); do echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null; done
echo "not-the-demo-password" | "$acdctl" agent passwd 1010 --credentials "$work/credentials" >/dev/null
if grep -q "demo-1000" "$work/credentials"; then echo "a password was written to the file"; exit 1; fi

"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
"$loadgen" --target "127.0.0.1:$port" --rate 200 --duration 1 --agents 10 --json >"$work/ok.json"
expect_every_call_routed "$work/ok.json"
[ "$(loadgen_field "$work/ok.json" sent)" = 200 ] || { echo "expected 200 calls: $(cat "$work/ok.json")"; exit 1; }
# Agent 1010's password is not demo-1010: the eleventh sign-in must be refused.
if "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.1 --agents 11 2>"$work/bad.err"; then
  echo "a wrong password was accepted"; exit 1
fi
grep -q "only 10 of 11" "$work/bad.err" || { echo "FAIL: expected only 10 of 11 sign-ins: $(cat "$work/bad.err")"; exit 1; }
# Three more wrong passwords for 1010 from the same desktop start a back-off (the fourth failure in
# all): counted in the metrics; an operator's unlock lifts it and is counted too.
for _ in 1 2 3; do
  "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.1 --agents 11 --signin-timeout 4 2>/dev/null && {
    echo "a wrong password was accepted"; exit 1; }
done
metric() {  # metric 'NAME{LABELS}' -> its value from the metrics endpoint
  exec 3<>"/dev/tcp/127.0.0.1/$(cat "$work/port.metrics")"
  printf 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  local body; body=$(cat <&3); exec 3<&-
  printf '%s\n' "$body" | awk -v m="$1" '$1 == m { print $2 }'
}
[ "$(metric acd_signin_backoffs_total)" -ge 1 ] || { echo "FAIL: no back-off counted"; exit 1; }
[ "$(metric 'acd_signin_total{outcome="failed"}')" -ge 3 ] || { echo "FAIL: failures not counted"; exit 1; }
# 1010's right password, during the back-off: refused unchecked.
right_1010() {  # right_1010 TIMEOUT: acd-loadgen signs 1010 in with its right password
  "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.1 --first-agent 1010 --first-index 10 \
    --agents 1 --password not-the-demo-password --signin-timeout "$1" >/dev/null 2>"$work/right.err"
}
delayed=$(metric 'acd_signin_total{outcome="delayed"}')
if right_1010 3; then echo "FAIL: 1010 signed in during its back-off"; exit 1; fi
[ "$(metric 'acd_signin_total{outcome="delayed"}')" -gt "$delayed" ] || {
  echo "FAIL: the right password during the back-off was not refused unchecked"; exit 1; }
"$acdctl" --socket "$work/ctl.sock" agent unlock 1010 >"$work/unlock.out"
grep -q "agent 1010 may sign in again" "$work/unlock.out" || { echo "FAIL: unlock: $(cat "$work/unlock.out")"; exit 1; }
[ "$(metric acd_signin_unlocks_total)" = 1 ] || { echo "FAIL: unlock not counted"; exit 1; }
right_1010 8 || { echo "FAIL: 1010 did not sign in after the unlock: $(cat "$work/right.err")"; exit 1; }
"$acdctl" --socket "$work/ctl.sock" audit show >"$work/audit.out"
grep "agent.unlock" "$work/audit.out" | grep -q "agent=1010" || {
  echo "FAIL: audit show lacks the agent.unlock record"; cat "$work/audit.out"; exit 1; }
if "$acdctl" --socket "$work/ctl.sock" agent unlock 424242 2>"$work/unlock.err"; then echo "unlocked an unknown agent"; exit 1; fi
grep -q "no agent has ID 424242" "$work/unlock.err"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?; pid=
[ "$rc" = 0 ] || { echo "acdd exited with status $rc on SIGTERM"; cat "$work/acdd.err"; exit 1; }
grep -q "auth_failed=5" "$work/acdd.err"  # one wrong password, three more, the right one held
if grep -q "demo-10\|not-the-demo" "$work/acdd.out" "$work/acdd.err"; then echo "a password was printed"; exit 1; fi
echo "ok: argon2id sign-in, refusal, nothing leaked"
