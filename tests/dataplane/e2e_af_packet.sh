#!/usr/bin/env bash
# acdd on DPDK's net_af_packet driver, bound to one end of a veth pair; acd-loadgen in a network
# namespace the test creates, on the other end, through the kernel's own IPv4/UDP stack (which
# ARPs for acdd's address first). Every call must be routed exactly once. Needs root; cleans up.
# Usage: e2e_af_packet.sh ACDD LOADGEN
set -euo pipefail
acdd=$1 loadgen=$2
[ "$(id -u)" = 0 ] || { echo "needs root: skipped"; exit 77; }
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
for field in '"lost": 0,' '"duplicates": 0,' '"rejected": 0,'; do
  grep -q "$field" "$work/result.json" || { echo "expected $field"; cat "$work/acdd.err"; exit 1; }
done
kill -TERM "$pid"
wait "$pid"
pid=
cat "$work/acdd.err"
grep -q "calls in engine=0" "$work/acdd.err"
echo "ok: routed over DPDK af_packet on a veth pair"
