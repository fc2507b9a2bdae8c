# Disaster recovery between sites for a test script (sourced after pair_lib.sh, once pair_setup
# has run): the pair (site "demo-1", active) serves a DR follower, node d (site "demo-dr", its
# own journal, control socket and audit log), which follows it over loopback in clear text.
#
# dr_setup: writes [site] and [[sites]] into the pair's files and work/d/acd.toml. Sets PORT_d
#   (d's ACDP), DR_a, DR_b (where a and b serve the DR follower).
# start_dr: starts d; sets PID_d. Its output: work/d/out, work/d/err.
# dr_json N: `acdctl --json dr status` of node N.
# dr_field N NAME: the number NAME of node N's dr status (empty if absent).
# stop_dr: stops d (the EXIT trap calls it before stop_pair).
# dr_pair_setup [E_TO_D]: makes d the first node of a DR pair (an [ha] table with the pair's own
#   key, /acd-test/dr-epoch) and writes work/e/acd.toml, the other node: d's file with e's places.
#   E_TO_D: the port e reaches d's pair link at (default d's own; a relay's in a test that freezes
#   the link). DR_PAIR_DEAD_AFTER_MS (default 250) before it: the pair's dead_after_ms. A line
#   `replication_listen = "127.0.0.1:DRS_d"` in d's [site] becomes DRS_e's in e's when DRS_e is set.
#   Sets PORT_e (e's ACDP), PR_d, PR_e (the pair's links).
# start_dr_node N ROLE: starts node N (d or e) with ha.start_as = ROLE; sets PID_N.
# stop_e: stops e (the EXIT trap calls it before stop_dr).
# etcd_value KEY: the value of KEY in the test's etcd.

dr_setup() {
  read -r PORT_d DR_a DR_b < <(free_loopback_ports 3)
  local n dr
  for n in a b; do
    [ $n = a ] && dr=$DR_a || dr=$DR_b
    sed -i -e '/^site = /d' -e '/^sites = /d' "$PAIR_WORK/$n/acd.toml"
    cat >>"$PAIR_WORK/$n/acd.toml" <<EOT

[site]
name = "demo-1"
role = "active"
replication_listen = "127.0.0.1:$dr"

[[sites]]
name = "demo-dr"
role = "dr"
dataplane = ["127.0.0.1:$PORT_d"]
EOT
    "$PAIR_ACDD" --check-config "$PAIR_WORK/$n/acd.toml" >/dev/null || pair_fail "node $n's configuration"
  done
  mkdir -p "$PAIR_WORK/d"
  cp "$PAIR_WORK/a/credentials" "$PAIR_WORK/d/credentials"
  # The pair's file without [ha] and [site] (and its [security], whose key is a's): d's own.
  sed -e '/^\[security\]/,$d' -e '/^\[journal\]/,$d' \
      -e "s|^socket = .*|socket = \"$PAIR_WORK/d/ctl.sock\"|" \
      -e "s|^credentials = .*|credentials = \"$PAIR_WORK/d/credentials\"|" \
      -e "s|^listen = \"127.0.0.1:$PORT_a\"|listen = \"127.0.0.1:$PORT_d\"|" \
      -e 's|target = "demo-dr"|target = "demo-1"|' "$PAIR_WORK/a/acd.toml" >"$PAIR_WORK/d/acd.toml"
  cat >>"$PAIR_WORK/d/acd.toml" <<EOT

# Not synced: on a shared test machine a follower polling for its own fdatasync takes the CPU the
# active site needs (the DR follower's acknowledgements gate nothing anyway).
[journal]
dir = "$PAIR_WORK/d/journal"
sync = false

[audit]
dir = "$PAIR_WORK/d/audit"

[site]
name = "demo-dr"
role = "dr"

[[sites]]
name = "demo-1"
role = "active"
dataplane = ["127.0.0.1:$PORT_a", "127.0.0.1:$PORT_b"]
replication = ["127.0.0.1:$DR_a", "127.0.0.1:$DR_b"]
etcd = ["$ETCD_ENDPOINT"]
etcd_key = "/acd-test/epoch"
EOT
  "$PAIR_ACDD" --check-config "$PAIR_WORK/d/acd.toml" >/dev/null || pair_fail "node d's configuration"
}

