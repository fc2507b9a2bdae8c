#!/usr/bin/env bash
# Every acdctl command against a real acdd: status, agents (list, show, ready, logout), queues (list,
# show), calls, stats; exit codes for refusals (1), usage (2), no daemon (3) and permission (4:
# a user in no role group may do nothing, by default; roles_e2e.sh tests each role); silent clients cannot hold the
# control socket; acdd stops with status 0 and removes its socket.
# Usage: acdctl_e2e.sh ACDD ACDCTL LOADGEN
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3
source "$(dirname "$0")/../require.sh"
require_tools python3
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
expect 3 "is acdd running" -- status
"$acdd" --listen 127.0.0.1:0 --port-file "$work/port" --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
"$loadgen" --target "127.0.0.1:$(cat "$work/port")" --rate 100 --duration 0.5 --agents 5 >/dev/null || fail "loadgen"
expect_soon 0 '"Ready": 5' -- --json status  # the load generator's calls ended
expect 0 "role" -- status
expect 0 '"version": 1' -- --json status
expect 0 '"source": "<embedded default>"' -- --json status
expect 0 '"decisions_per_s"' -- --json status
expect 0 "1004  Ready" -- agents
expect 0 '"state": "Ready"' -- --json agents show 1003
expect 0 "is signed out" -- agents logout 1001
expect 1 "not signed in" -- agents logout 1001
expect 1 "no agent has ID 4242" -- agents ready 4242
expect 2 "needs an agent ID" -- agents show
expect 0 "general" -- queues
expect 0 '"name": "cards"' -- --json queues show cards
expect 1 "no such queue" -- queues show nosuch
expect 0 "" -- calls
expect 0 "talk_s" -- stats agents
expect 0 "service_level" -- stats queues --today
expect 0 "agents:.*Ready 4" -- top --count 1
expect 0 "valid (5 queues, 200 agents)" -- config validate "$(dirname "$0")/../../control/default/acd.toml"
expect 1 "unknown key 'polcy'" -- config validate "$(dirname "$0")/data/bad.toml"
# Silent clients cannot hold the socket; a client that hangs up before its answer is harmless.
python3 - "$work/ctl.sock" <<'PY' || fail "the control socket was held up or broke"
import socket, sys, time
path = sys.argv[1]
silent = [socket.socket(socket.AF_UNIX) for _ in range(5)]
for s in silent:
    s.connect(path)
start = time.time()
c = socket.socket(socket.AF_UNIX)
c.connect(path)
c.sendall(b'{"cmd": "status"}\n')
data = b""
while not data.endswith(b"\n"):
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
assert b'"ok":true' in data, data
assert time.time() - start < 1.0, "answered only after the silent clients timed out"
for _ in range(3):
    q = socket.socket(socket.AF_UNIX)
    q.connect(path)
    q.sendall(b'{"cmd": "agents"}\n')
    q.close()
PY
expect 0 "role" -- status
if [ "$(id -u)" = 0 ] && missing_tools setpriv >/dev/null; then
  as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$acdctl" --socket "$work/ctl.sock" "$@"; }
  # By default only the role groups and root may even read (control.viewers = "group").
  rc=0; as_nobody status >"$work/denied" 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a user in no role group read the status (exit $rc)"
  grep -q "'status' needs the viewer role (the acd-viewer, acd or acd-admin group, or root); you have no role" \
    "$work/denied" || fail "refusal: $(cat "$work/denied")"
  rc=0; as_nobody config diff /etc/shadow >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a plain user made acdd read a file (exit $rc)"
  rc=0; as_nobody route test general >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a plain user previewed a route (exit $rc)"
  rc=0; as_nobody agents logout 1002 >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "a plain user changed an agent (exit $rc)"
  expect 0 '"state": "Ready"' -- --json agents show 1002
else
  leave_out "the checks as a plain user (need root and setpriv)"
fi
stop_acdd
[ ! -e "$work/ctl.sock" ] || fail "the socket was left behind"
finish_checks "acdctl"
