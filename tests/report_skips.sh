#!/usr/bin/env bash
# Lists the tests that did not run (ctest: "Skipped", "Not Run", "Disabled") in the ctest logs
# given, so that `make test` ends by saying what it did not prove. In CI (CI=true) every test must
# run: any such test fails the suite.
# Usage: report_skips.sh CTEST_LOG...   (logs written by ctest --output-log; missing ones ignored)
set -uo pipefail
logs=()
for log in "$@"; do
  [ -f "$log" ] && logs+=("$log")
done
[ ${#logs[@]} -gt 0 ] || { echo "report_skips: no ctest log found in: $*"; exit 1; }
# ctest's summary lines: "<tab> 41 - systemd_unit_verify (Skipped)".
skipped=$(grep -hE '^[[:space:]]*[0-9]+ - .+ \((Skipped|Not Run|Disabled)\)[[:space:]]*$' "${logs[@]}" |
          sed -E 's/^[[:space:]]*[0-9]+ - //' | sort -u)
if [ -z "$skipped" ]; then
  echo "All tests ran: none skipped."
  exit 0
fi
echo "Tests that did not run (ctest counts them as passed):"
sed 's/^/  /' <<<"$skipped"
if [ "${CI:-}" = true ]; then
  echo "FAIL: in CI every test must run (install its package in DEBS and .ci/run, or run as root)"
  exit 1
fi
