#!/usr/bin/env bash
# acdd on DPDK's net_af_packet driver, bound to one end of a veth pair; acd-loadgen in a network
# namespace the test creates, on the other end, through the kernel's own IPv4/UDP stack (which
# ARPs for acdd's address first). Every call sent must be routed to an agent exactly once, with no
# error, and acdd must stop with status 0. Needs root (CI runs it as root); cleans up.
# Usage: e2e_af_packet.sh ACDD LOADGEN
set -euo pipefail
acdd=$1 loadgen=$2
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
# The host end carries no address: acdd (via AF_PACKET) owns 10.77.0.1 and answers ARP for it.
"$acdd" --backend dpdk --listen 10.77.0.1:7070 --cores 0 --control-socket "$work/ctl.sock" --metrics 127.0.0.1:0 \
  --dpdk-args "--no-huge --no-pci -m 256 --no-shconf --log-level=lib.eal:error --vdev=net_af_packet0,iface=$host_if" \
  >"$work/acdd.out" 2>"$work/acdd.err" &
pid=$!
sleep 2
kill -0 "$pid" || { cat "$work/acdd.err"; exit 1; }
ip netns exec "$ns" "$loadgen" --target 10.77.0.1:7070 --rate 1000 --duration 2 --agents 40 --json \
  | tee "$work/result.json"
expect_every_call_routed "$work/result.json" || { cat "$work/acdd.err"; exit 1; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
cat "$work/acdd.err"
[ "$rc" = 0 ] || { echo "acdd exited with status $rc on SIGTERM"; exit 1; }
grep -q "calls in engine=0" "$work/acdd.err" || { echo "calls left in the engine"; exit 1; }
echo "ok: $(loadgen_field "$work/result.json" sent) calls routed over DPDK af_packet on a veth pair"
