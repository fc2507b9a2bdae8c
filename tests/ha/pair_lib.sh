# A hot-standby pair for a test script (sourced after require.sh, loadgen_lib.sh, etcd_lib.sh):
# two acdd on loopback, one etcd, each node with its own journal, control socket and log.
#
# pair_setup WORK ACDD ACDCTL DEFAULT_CONFIG [CORES]: starts etcd and writes work/a and work/b
#   (acd.toml, credentials for agents 1000..1029 with the demo passwords, each node's key pair
#   with the other's public key, so the replication link is sealed; PAIR_SEALED=0 before it keeps
#   the link in clear text). Sets PORT_a, PORT_b
#   (ACDP), REPL_a, REPL_b (replication), PROXY_PID: the relay b's link to a goes through.
#   Set before it, for nodes in network namespaces (tests/ha/link_cut_e2e.sh): PAIR_ADDR_a,
#   PAIR_ADDR_b (where each node serves ACDP; default 127.0.0.1), PAIR_LINK_a, PAIR_LINK_b (where
#   each serves replication; both given: b reaches a directly, no relay), PAIR_NETNS_b (the
#   namespace node b runs in), PAIR_ETCD_ADDR (an address etcd serves on besides loopback).
# start_node N [ROLE]: starts node N (a or b) with ha.start_as = ROLE (default: standby); sets
#   PID_a / PID_b. Its output: work/N/out, work/N/err.
# wait_log N FILE PATTERN [SECONDS]: waits until node N's out or err shows PATTERN.
# ha_json N: `acdctl --json ha status` of node N.
# stop_pair: stops every process the pair started (the EXIT trap calls it).

pair_fail() { echo "FAIL: $*"; pair_dump; exit 1; }

pair_dump() {
  local n
  for n in a b c d e; do  # the pair, and the nodes of other sites the script started
    [ -d "$PAIR_WORK/$n" ] || continue
    echo "--- node $n stdout:"; tail -20 "$PAIR_WORK/$n/out" 2>/dev/null || true
    echo "--- node $n stderr:"; grep -v "sending an image" "$PAIR_WORK/$n/err" | tail -20 || true
    [ -S "$PAIR_WORK/$n/ctl.sock" ] && ha_json $n 2>/dev/null | tr -d '\n ' && echo
  done
}

