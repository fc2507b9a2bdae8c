#!/usr/bin/env bash
# Hot standby over ACDP/2: two acdd with security.mode = "required" (each node its own key), the
# load generator keeping a session with each node (--server-key A,B). The primary is killed -9
# under load: every call is still routed exactly once with no error, the standby promotes, and the
# client switches to it (its NotPrimary answers and takeover announcement reach the client sealed
# with the client's session at that node; nothing clear-text is taken).
# Usage: secure_failover_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG
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

# Each node its own key (the one pair_setup made to seal the replication link, in [security]);
# the load generator's 62 clients (32 switches, 30 desktops) on both.
"$loadgen" --write-keys "$work/lg" --agents 30 >/dev/null || pair_fail "--write-keys"
for n in a b; do
  sed -n 's/^public key: //p' "$work/$n/key.out" >"$work/$n/acdd.pub"
  [ -s "$work/$n/acdd.pub" ] || pair_fail "no public key for node $n"
  grep -q '^\[security\]' "$work/$n/acd.toml" || pair_fail "pair_setup gave node $n no [security] table"
  sed -i 's|^\[security\]|[security]\nmode = "required"|' "$work/$n/acd.toml"
  cat "$work/lg/clients.toml" >>"$work/$n/acd.toml"
  "$acdd" --check-config "$work/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
done

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous"
grep -q "ACDP/2 required: 62 clients" "$work/b/out" || pair_fail "b does not require ACDP/2"

"$loadgen" --target "127.0.0.1:$PORT_a,127.0.0.1:$PORT_b" --rate 200 --duration 4 --agents 30 \
  --talk-ms 50 --keys-dir "$work/lg" --server-key "$work/a/acdd.pub,$work/b/acdd.pub" \
  --json >"$work/load.json" 2>"$work/load.err" &
load=$!
for _ in $(seq 600); do grep -qs "load starts" "$work/load.err" && break; sleep 0.05; done
sleep 0.5
kill -STOP "$PROXY_PID"
sleep 0.2
kill -9 "$PID_a" "$PROXY_PID"
wait "$PID_a" 2>/dev/null || true
PID_a=
wait_log b "promoted: won epoch 2" 5
wait "$load" || pair_fail "the load generator failed: $(cat "$work/load.json" "$work/load.err")"
cat "$work/load.json"
expect_every_call_routed "$work/load.json" || pair_fail "calls lost or doubled across the failover"
[ "$(loadgen_field "$work/load.json" epoch_conflicts)" = 0 ] || pair_fail "two nodes emitted for one epoch"
[ "$(loadgen_field "$work/load.json" failovers)" -ge 1 ] || pair_fail "the load generator never failed over"
grep -q '"epoch": 2' "$work/load.json" || pair_fail "the client never heard epoch 2 (sealed by b)"
# Both nodes gave every client a session before the load (b as standby): b's NotPrimary and its
# takeover announcement could reach them sealed.
tr -d ' \n' <"$work/load.json" | grep -q '"sessions_at_start":\[62,62\]' ||
  pair_fail "not every client had a session with both nodes: $(grep -A3 sessions_at_start "$work/load.json")"
ha_json b | grep -q '"role": "primary-alone"' || pair_fail "b is not primary: $(ha_json b)"
echo "ok: failover over ACDP/2 with every call routed once; the client followed b's sealed datagrams"