start_dr() {
  "$PAIR_ACDD" --config "$PAIR_WORK/d/acd.toml" >>"$PAIR_WORK/d/out" 2>>"$PAIR_WORK/d/err" &
  PID_d=$!
}

dr_json() {
  "$PAIR_ACDCTL" --socket "$PAIR_WORK/$1/ctl.sock" --json dr status
}

dr_field() {
  dr_json "$1" 2>/dev/null | sed -n "s/^ *\"$2\": \([0-9][0-9.]*\),\{0,1\}\$/\1/p"
}

dr_dump() {
  local n  # the nodes' logs: pair_fail's pair_dump
  for n in d e a b; do
    [ -S "$PAIR_WORK/$n/ctl.sock" ] && echo "$n: $(dr_json $n 2>/dev/null | tr -d '\n ')"
  done
  return 0
}

dr_fail() { echo "FAIL: $*"; dr_dump; pair_fail "(see above)"; }

stop_dr() {
  kill -9 ${PID_d:-} 2>/dev/null || true
  kill -CONT ${PID_d:-} 2>/dev/null || true
  [ -z "${PID_d:-}" ] || wait ${PID_d:-} 2>/dev/null || true
}

dr_pair_setup() {
  read -r PORT_e PR_d PR_e < <(free_loopback_ports 3)
  local e_to_d=${1:-$PR_d}
  cat >>"$PAIR_WORK/d/acd.toml" <<EOT

[ha]
node = "dr-d"
replication_listen = "127.0.0.1:$PR_d"
peer = "127.0.0.1:$PR_e"
peer_dataplane = "127.0.0.1:$PORT_e"
etcd = ["$ETCD_ENDPOINT"]
etcd_key = "/acd-test/dr-epoch"
heartbeat_ms = 20
dead_after_ms = ${DR_PAIR_DEAD_AFTER_MS:-250}
hash_every = 500
EOT
  mkdir -p "$PAIR_WORK/e"
  cp "$PAIR_WORK/d/credentials" "$PAIR_WORK/e/credentials"
  sed -e "s|$PAIR_WORK/d/|$PAIR_WORK/e/|g" \
      -e "s|^listen = \"127.0.0.1:$PORT_d\"|listen = \"127.0.0.1:$PORT_e\"|" \
      -e 's|^node = "dr-d"|node = "dr-e"|' \
      -e "s|^replication_listen = \"127.0.0.1:$PR_d\"|replication_listen = \"127.0.0.1:$PR_e\"|" \
      -e "s|^peer = \"127.0.0.1:$PR_e\"|peer = \"127.0.0.1:$e_to_d\"|" \
      -e "s|^peer_dataplane = \"127.0.0.1:$PORT_e\"|peer_dataplane = \"127.0.0.1:$PORT_d\"|" \
      "$PAIR_WORK/d/acd.toml" >"$PAIR_WORK/e/acd.toml"
  if [ -n "${DRS_d:-}" ] && [ -n "${DRS_e:-}" ]; then
    sed -i "s|^replication_listen = \"127.0.0.1:$DRS_d\"|replication_listen = \"127.0.0.1:$DRS_e\"|" \
      "$PAIR_WORK/e/acd.toml"
  fi
  local n
  for n in d e; do
    "$PAIR_ACDD" --check-config "$PAIR_WORK/$n/acd.toml" >/dev/null || dr_fail "node $n's configuration"
  done
}

start_dr_node() {
  sed -i "s|^start_as = .*||" "$PAIR_WORK/$1/acd.toml"
  sed -i "s|^\[ha\]|[ha]\nstart_as = \"$2\"|" "$PAIR_WORK/$1/acd.toml"
  "$PAIR_ACDD" --config "$PAIR_WORK/$1/acd.toml" >>"$PAIR_WORK/$1/out" 2>>"$PAIR_WORK/$1/err" &
  eval "PID_$1=$!"
}

stop_e() {
  kill -9 ${PID_e:-} 2>/dev/null || true
  [ -z "${PID_e:-}" ] || wait ${PID_e:-} 2>/dev/null || true
}

etcd_value() { ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINT" get "$1" --print-value-only; }
