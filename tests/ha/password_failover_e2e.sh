#!/usr/bin/env bash
# A password changed on the primary holds after a takeover: a pair over ACDP/2; three desktops
# sign in on the primary and change their agents' passwords (PasswordChange); the primary is
# killed -9, the standby promotes, and on it the new passwords sign in while the old ones are
# refused (AuthFailed). The standby stored the change in its own credential file from the log.
# Usage: password_failover_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
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
pair_setup "$work" "$acdd" "$acdctl" "$default_config" 0

"$loadgen" --write-keys "$work/lg" --agents 3 >/dev/null || pair_fail "--write-keys"
for n in a b; do
  sed -n 's/^public key: //p' "$work/$n/key.out" >"$work/$n/acdd.pub"
  sed -i 's|^\[security\]|[security]\nmode = "required"|' "$work/$n/acd.toml"
  cat "$work/lg/clients.toml" >>"$work/$n/acd.toml"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done
cp "$work/b/credentials" "$work/b.credentials.before"

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

field() { loadgen_field "$1" "$2"; }
run() {  # run NODE NAME ARGS...: one short load against NODE, its JSON in $work/NAME.json
  local n=$1 name=$2 port
  shift 2
  eval "port=\$PORT_$n"
  "$loadgen" --target "127.0.0.1:$port" --rate 50 --duration 0.5 --agents 3 \
    --keys-dir "$work/lg" --server-key "$work/$n/acdd.pub" --signin-timeout 20 --json "$@" \
    >"$work/$name.json" 2>"$work/$name.err"
}

# 1. On a: sign in with demo-<ID>, then change every agent's password (the policy forbids one
#    holding the agent's ID, so all get the same new one).
run a change --change-password 'Chosen-pass-2026!' ||
  pair_fail "password change on a: $(cat "$work/change.json" "$work/change.err")"
[ "$(field "$work/change.json" password_changes)" = 3 ] ||
  pair_fail "a changed $(field "$work/change.json" password_changes) of 3 passwords"

# 2. b stores the changes from the log (its own file): wait for the writer, then a dies.
for _ in $(seq 100); do
  cmp -s "$work/b/credentials" "$work/b.credentials.before" || break
  sleep 0.05
done
cmp -s "$work/b/credentials" "$work/b.credentials.before" &&
  pair_fail "b's credential file did not change"
kill -STOP "$PROXY_PID"
sleep 0.2
kill -9 "$PID_a" "$PROXY_PID"
wait "$PID_a" 2>/dev/null || true
PID_a=
# Epoch 2 on a quiet machine; later when a busy one made a declare b dead and swap epochs first.
wait_log b "promoted: won epoch [0-9]+" 5

# 3. On b: the new passwords sign in (the agents are still signed in from a's run: each sign-in
#    is checked first, then answered AlreadySignedIn, which the generator counts as done) ...
run b new --password 'Chosen-pass-2026!' ||
  pair_fail "new passwords on b: $(cat "$work/new.json" "$work/new.err")"
[ "$(field "$work/new.json" errors)" = 0 ] || pair_fail "errors with the new passwords on b"
# ... and the old ones are refused.
if run b old --password 'demo-{id}'; then
  pair_fail "b accepted the old passwords: $(cat "$work/old.json")"
fi
grep -q "reason 1006" "$work/old.err" ||
  pair_fail "the old passwords were not refused AuthFailed (1006): $(cat "$work/old.err")"
status=$("$acdctl" --socket "$work/b/ctl.sock" --json status | tr -d ' \n')
echo "$status" | grep -q '"auth_failed":3' ||
  pair_fail "b did not count 3 refused sign-ins: $(echo "$status" | grep -o '"auth_failed":[0-9]*')"
echo "ok: 3 passwords changed on a; after the takeover b signs them in with the new passwords and refuses the old"
