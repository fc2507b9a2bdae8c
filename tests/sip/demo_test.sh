#!/usr/bin/env bash
# The README's SIP quick start (`make sip-demo`, sip/demo.sh) does what it says: one call from
# the caller reaches agent 1000's phone through Kamailio, the bridge and acd's decision, is
# answered and released, and acd counts it.
# Usage: demo_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"
require_tools kamailio sipp python3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$here/../../sip/demo.sh" "$1" >"$out" 2>&1 || { cat "$out"; echo "FAIL: sip/demo.sh failed"; exit 1; }
check() {  # check PATTERN WHAT
  grep -qE -- "$1" "$out" || { cat "$out"; echo "FAIL: the demo did not show $2"; exit 1; }
}
check '^the phone received: INVITE sip:1000@127\.0\.0\.1:[0-9]+ ' "the INVITE relayed to agent 1000's phone"
check '^the caller heard: .*SIP/2\.0 200 OK' "the caller answered"
check '^1 +talking .* general +1000 ' "the call talking with agent 1000 in acdctl calls list"
check '^general +voice .* 1 +1 +0 ' "queue general with 1 offered, 1 answered, 0 abandoned"
check '"answered":1,.*"released":1,.*"routed_agent":1' "the bridge's counters"
echo "ok: the SIP demo routed one call to agent 1000's phone through acd"
