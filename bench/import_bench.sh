#!/usr/bin/env bash
# Bulk provisioning: `acdctl agent import` of COUNT agents into an empty credential file, hashed on
# every CPU, at a named cost level; then the same file again (every agent unchanged: each secret
# verified against its hash, nothing written).
#
#   bench/import_bench.sh BUILD_DIR [COUNT] [COST]
#   bench/import_bench.sh build 100000 owasp
#
# CODES=1: every row is "ID,*,enrolment": acdctl generates the codes (100 bits, the fast code hash,
# docs/security.md "Generated enrolment codes") into a --codes-out file; COST then applies to
# nothing (no row is hashed with argon2id).
# Otherwise every row is "ID,initial-NNNNNNNN,must-change": a temporary secret, hashed at
# TEMPORARY_COST (acdctl's --temporary-cost: "import", its default, or "same" for COST).
# ONCE=1: the first import only.
set -euo pipefail
build=$1 count=${2:-100000} cost=${3:-owasp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${CODES:-}" ]; then
  { echo "id,secret,flag"; seq 1 "$count" | awk '{ printf "%d,*,enrolment\n", $1 + 100000 }'; } >"$work/agents.csv"
  codes=(--codes-out "$work/codes.csv")
else
  { echo "id,secret,flag"; seq 1 "$count" | awk '{ printf "%d,initial-%08d,must-change\n", $1 + 100000, $1 * 7919 }'; } >"$work/agents.csv"
  codes=()
fi
temporary=${TEMPORARY_COST:-import}
echo "== $count agents, cost $cost, temporary cost $temporary${CODES:+, generated enrolment codes}, $(nproc) CPUs"
/usr/bin/time -f "first import: %e s elapsed, %U s user, %M KiB peak" \
  "$build/control/acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --cost "$cost" \
  --temporary-cost "$temporary" "${codes[@]}" 2>&1 | grep -v "checked or hashed"
[ -z "${CODES:-}" ] || echo "codes written: $(($(wc -l <"$work/codes.csv") - 1))"
ls -l "$work/credentials" | awk '{ print "credential file:", $5, "bytes,", $1 }'
# Hashes by kind and cost ("$argon2id$v=19$m=...,t=...,p=...$..." or "$acd-code$v=1$...").
awk '/^[0-9]/ { split($2, p, "$"); n[p[2] " " (p[2] == "argon2id" ? p[4] : p[3])]++ }
     END { for (k in n) print "hashes:", n[k], k }' "$work/credentials"
[ -z "${ONCE:-}" ] || exit 0
[ -z "${CODES:-}" ] || codes=(--codes-out "$work/codes2.csv")
/usr/bin/time -f "second import ($([ -n "${CODES:-}" ] && echo "new codes for all" || echo unchanged)): %e s elapsed" \
  "$build/control/acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --cost "$cost" \
  --temporary-cost "$temporary" "${codes[@]}" 2>&1 | grep -v "checked or hashed"
