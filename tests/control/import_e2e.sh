#!/usr/bin/env bash
# acdctl agent import end to end: generated enrolment codes go to --codes-out (a new file, mode
# 0600, refused when it exists, nothing imported then), must-change rows are hashed at
# --temporary-cost (import: argon2id t=1 m=8 MiB; same: --cost's) and flagged must-change; a real
# acdd signs an agent in once with its generated code and a must-change agent with its initial
# password, both told to change it; a spent code is refused.
# Usage: import_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
work=$(mktemp -d)
pid=''
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
umask 022  # the codes file's mode must not come from the caller's umask

{ echo "id,secret,flag"
  for id in 1000 1001 1002; do echo "$id,*,enrolment"; done
  for id in 1003 1004; do echo "$id,Initial-${id}x,must-change"; done
  echo "1005,Final-pass-1005,"
} >"$work/agents.csv"
"$acdctl" agent import "$work/agents.csv" --credentials "$work/credentials" --cost minimal \
  --temporary-cost import --codes-out "$work/codes.csv" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.err")"
grep -q "3 enrolment codes generated into $work/codes.csv" "$work/import.out" || fail "$(cat "$work/import.out")"
grep -q "6 added, 0 changed" "$work/import.out" || fail "report: $(cat "$work/import.out")"
[ "$(stat -c %a "$work/codes.csv")" = 600 ] || fail "codes file mode $(stat -c %a "$work/codes.csv")"
[ "$(head -1 "$work/codes.csv")" = "id,code" ] || fail "codes file header"
[ "$(grep -c '^100[0-2],[0-9A-HJKMNP-TV-Z]\{20\}$' "$work/codes.csv")" = 3 ] || fail "codes: $(cat "$work/codes.csv")"
# The credential file: codes as salted BLAKE2b flagged enrolment; must-change rows at the import's
# cost (1 pass, 8 MiB) flagged must-change; the password at --cost (minimal: 1 pass, 8 KiB).
for id in 1000 1001 1002; do
  grep -q "^$id \$acd-code\$v=1\$[^ ]* enrolment\$" "$work/credentials" || fail "code row $id"
done
for id in 1003 1004; do
  grep -q "^$id \$argon2id\$v=19\$m=8192,t=1,p=1\$[^ ]* must-change\$" "$work/credentials" ||
    fail "must-change row $id: $(grep "^$id " "$work/credentials")"
done
grep -q '^1005 $argon2id$v=19$m=8,t=1,p=1$[^ ]*$' "$work/credentials" || fail "password row"
if grep -q "Initial-\|Final-pass\|$(sed -n 2p "$work/codes.csv" | cut -d, -f2)" "$work/credentials"; then
  fail "a secret in the credential file"
fi
# --codes-out that exists: refused before anything is imported.
before=$(md5sum <"$work/credentials")
echo "1006,*,enrolment" >"$work/more.csv"
if "$acdctl" agent import "$work/more.csv" --credentials "$work/credentials" --cost minimal \
  --codes-out "$work/codes.csv" >/dev/null 2>"$work/exists.err"; then fail "an existing codes file was reused"; fi
grep -q "it must not exist yet" "$work/exists.err" || fail "$(cat "$work/exists.err")"
[ "$(md5sum <"$work/credentials")" = "$before" ] || fail "the refused import changed the file"
# --temporary-cost same: the must-change row takes --cost's parameters (owasp: 2 passes, 19 MiB).
echo "1007,Initial-1007x,must-change" >"$work/same.csv"
"$acdctl" agent import "$work/same.csv" --credentials "$work/credentials" --cost owasp \
  --temporary-cost same >/dev/null 2>"$work/same.err" || fail "$(cat "$work/same.err")"
grep -q '^1007 $argon2id$v=19$m=19456,t=2,p=1$[^ ]* must-change$' "$work/credentials" ||
  fail "--temporary-cost same: $(grep '^1007 ' "$work/credentials")"

# acdd signs them in.
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" \
    -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' \
    -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config" >"$work/acd.toml"
"$acdd" --config "$work/acd.toml" --port-file "$work/port" >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/acdd.err")"
port=$(cat "$work/port")
sign_in() {  # sign_in ID PASSWORD TIMEOUT
  "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.1 --first-agent "$1" \
    --first-index $(($1 - 1000)) --agents 1 --password "$2" --signin-timeout "$3" >/dev/null 2>"$work/signin.err"
}
code=$(grep '^1001,' "$work/codes.csv" | cut -d, -f2)
sign_in 1001 "$code" 8 || fail "the generated code did not sign 1001 in: $(cat "$work/signin.err")"
grep -q "1 told to change their password" "$work/signin.err" || fail "code not must-change: $(cat "$work/signin.err")"
grep -q '^1001 [^ ]* enrolment-used$' "$work/credentials" || fail "the code was not marked spent"
if sign_in 1001 "$code" 3; then fail "a spent code signed in again"; fi
sign_in 1003 Initial-1003x 8 || fail "the must-change password: $(cat "$work/signin.err")"
grep -q "1 told to change their password" "$work/signin.err" || fail "1003 not told must-change"
sign_in 1005 Final-pass-1005 8 || fail "the imported password: $(cat "$work/signin.err")"
grep -q "0 told to change their password" "$work/signin.err" || fail "1005 told must-change"
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=''
[ "$rc" = 0 ] || fail "acdd exited with $rc"
if grep -q "$code\|Initial-\|Final-pass" "$work/acdd.out" "$work/acdd.err"; then fail "a secret was printed"; fi
echo "ok: import with generated codes (0600) and temporary costs, signed in by acdd"
