#!/usr/bin/env bash
# The audit trail survives the loss of the primary box: with [audit] on both nodes of a sealed
# pair, operator commands and a refused sign-in made on the primary reach the standby's audit log
# over the replication link; after kill -9 of the primary, the standby's files hold those records
# (with the primary's seq and hash), verify alone, and `acdctl audit verify --match` finds every
# record the primary made in them.
# Usage: audit_ship_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
work=$(mktemp -d)
trap 'stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
pair_setup "$work" "$acdd" "$acdctl" "$default_config"
# Agent 1005's password is not demo-1005 (on both nodes): its sign-in is refused.
echo "not-the-demo-password" | "$acdctl" agent passwd 1005 --credentials "$work/a/credentials" >/dev/null
cp "$work/a/credentials" "$work/b/credentials"
for n in a b; do
  printf '\n[audit]\ndir = "%s/%s/audit"\n' "$work" "$n" >>"$work/$n/acd.toml"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

# On the primary: six agents' sign-ins, the sixth refused; then operator commands.
if "$loadgen" --target "127.0.0.1:$PORT_a" --rate 10 --duration 0.2 --agents 6 2>"$work/bad.err" >/dev/null; then
  pair_fail "a wrong password was accepted"
fi
grep -q "only 5 of 6" "$work/bad.err" || pair_fail "expected only 5 of 6 sign-ins: $(cat "$work/bad.err")"
rc=0; "$acdctl" --socket "$work/a/ctl.sock" agents logout 1001 >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || pair_fail "agents logout exited $rc"
rc=0; "$acdctl" --socket "$work/a/ctl.sock" agents ready 1002 >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || pair_fail "agents ready exited $rc"
"$acdctl" --socket "$work/a/ctl.sock" config reload >/dev/null || pair_fail "config reload on a"

copies() { grep -h '"primary":{' "$work"/b/audit/audit-*.log 2>/dev/null || true; }
# The standby stores them within a few ms of the primary's write (at most 5 s).
for _ in $(seq 100); do copies | grep -q '"kind":"config.reload"' && break; sleep 0.05; done
copies | grep -q '"kind":"config.reload"' || pair_fail "the reload never reached b: $(copies)"

kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
# Epoch 2 on a quiet machine; later when a busy one made a declare b dead and swap epochs first.
wait_log b "promoted: won epoch [0-9]+" 5

# What b holds of a's trail: a's start, the refused sign-in, the commands with their caller, the
# reload. Each names a's seq and hash.
held=$(copies)
grep '"kind":"daemon.start"' <<<"$held" | grep -q '"primary":{"hash":"' || pair_fail "no daemon.start of a on b: $held"
grep '"kind":"agent.sign_in_failed"' <<<"$held" | grep -q '"subject":"agent=1005"' ||
  pair_fail "no refused sign-in of agent 1005 on b: $held"
grep -q '"kind":"agent.sign_in".*"subject":"agent=1000"' <<<"$held" || pair_fail "no sign-in on b: $held"
grep '"kind":"control.command"' <<<"$held" | grep -q "\"actor\":\"uid=$(id -u)" ||
  pair_fail "no operator command with its caller on b: $held"
grep -q '"subject":"agents logout 1001"' <<<"$held" || pair_fail "no logout command on b: $held"
grep -q '"subject":"agents ready 1002"' <<<"$held" || pair_fail "no ready command on b: $held"
"$acdctl" audit verify --dir "$work/b/audit" >"$work/verify.out" 2>&1 ||
  pair_fail "b's audit log does not verify: $(cat "$work/verify.out")"
grep -q "chain intact" "$work/verify.out" || pair_fail "verify said: $(cat "$work/verify.out")"
# Every record a made, up to its kill, is on b unaltered (a was killed: nothing was lost in flight
# because nothing happened on a after the reload reached b).
"$acdctl" audit verify --dir "$work/b/audit" --match "$work/a/audit" >"$work/match.out" 2>&1 ||
  pair_fail "b lacks records of a: $(cat "$work/match.out")"
grep -q "keeps all" "$work/match.out" || pair_fail "match said: $(cat "$work/match.out")"
# And the check can fail: a record of a edited in a copy of its files is not found on b.
cp -r "$work/a/audit" "$work/a-edited"
sed -i '0,/"agents logout 1001"/s//"agents logout 1009"/' "$work"/a-edited/audit-*.log
if "$acdctl" audit verify --dir "$work/b/audit" --match "$work/a-edited" >"$work/match2.out" 2>&1; then
  pair_fail "an edited record of a was matched: $(cat "$work/match2.out")"
fi
echo "PASS: b keeps a's audit trail after a's loss"
