#!/usr/bin/env bash
# acdctl key generate and client add, as an operator runs them (no acdd needed): secret key files
# are new, mode 0600, one line of base64, never overwritten; the public keys printed are those of
# the secrets written (acdctl derives a public key from a key file when it reads [security]
# key_file, so each printed key is checked against its file that way); the printed [[clients]]
# block, pasted into acd.toml, is valid; bad names, roles and networks are usage errors.
# Usage: keys_e2e.sh ACDCTL
set -euo pipefail
acdctl=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
config=$(dirname "$0")/../../control/default/acd.toml
mode_of() { stat -c %a "$1"; }
public_key_of() {  # public_key_of KEYFILE: the public key acdctl derives from a secret key file
  cp "$config" "$work/derive.toml"
  printf '[security]\nmode = "off"\nkey_file = "%s"\n' "$1" >>"$work/derive.toml"
  rm -f "$work/probe.key"
  "$acdctl" client add probe --role site --keys-dir "$work" --config "$work/derive.toml" |
    sed -n "s/^ *acdd's public key: //p"
  rm -f "$work/probe.key"
}

# acdd's key.
"$acdctl" key generate --out "$work/acdd.key" >"$work/out" || fail "key generate: $(cat "$work/out")"
[ "$(mode_of "$work/acdd.key")" = 600 ] || fail "acdd.key has mode $(mode_of "$work/acdd.key")"
[ "$(wc -l <"$work/acdd.key")" = 1 ] && grep -qE '^[A-Za-z0-9+/]{43}=$' "$work/acdd.key" ||
  fail "acdd.key is not one line of base64: $(cat "$work/acdd.key")"
printed=$(sed -n 's/^public key: //p' "$work/out")
[ -n "$printed" ] || fail "no public key printed: $(cat "$work/out")"
grep -q "key_file = \"$work/acdd.key\"" "$work/out" || fail "no key_file line: $(cat "$work/out")"
[ "$(public_key_of "$work/acdd.key")" = "$printed" ] || fail "the printed public key is not the secret's"
before=$(cat "$work/acdd.key")
rc=0; "$acdctl" key generate --out "$work/acdd.key" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] || fail "key generate overwrote a key file (exit $rc)"
grep -q "never overwritten" "$work/err" || fail "overwrite refusal: $(cat "$work/err")"
[ "$(cat "$work/acdd.key")" = "$before" ] || fail "the key file changed"
rc=0; "$acdctl" key generate >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "key generate without --out exited $rc"

# A client, with acdd's configuration naming acdd's key.
cp "$config" "$work/acd.toml"
printf '[security]\nmode = "off"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/acd.toml"
"$acdctl" client add sbc-1 --role switch --network 10.1.0.0/16 --network 10.2.0.0/24 \
  --keys-dir "$work" --config "$work/acd.toml" >"$work/added" || fail "client add: $(cat "$work/added")"
[ "$(mode_of "$work/sbc-1.key")" = 600 ] || fail "sbc-1.key has mode $(mode_of "$work/sbc-1.key")"
grep -q "acdd's public key: $printed" "$work/added" || fail "acdd's public key not given: $(cat "$work/added")"
grep -q 'networks = \["10.1.0.0/16", "10.2.0.0/24"\]' "$work/added" || fail "networks: $(cat "$work/added")"
client_key=$(sed -n 's/^public_key = "\(.*\)"$/\1/p' "$work/added")
[ "$(public_key_of "$work/sbc-1.key")" = "$client_key" ] || fail "the [[clients]] key is not sbc-1.key's"
sed -n '/^\[\[clients\]\]/,/^$/p' "$work/added" >>"$work/acd.toml"
"$acdctl" config validate "$work/acd.toml" >"$work/out" 2>&1 || fail "the pasted block is not valid: $(cat "$work/out")"
# The same name again: refused, nothing written.
rc=0; "$acdctl" client add sbc-1 --role switch --keys-dir "$work/other" --config "$work/acd.toml" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "already has a client named 'sbc-1'" "$work/err" || fail "duplicate name: exit $rc, $(cat "$work/err")"
[ ! -e "$work/other" ] || fail "something was written for a refused client"
rc=0; "$acdctl" client add sbc-2 --role switch --keys-dir "$work" --config "$work/none.toml" >/dev/null 2>&1 || rc=$?
[ $rc = 0 ] || fail "client add without a configuration exited $rc"
rc=0; "$acdctl" client add sbc-2 --role switch --keys-dir "$work" --config "$work/none.toml" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "never overwritten" "$work/err" || fail "client key overwritten: exit $rc, $(cat "$work/err")"
# Usage errors: nothing written.
for args in "Bad_Name --role switch" "x --role phone" "x --role switch --network 10.1.2.3/16" "x"; do
  rc=0; "$acdctl" client add $args --keys-dir "$work" --config "$work/none.toml" >/dev/null 2>&1 || rc=$?
  [ $rc = 2 ] || fail "client add $args exited $rc"
done
[ ! -e "$work/x.key" ] || fail "a key was written for a refused client"
echo "ok: key files"
