#!/usr/bin/env bash
# Runs a command and checks its exit status and its output together (ctest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status).
# Usage: expect_output.sh STATUS PATTERN... -- COMMAND [ARGS...]
#   STATUS: the exit status expected, or "fail" for any status but 0.
#   PATTERN: an extended regular expression that some line of stdout or stderr must match.
set -uo pipefail
want=$1
shift
patterns=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  patterns+=("$1")
  shift
done
[ $# -gt 1 ] || { echo "usage: expect_output.sh STATUS PATTERN... -- COMMAND [ARGS...]"; exit 2; }
shift
out=$("$@" 2>&1)
rc=$?
echo "$out"
case $want in
  fail) [ "$rc" != 0 ] || { echo "FAIL: exit status 0, expected a failure"; exit 1; } ;;
  *) [ "$rc" = "$want" ] || { echo "FAIL: exit status $rc, expected $want"; exit 1; } ;;
esac
for p in "${patterns[@]}"; do
  grep -Eq -- "$p" <<<"$out" || { echo "FAIL: no line matches: $p"; exit 1; }
done
echo "ok: exit status $rc and ${#patterns[@]} expected line(s)"