pair_setup() {
  PAIR_WORK=$1
  PAIR_ACDD=$2
  PAIR_ACDCTL=$3
  local default_config=$4 cores=${5:-0}
  start_etcd "$PAIR_WORK/etcd" ${PAIR_ETCD_ADDR:-} || exit 1
  read -r PORT_a PORT_b REPL_a REPL_b PROXY < <(free_loopback_ports 5)
  local addr_a=${PAIR_ADDR_a:-127.0.0.1} addr_b=${PAIR_ADDR_b:-127.0.0.1}
  local link_a=${PAIR_LINK_a:-127.0.0.1} link_b=${PAIR_LINK_b:-127.0.0.1} b_to_a
  if [ -n "${PAIR_LINK_a:-}" ] && [ -n "${PAIR_LINK_b:-}" ]; then
    b_to_a="$link_a:$REPL_a"  # a real link between the namespaces: the test cuts it with ip link
  else
    # b reaches a's replication address through a relay the test can freeze and cut (link_proxy.py).
    python3 "$(dirname "${BASH_SOURCE[0]}")/link_proxy.py" "$PROXY" "$REPL_a" &
    PROXY_PID=$!
    b_to_a="127.0.0.1:$PROXY"
  fi
  mkdir -p "$PAIR_WORK/a" "$PAIR_WORK/b"
  for id in $(seq 1000 1029); do
    echo "demo-$id" | "$PAIR_ACDCTL" agent passwd "$id" --credentials "$PAIR_WORK/a/credentials" --cost minimal >/dev/null
  done
  cp "$PAIR_WORK/a/credentials" "$PAIR_WORK/b/credentials"
  local public_a="" public_b=""
  for n in a b; do
    [ "${PAIR_SEALED:-1}" = 1 ] || break
    "$PAIR_ACDCTL" key generate --out "$PAIR_WORK/$n/node.key" >"$PAIR_WORK/$n/key.out" ||
      pair_fail "acdctl key generate for node $n"
    eval "public_$n=\$(sed -n 's/^public key: //p' \"\$PAIR_WORK/$n/key.out\")"
  done
  [ "${PAIR_SEALED:-1}" != 1 ] || { [ -n "$public_a" ] && [ -n "$public_b" ]; } ||
    pair_fail "no public key printed"
  local n port repl other_port other_repl other_public
  for n in a b; do
    if [ $n = a ]; then port="$addr_a:$PORT_a" repl="$link_a:$REPL_a" other_port="$addr_b:$PORT_b"
      other_repl="$link_b:$REPL_b" other_public=$public_b
    else port="$addr_b:$PORT_b" repl="$link_b:$REPL_b" other_port="$addr_a:$PORT_a"
      other_repl=$b_to_a other_public=$public_a; fi
    sed -e "s|^socket = .*|socket = \"$PAIR_WORK/$n/ctl.sock\"|" \
        -e "s|^credentials = .*|credentials = \"$PAIR_WORK/$n/credentials\"|" \
        -e "s|^listen = \"127.0.0.1:7070\"|listen = \"$port\"|" \
        -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' \
        -e "s|^cores = \\[0\\]|cores = [$cores]|" "$default_config" >"$PAIR_WORK/$n/acd.toml"
    cat >>"$PAIR_WORK/$n/acd.toml" <<EOF

[journal]
dir = "$PAIR_WORK/$n/journal"
snapshot_every_s = 60

[ha]
node = "node-$n"
replication_listen = "$repl"
peer = "$other_repl"
peer_dataplane = "$other_port"
etcd = ["$ETCD_ENDPOINT"]
etcd_key = "/acd-test/epoch"
heartbeat_ms = 20
dead_after_ms = 250
hash_every = 500
EOF
    if [ "${PAIR_SEALED:-1}" = 1 ]; then
      sed -i "s|^\[journal\]|[security]\nkey_file = \"$PAIR_WORK/$n/node.key\"\n\n[journal]|" \
        "$PAIR_WORK/$n/acd.toml"
      echo "peer_public_key = \"$other_public\"" >>"$PAIR_WORK/$n/acd.toml"
    fi
    "$PAIR_ACDD" --check-config "$PAIR_WORK/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
  done
}

start_node() {
  local n=$1 role=${2:-standby}
  sed -i "s|^start_as = .*||" "$PAIR_WORK/$n/acd.toml"
  sed -i "s|^\[ha\]|[ha]\nstart_as = \"$role\"|" "$PAIR_WORK/$n/acd.toml"
  local netns="" clock_shift
  [ $n != b ] || netns=${PAIR_NETNS_b:-}
  # PAIR_CLOCK_SHIFT_<n> (seconds, once): this start of node n runs in a time namespace whose
  # monotonic clock reads that much ahead, as another machine's steady clock would.
  eval "clock_shift=\${PAIR_CLOCK_SHIFT_$n:-}; PAIR_CLOCK_SHIFT_$n="
  # `ip netns exec` and `unshare` exec acdd: the PID is acdd's.
  ${netns:+ip netns exec "$netns"} ${clock_shift:+unshare --time --monotonic "$clock_shift"} \
    "$PAIR_ACDD" --config "$PAIR_WORK/$n/acd.toml" \
    >>"$PAIR_WORK/$n/out" 2>>"$PAIR_WORK/$n/err" &
  eval "PID_$n=$!"
}

wait_log() {
  local n=$1 pattern=$2 seconds=${3:-10} i
  for i in $(seq $((seconds * 20))); do
    grep -qE -- "$pattern" "$PAIR_WORK/$n/out" "$PAIR_WORK/$n/err" 2>/dev/null && return 0
    sleep 0.05
  done
  pair_fail "node $n did not log '$pattern' within $seconds s"
}

ha_json() {
  "$PAIR_ACDCTL" --socket "$PAIR_WORK/$1/ctl.sock" --json ha status
}

stop_pair() {
  kill -9 ${PID_a:-} ${PID_b:-} ${PROXY_PID:-} 2>/dev/null || true
  kill -CONT ${PID_a:-} ${PID_b:-} 2>/dev/null || true
  # Only the nodes: `wait` with no process named would wait for etcd, which stops after.
  [ -z "${PID_a:-}${PID_b:-}" ] || wait ${PID_a:-} ${PID_b:-} 2>/dev/null || true
  stop_etcd
}
