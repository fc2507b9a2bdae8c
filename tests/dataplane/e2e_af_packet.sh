#!/usr/bin/env bash
# acdd on DPDK's net_af_packet driver, bound to one end of a veth pair; acd-loadgen in a network
# namespace the test creates, on the other end, through the kernel's own IPv4/UDP stack (which
# ARPs for acdd's address first). Every call sent must be routed to an agent exactly once, with no
# error, and acdd must stop with status 0. Twice: in clear text (ACDP/1, the embedded
# configuration), then with [security] mode = "required" (ACDP/2: the load generator's clients
# handshake and seal every datagram through the poll-mode path). Needs root (CI runs it as root);
# cleans up.
# Usage: e2e_af_packet.sh ACDD LOADGEN ACDCTL
set -euo pipefail
acdd=$1 loadgen=$2 acdctl=$3
source "$(dirname "$0")/../require.sh"
source "$(dirname "$0")/../loadgen_lib.sh"
require_root
require_tools ip
ns=acdtest$$ host_if=acdv$$a peer_if=acdv$$b
work=$(mktemp -d)
cleanup() {
  [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$host_if" type veth peer name "$peer_if"
ip link set "$peer_if" netns "$ns"
ip link set "$host_if" up
ip -n "$ns" addr add 10.77.0.2/24 dev "$peer_if"
ip -n "$ns" link set "$peer_if" up
ip -n "$ns" link set lo up
# run NAME [acdd options...] -- [loadgen options...]: acdd on the veth (the host end carries no
# address: acdd, via AF_PACKET, owns 10.77.0.1 and answers ARP for it), the load generator in the
# namespace; every call routed once, acdd stops cleanly with no call left.
run() {
  local name=$1
  shift
  local acdd_args=()
  while [ "$1" != -- ]; do acdd_args+=("$1"); shift; done
  shift
  "$acdd" "${acdd_args[@]}" --backend dpdk --listen 10.77.0.1:7070 --cores 0 \
    --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 \
    --dpdk-args "--no-huge --no-pci -m 256 --no-shconf --log-level=lib.eal:error --vdev=net_af_packet0,iface=$host_if" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  sleep 2
  kill -0 "$pid" || { cat "$work/$name.err"; exit 1; }
  ip netns exec "$ns" "$loadgen" --target 10.77.0.1:7070 --rate 1000 --duration 2 --agents 40 "$@" \
    --json | tee "$work/$name.json"
  expect_every_call_routed "$work/$name.json" || { cat "$work/$name.err"; exit 1; }
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=
  cat "$work/$name.err"
  [ "$rc" = 0 ] || { echo "$name: acdd exited with status $rc on SIGTERM"; exit 1; }
  grep -q "calls in engine=0" "$work/$name.err" || { echo "$name: calls left in the engine"; exit 1; }
  echo "ok ($name): $(loadgen_field "$work/$name.json" sent) calls routed over DPDK af_packet on a veth pair"
}
run clear --

# ACDP/2: acdd's key, the generator's client keys, the agents' passwords, [security] required.
"$acdctl" key generate --out "$work/acdd.key" >"$work/keygen"
sed -n 's/^public key: //p' "$work/keygen" >"$work/acdd.pub"
"$loadgen" --write-keys "$work/lg" --agents 40 >/dev/null
for id in $(seq 1000 1039); do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" --cost minimal >/dev/null
done
sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
  "$(dirname "$0")/../../control/default/acd.toml" >"$work/secure.toml"
printf '\n[security]\nmode = "required"\nkey_file = "%s"\n' "$work/acdd.key" >>"$work/secure.toml"
cat "$work/lg/clients.toml" >>"$work/secure.toml"
run secure --config "$work/secure.toml" -- --keys-dir "$work/lg" --server-key "$work/acdd.pub"
grep -q "ACDP/2 required" "$work/secure.out" || { echo "secure: acdd did not require ACDP/2"; exit 1; }
