#!/usr/bin/env bash
# The audit log end to end: acdd with [audit] dir records its start, agents' sign-ins (no
# password in any record), a state-changing acdctl command with the caller's uid, a refusal for
# permission (when the test can run acdctl as another user), a reload and its stop;
# `acdctl audit show` lists them, `acdctl audit verify` passes; one edited byte makes verify fail
# and name the record.
# Usage: audit_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
printf '\n[audit]\ndir = "%s/audit"\nmax_file_bytes = 65536\nkeep_files = 4\n' "$work" >>"$work/acd.toml"
for id in 1000 1001; do echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null; done

"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
port=$(cat "$work/port")
"$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.3 --agents 2 >/dev/null 2>"$work/loadgen.err" ||
  fail "loadgen: $(cat "$work/loadgen.err")"

expect_soon 0 "" -- status
rc=0; "$acdctl" --socket "$work/ctl.sock" agents logout 1001 >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "agents logout exited $rc"
sleep 0.01  # the next record is at a later millisecond (--since below splits the two)
rc=0; "$acdctl" --socket "$work/ctl.sock" agent revoke-tokens 1000 >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "agent revoke-tokens exited $rc"
expect 0 "no changes" -- config reload
# A refusal for permission, when this test may run acdctl as another user.
denied=no
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups "$acdctl" --socket "$work/ctl.sock" \
    agents ready 1000 >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "agents ready as nobody exited $rc, expected 4 (permission denied)"
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups "$acdctl" --socket "$work/ctl.sock" \
    audit show >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "audit show as nobody exited $rc, expected 4 (permission denied)"
  denied=yes
fi

# The writer syncs within a few ms; show asks acdd. The last record: the refused show, if any.
if [ "$denied" = yes ]; then
  expect_soon 0 "control.command  denied  uid=65534(nobody)  audit show" -- audit show
else
  expect_soon 0 "config.reload" -- audit show
fi
grep -q "agents logout 1001" <<<"$out" || fail "no logout record: $out"
grep -q "daemon.start" <<<"$out" || fail "no daemon.start in: $out"
grep -q "control.command  [a-z]*  uid=$(id -u)([^)]*)  agents revoke-tokens 1000" <<<"$out" ||
  fail "no revoke-tokens record: $out"
grep -q "control.command.*uid=$(id -u)" <<<"$out" || fail "the command's caller is not named: $out"
grep -q "config.reload  ok  uid=$(id -u).*config_hash" <<<"$out" || fail "no reload record: $out"
grep -q "agent.sign_in  ok  client=" <<<"$out" || fail "no sign-in record: $out"
if [ "$denied" = yes ]; then
  grep -q "control.command  denied  uid=65534" <<<"$out" || fail "no denied record: $out"
fi
expect 0 '"hash":"' -- audit show --json --last 1
[ "$(wc -l <<<"$out")" = 1 ] || fail "--last 1 gave: $out"
expect 2 "UTC time" -- audit show --since yesterday
# --since keeps the records at or after a time: at the revoke-tokens record's own time it keeps that
# record and drops all before it (the start, the logout); one millisecond later it drops it too.
expect 0 "" -- audit show --json
t=$(sed -n 's/.*"subject":"agents revoke-tokens 1000","time":"\([^"]*\)".*/\1/p' <<<"$out")
[ -n "$t" ] || fail "no time on the revoke-tokens record: $out"
ms=$(date -u -d "$t" +%s%3N)
after=$(date -u -d "@$(((ms + 1) / 1000)).$(printf %03d $(((ms + 1) % 1000)))" +%FT%T.%3NZ)
expect 0 "agents revoke-tokens 1000" -- audit show --since "$t"
if grep -q "daemon.start\|agents logout 1001" <<<"$out"; then fail "--since $t kept older records: $out"; fi
expect 0 "config.reload" -- audit show --since "$after"
if grep -q "agents revoke-tokens" <<<"$out"; then fail "--since $after kept a record at $t: $out"; fi
expect 0 "" -- audit show --since 2099-01-01
[ -z "$out" ] || fail "--since 2099-01-01 listed: $out"
expect 0 "daemon.start" -- audit show --since 1970-01-02
expect 0 "chain intact" -- audit verify --config "$work/acd.toml"
if grep -rq "demo-100" "$work/audit"; then fail "a password is in the audit log"; fi
[ "$(stat -c %a "$work/audit"/audit-*.log | sort -u)" = 640 ] || fail "audit files are not 0640"

stop_acdd
expect 0 "chain intact" -- audit verify --dir "$work/audit"
expect 0 "daemon.stop" -- audit show --dir "$work/audit" --last 1
expect 0 "daemon.stop" -- audit show --dir "$work/audit" --since "$after"
if grep -q "daemon.start\|agents revoke-tokens" <<<"$out"; then fail "--dir --since $after: $out"; fi

# One byte edited in the first record: verify fails and names it; acdd's next start does not hide it.
file=$(ls "$work/audit"/audit-*.log | head -1)
sed -i '1s/"outcome":"ok"/"outcome":"no"/' "$file"
expect 1 "BROKEN at $file line 1 (seq 1): hash mismatch" -- audit verify --dir "$work/audit"
echo "ok: audit records listed, chain verified, an edited byte found"
