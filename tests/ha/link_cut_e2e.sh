#!/usr/bin/env bash
# The replication link between the two nodes is cut for real (`ip link set down` on a veth pair)
# while clients call through both nodes and etcd stays reachable from both (docs/ha.md, "the link
# between the nodes is cut"): the swap for the next epoch in etcd decides, exactly one node routes
# on, no call is lost or routed twice, no epoch is heard from two nodes; once the link is up again
# the loser follows the winner (a fenced primary exits 3 and is started again as a standby, as
# systemd does; a standby that lost the swap reconnects by itself) and the pair is synchronous.
# Two cuts in a row: the second proves that a pair that rejoined after a cut survives the next.
# Either outcome is accepted, as docs/ha.md allows both; in practice the primary wins, since it
# tries the swap as soon as acknowledgements stop for dead_after_ms, while the standby first drops
# the silent link (dead_after_ms) and then waits dead_after_ms more before trying.
#
# Topology, all in namespaces the test creates and deletes (no address outside them is used):
#   namespace A: node a, etcd, acd-loadgen        namespace B: node b
#   lan  veth  10.78.2.1/24  <---------------->  10.78.2.2/24   clients and etcd
#   repl veth  10.78.1.1/24  <---------------->  10.78.1.2/24   replication only (the one cut)
# Needs root; skips only where network namespaces or veth pairs cannot be made.
# Usage: link_cut_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG [CORES]
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 cores=${5:-0}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../require.sh"

if [ -z "${LINK_CUT_NS_B:-}" ]; then
  # Outside: build the namespaces and links, then run this script again inside namespace A.
  require_root
  require_tools ip etcd etcdctl python3
  ns_a=acdcut$$a ns_b=acdcut$$b
  inner=
  cleanup() {
    [ -z "$inner" ] || { kill -TERM "$inner" 2>/dev/null; wait "$inner" 2>/dev/null; } || true
    # Deleting a namespace deletes the veth ends in it, and so both pairs.
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
  }
  trap cleanup EXIT
  trap 'exit 1' TERM INT
  ip netns add "$ns_a" 2>/dev/null || skip "cannot create a network namespace (ip netns add)"
  ip netns add "$ns_b" 2>/dev/null || skip "cannot create a second network namespace"
  ip -n "$ns_a" link add lan type veth peer name lan netns "$ns_b" 2>/dev/null &&
    ip -n "$ns_a" link add repl type veth peer name repl netns "$ns_b" 2>/dev/null ||
    skip "cannot create a veth pair between network namespaces"
  for ns in "$ns_a" "$ns_b"; do
    [ "$ns" = "$ns_a" ] && host=1 || host=2
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.78.2.$host/24" dev lan
    ip -n "$ns" addr add "10.78.1.$host/24" dev repl
    ip -n "$ns" link set dev lan up
    ip -n "$ns" link set dev repl up
  done
  LINK_CUT_NS_B=$ns_b ip netns exec "$ns_a" "$0" "$@" &
  inner=$!
  rc=0
  wait "$inner" || rc=$?
  inner=
  exit "$rc"
fi

# Inside namespace A.
source "$here/../loadgen_lib.sh"
source "$here/../etcd_lib.sh"
source "$here/pair_lib.sh"
ns_b=$LINK_CUT_NS_B
work=$(mktemp -d)
trap 'stop_pair; rm -rf "$work"' EXIT
trap 'exit 1' TERM INT
PAIR_ADDR_a=10.78.2.1 PAIR_ADDR_b=10.78.2.2 PAIR_LINK_a=10.78.1.1 PAIR_LINK_b=10.78.1.2
PAIR_NETNS_b=$ns_b PAIR_ETCD_ADDR=10.78.2.1
pair_setup "$work" "$acdd" "$acdctl" "$default_config" "$cores"
[ -z "${PROXY_PID:-}" ] || pair_fail "the pair should use the veth link, not a relay"

