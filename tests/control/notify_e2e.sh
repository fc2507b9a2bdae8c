#!/usr/bin/env bash
# acdd speaks systemd's notify protocol: READY=1 once serving, WATCHDOG=1 while the routing core
# makes progress (WATCHDOG_USEC set), STOPPING=1 on SIGTERM; and SIGHUP reloads instead of killing it.
# Usage: notify_e2e.sh ACDD
set -euo pipefail
acdd=$1
source "$(dirname "$0")/../require.sh"
require_tools python3
work=$(mktemp -d)
trap 'kill -9 ${pid:-} ${listener:-} 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/notify.sock" "$work/messages" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
with open(sys.argv[2], "w") as out:
    end = time.time() + 10
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        out.write(msg + "\n"); out.flush()
        if "STOPPING=1" in msg:
            break
PY
listener=$!
for _ in $(seq 50); do [ -S "$work/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=200000 "$acdd" --listen 127.0.0.1:0 \
  --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
sleep 1.5
kill -HUP "$pid"
sleep 0.3
kill -0 "$pid"  # still running after SIGHUP
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?; pid=
[ "$rc" = 0 ] || { echo "acdd exited with status $rc on SIGTERM"; cat "$work/err"; exit 1; }
wait "$listener" || true; listener=
cat "$work/messages"
grep -q "^READY=1$" "$work/messages"
[ "$(grep -c '^WATCHDOG=1$' "$work/messages")" -ge 3 ]
grep -q "^STOPPING=1$" "$work/messages"
grep -q "SIGHUP: .*no changes" "$work/err"
echo "ok: notify protocol"
