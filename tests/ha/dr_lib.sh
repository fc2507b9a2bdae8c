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
  echo "--- node d stdout:"; tail -20 "$PAIR_WORK/d/out" 2>/dev/null || true
  echo "--- node d stderr:"; tail -30 "$PAIR_WORK/d/err" 2>/dev/null || true
  [ -S "$PAIR_WORK/d/ctl.sock" ] && dr_json d 2>/dev/null | tr -d '\n ' && echo
  local n
  for n in a b; do
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