field() {  # field NODE NAME: a value of `acdctl ha status`
  ha_json "$1" | sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p"
}
expect_role() {  # expect_role NODE ROLE EPOCH
  [ "$(field "$1" role)" = "$2" ] && [ "$(field "$1" epoch)" = "$3" ] ||
    pair_fail "node $1 should be $2 at epoch $3: $(ha_json "$1")"
}
etcd_record() {  # etcd's epoch record, as the nodes swap it: {"epoch":E,"holder":"node-X"}
  ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" get --print-value-only /acd-test/epoch
}
wait_exit() {  # wait_exit PID STATUS: the node exits with STATUS within 5 s
  local rc=0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  wait "$1" || rc=$?
  [ "$rc" = "$2" ] || pair_fail "a node exited with $rc, not $2"
}
repl_link() {  # repl_link up|down: the replication veth, from node b's end (the other end loses carrier)
  ip -n "$ns_b" link set dev repl "$1"
}

start_node a primary
wait_log a "ha: primary with epoch 1"
start_node b standby
wait_log a "standby synchronous at seq [1-9]" 15
[ "$(etcd_record)" = '{"epoch":1,"holder":"node-a"}' ] || pair_fail "etcd holds $(etcd_record)"

primary=a standby=b epoch=1 outcomes=""
for cut in 1 2; do
  next=$((epoch + 1))
  : >"$work/a/err"
  : >"$work/b/err"
  "$loadgen" --target "10.78.2.1:$PORT_a,10.78.2.2:$PORT_b" --rate 300 --duration 5 --agents 30 \
    --talk-ms 50 --settle-s 15 --json >"$work/cut$cut.json" 2>"$work/cut$cut.err" &
  load_pid=$!
  sleep 1.5
  repl_link down
  for _ in $(seq 200); do
    grep -qE "won epoch $next" "$work/a/err" "$work/b/err" && break
    sleep 0.05
  done
  if grep -q "won epoch $next: routing alone" "$work/$primary/err"; then
    winner=$primary loser=$standby
    sleep 0.5  # the standby may try the swap meanwhile, and lose it: it stays a standby
    eval "loser_pid=\$PID_$loser"
    kill -0 "$loser_pid" || pair_fail "the standby $loser stopped after losing the swap"
    [ "$(field "$loser" role)" = standby ] || pair_fail "$loser should stand by: $(ha_json "$loser")"
  elif grep -q "promoted: won epoch $next" "$work/$standby/err"; then
    winner=$standby loser=$primary
    eval "wait_exit \$PID_$loser 3"
    eval "PID_$loser="
    grep -q "lost the epoch to node-$winner" "$work/$loser/err" ||
      pair_fail "the old primary $loser did not say it lost the epoch"
  else
    pair_fail "nobody won epoch $next within 10 s of the link cut"
  fi
  grep -q "won epoch $next" "$work/$loser/err" && pair_fail "both nodes say they won epoch $next"
  record=$(etcd_record)
  [ "$record" = "{\"epoch\":$next,\"holder\":\"node-$winner\"}" ] ||
    pair_fail "etcd holds $record, not epoch $next held by $winner"
  expect_role "$winner" primary-alone "$next"

  wait "$load_pid" || pair_fail "load through cut $cut failed: $(cat "$work/cut$cut.json" "$work/cut$cut.err")"
  expect_every_call_routed "$work/cut$cut.json" || pair_fail "cut $cut: calls lost or doubled"
  [ "$(loadgen_field "$work/cut$cut.json" epoch_conflicts)" = 0 ] ||
    pair_fail "cut $cut: replies of two nodes carried one epoch"
  [ "$(loadgen_field "$work/cut$cut.json" epoch_regressions)" = 0 ] ||
    pair_fail "cut $cut: a reply carried an epoch older than one already heard"

  # The link comes back: the loser follows the winner again.
  repl_link up
  [ "$winner" = "$standby" ] && start_node "$loser" standby
  wait_log "$winner" "standby synchronous at seq [1-9]" 20
  expect_role "$winner" primary "$next"
  [ "$(field "$loser" role)" = standby ] || pair_fail "$loser should follow $winner: $(ha_json "$loser")"
  outcomes="$outcomes cut $cut: node $winner won epoch $next;"
  primary=$winner standby=$loser epoch=$next
done
echo "ok: the replication link cut twice with ip link set down;${outcomes%;}, the other followed it" \
  "again once the link was up; every call routed exactly once, no epoch heard from two nodes"
