#!/usr/bin/env bash
# Bulk provisioning: `acdctl agent import` of COUNT agents into an empty credential file, hashed on
# every CPU, at a named cost level; then the same file again (every agent unchanged: each secret
# verified against its hash, nothing written).
#
#   bench/import_bench.sh BUILD_DIR [COUNT] [COST]
#   bench/import_bench.sh build 100000 owasp
set -euo pipefail
build=$1 count=${2:-100000} cost=${3:-owasp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ echo "id,secret,flag"; seq 1 "$count" | awk '{ printf "%d,initial-%08d,must-change\n", $1 + 100000, $1 * 7919 }'; } >"$work/agents.csv"
echo "== $count agents, cost $cost, $(nproc) CPUs"
/usr/bin/time -f "first import: %e s elapsed, %U s user, %M KiB peak" \
  "$build/control/acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --cost "$cost" 2>&1 |
  grep -v "checked or hashed"
ls -l "$work/credentials" | awk '{ print "credential file:", $5, "bytes,", $1 }'
/usr/bin/time -f "second import (unchanged): %e s elapsed" \
  "$build/control/acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --cost "$cost" 2>&1 |
  grep -v "checked or hashed"
