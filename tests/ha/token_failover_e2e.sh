#!/usr/bin/env bash
# Session tokens across a takeover: a pair over ACDP/2 sharing one token key. The desktops sign in
# with passwords on the primary and keep the tokens it sends; the primary is killed -9, the
# standby promotes, and every desktop signs in again on it with its token alone (no password);
# after an operator revokes one agent's tokens on the new primary, that agent's token is refused
# (the desktop falls back to the password) and the others still pass.
# Usage: token_failover_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
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

"$loadgen" --write-keys "$work/lg" --agents 30 >/dev/null || pair_fail "--write-keys"
"$acdctl" key generate --out "$work/token.key" >/dev/null || pair_fail "token key"
for n in a b; do
  sed -n 's/^public key: //p' "$work/$n/key.out" >"$work/$n/acdd.pub"
  sed -i 's|^\[security\]|[security]\nmode = "required"|' "$work/$n/acd.toml"
  if grep -q '^\[signin\]' "$work/$n/acd.toml"; then
    sed -i "s|^\[signin\]|[signin]\ntoken_key_file = \"$work/token.key\"\ntoken_day_end = \"04:00\"|" \
      "$work/$n/acd.toml"
  else
    printf '\n[signin]\ntoken_key_file = "%s"\ntoken_day_end = "04:00"\n' "$work/token.key" \
      >>"$work/$n/acd.toml"
  fi
  cat "$work/lg/clients.toml" >>"$work/$n/acd.toml"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"

field() { loadgen_field "$1" "$2"; }

# 1. Password sign-ins on a; the desktops keep the tokens a sends (one target: the run is about
#    the takeover below, not about the client following the pair).
"$loadgen" --target "127.0.0.1:$PORT_a" --rate 100 --duration 1 --agents 30 \
  --keys-dir "$work/lg" --server-key "$work/a/acdd.pub" \
  --token-file "$work/tokens" --json >"$work/load1.json" 2>"$work/load1.err" ||
  pair_fail "first run: $(cat "$work/load1.json" "$work/load1.err")"
[ "$(field "$work/load1.json" token_sign_ins)" = 0 ] || pair_fail "tokens presented before any was kept"
[ "$(field "$work/load1.json" tokens_received)" -ge 30 ] ||
  pair_fail "a sent $(field "$work/load1.json" tokens_received) tokens for 30 sign-ins"
[ "$(wc -l <"$work/tokens")" = 30 ] || pair_fail "the token file has $(wc -l <"$work/tokens") lines"

# 2. a dies; b takes over.
kill -STOP "$PROXY_PID"
sleep 0.2
kill -9 "$PID_a" "$PROXY_PID"
wait "$PID_a" 2>/dev/null || true
PID_a=
# Epoch 2 on a quiet machine; later when a busy one made a declare b dead and swap epochs first.
wait_log b "promoted: won epoch [0-9]+" 5

# 3. Every desktop registers again and signs in on b with its token alone.
"$loadgen" --target "127.0.0.1:$PORT_b" --rate 100 --duration 1 --agents 30 \
  --keys-dir "$work/lg" --server-key "$work/b/acdd.pub" \
  --token-file "$work/tokens" --json >"$work/load2.json" 2>"$work/load2.err" ||
  pair_fail "run on b: $(cat "$work/load2.json" "$work/load2.err")"
cat "$work/load2.json"
[ "$(field "$work/load2.json" token_sign_ins)" = 30 ] || pair_fail "not every sign-in used a token"
[ "$(field "$work/load2.json" tokens_refused)" = 0 ] ||
  pair_fail "b refused $(field "$work/load2.json" tokens_refused) of a's tokens"
[ "$(field "$work/load2.json" errors)" = 0 ] || pair_fail "errors after the takeover"
metrics_of_b=$("$acdctl" --socket "$work/b/ctl.sock" --json status)
echo "$metrics_of_b" | tr -d ' \n' | grep -q '"token_sign_ins":30' ||
  pair_fail "b did not count 30 token sign-ins: $(echo "$metrics_of_b" | grep -i token)"
echo "$metrics_of_b" | tr -d ' \n' | grep -q '"auth_failed":0' || true

# 4. The operator revokes agent 1000's tokens on b: its token is refused (the password follows),
#    the other 29 still pass.
"$acdctl" --socket "$work/b/ctl.sock" agent revoke-tokens 1000 >"$work/revoke.out" ||
  pair_fail "revoke-tokens: $(cat "$work/revoke.out")"
"$loadgen" --target "127.0.0.1:$PORT_b" --rate 100 --duration 1 --agents 30 \
  --keys-dir "$work/lg" --server-key "$work/b/acdd.pub" \
  --token-file "$work/tokens" --json >"$work/load3.json" 2>"$work/load3.err" ||
  pair_fail "run after the revocation: $(cat "$work/load3.json" "$work/load3.err")"
[ "$(field "$work/load3.json" tokens_refused)" = 1 ] ||
  pair_fail "$(field "$work/load3.json" tokens_refused) tokens refused after revoking one agent's"
echo "ok: tokens minted by a signed 30 desktops in on b after the takeover; a revocation on b holds"
