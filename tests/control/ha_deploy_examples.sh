#!/usr/bin/env bash
# The example pair in deploy/ha is usable as shipped:
#  * acd-a.toml.example and acd-b.toml.example, each appended to the default acd.toml with the
#    placeholder addresses replaced by loopback ones, pass `acdd --check-config`; and they describe
#    one pair (each peer is the other's replication_listen, the same etcd and key, one start_as
#    "primary", the same timing);
#  * keepalived.conf.example passes `keepalived --config-test` (in a private network namespace
#    whose veth is named like the example's interface), and keepalived running it holds the
#    floating address while a stand-in acdctl reports "primary" or "primary-alone", and not while
#    it reports "standby" or "fenced".
# A broken copy of each file must be refused, so a check that cannot fail fails the test.
# Usage: ha_deploy_examples.sh ACDD DEPLOY_HA_DIR DEFAULT_TOML CREDENTIALS
set -euo pipefail
acdd=$1 ha=$2 default_toml=$3 credentials=$4
source "$(dirname "$0")/../require.sh"
require_tools python3
work=$(mktemp -d)
netns=""
cleanup() {
  [ -z "$netns" ] || ip netns delete "$netns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A key file and a public key in place of the examples' placeholders (what acdctl key generate
# makes; acdctl is not needed here): 32 random bytes in base64, the file mode 0600.
python3 - "$work/node.key" >"$work/public.key" <<'PY'
import base64, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
os.close(fd)
print(base64.b64encode(os.urandom(32)).decode())
PY
public_key=$(cat "$work/public.key")

# merged NODE: the default configuration with NODE's fragment, on loopback addresses, with keys.
merged() {
  cat "$default_toml"
  echo
  sed -e 's/10\.0\.0\.1\b/127.0.0.1/g; s/10\.0\.0\.2\b/127.0.0.2/g; s/10\.0\.0\.9\b/127.0.0.9/g' \
    -e "s|/etc/acd/keys/acdd.key|$work/node.key|; s|NODE-[AB]-PUBLIC-KEY|$public_key|" \
    "$ha/acd-$1.toml.example"
}
for node in a b; do
  grep -q '^peer_public_key = "NODE-[AB]-PUBLIC-KEY"' "$ha/acd-$node.toml.example" ||
    fail "acd-$node.toml.example does not seal the replication link (no ha.peer_public_key)"
  merged "$node" >"$work/acd-$node.toml"
  grep -q '^\[ha\]' "$work/acd-$node.toml" || fail "acd-$node.toml.example has no [ha] table"
  grep -q '^\[journal\]' "$work/acd-$node.toml" || fail "acd-$node.toml.example has no [journal] table"
  out=$("$acdd" --check-config "$work/acd-$node.toml" --credentials "$credentials" 2>&1) ||
    fail "acdd refused the merged acd-$node.toml: $out"
  echo "acd-$node: $out"
done
{ cat "$work/acd-a.toml"; echo 'dead_after_ms = 15'; } >"$work/bad.toml"
"$acdd" --check-config "$work/bad.toml" --credentials "$credentials" >/dev/null 2>&1 &&
  fail "acdd --check-config passed [ha] with dead_after_ms under two heartbeats"

# One pair: the two fragments mirror each other.
python3 - "$ha/acd-a.toml.example" "$ha/acd-b.toml.example" <<'PY' || fail "the two examples do not describe one pair"
import sys, tomllib
a, b = (tomllib.load(open(p, "rb"))["ha"] for p in sys.argv[1:3])
problems = []
def need(ok, what):
    if not ok:
        problems.append(what)
need(a["node"] != b["node"], "both nodes are named " + a["node"])
need(a["peer"] == b["replication_listen"], "a.peer is not b.replication_listen")
need(b["peer"] == a["replication_listen"], "b.peer is not a.replication_listen")
need(a["peer_dataplane"].split(":")[0] == b["replication_listen"].split(":")[0], "a.peer_dataplane is not on node b")
need(b["peer_dataplane"].split(":")[0] == a["replication_listen"].split(":")[0], "b.peer_dataplane is not on node a")
need(sorted([a["start_as"], b["start_as"]]) == ["primary", "standby"], "not one primary and one standby")
for key in ("etcd", "etcd_key", "heartbeat_ms", "dead_after_ms", "etcd_timeout_ms", "hash_every"):
    need(a[key] == b[key], key + " differs")
for p in problems:
    print("pair:", p)
sys.exit(1 if problems else 0)
PY

# keepalived: the configuration test and a real run, in a network namespace of our own (VRRP
# needs a non-loopback interface; nothing leaves the namespace).
if ! missing=$(missing_tools keepalived ip); then
  leave_out "keepalived checks (not installed: $missing)"
elif [ "$(id -u)" != 0 ]; then
  leave_out "keepalived checks (a network namespace needs root)"
else
  iface=$(awk '$1 == "interface" { print $2; exit }' "$ha/keepalived.conf.example")
  src=$(awk '$1 == "unicast_src_ip" { print $2; exit }' "$ha/keepalived.conf.example")
  vip=$(awk '/virtual_ipaddress/ { getline; print $1; exit }' "$ha/keepalived.conf.example")
  [ -n "$iface" ] && [ -n "$src" ] && [ -n "$vip" ] ||
    fail "keepalived.conf.example: no interface, unicast_src_ip or virtual address"
  netns="acd-ha-test-$$"
  ip netns add "$netns"
  ip -n "$netns" link add "$iface" type veth peer name "${iface}-peer"
  ip -n "$netns" link set lo up
  ip -n "$netns" link set "$iface" up
  ip -n "$netns" link set "${iface}-peer" up
  ip -n "$netns" addr add "$src/24" dev "$iface"

  # The stand-in acdctl answers `--json ha status` with a role, laid out as acdctl prints JSON
  # (two-space indent). Its directory is root's only, as keepalived's script security asks.
  mkdir -m 0755 "$work/bin"
  cat >"$work/bin/acdctl" <<STUB
#!/bin/sh
printf '{\n  "epoch": 7,\n  "role": "%s",\n  "reason": "role: primary"\n}\n' "\$(cat $work/role)"
STUB
  chmod 0755 "$work/bin/acdctl"
  chmod 0755 "$work"
  # The example runs its check as the acd user; where acdd is not installed there is none.
  user="acd acd"
  id acd >/dev/null 2>&1 || user="nobody $(id -gn nobody)"
  sed -e "s|/usr/bin/acdctl|$work/bin/acdctl|; s|script_user acd acd|script_user $user|" \
    "$ha/keepalived.conf.example" >"$work/keepalived.conf"
  grep -q "$work/bin/acdctl" "$work/keepalived.conf" || fail "keepalived.conf.example does not run /usr/bin/acdctl"

  # keepalived 2.2.7's --config-test ends itself with SIGTERM whenever the script user is not
  # root (it does not when it runs), so the file it checks runs the script as root; the run
  # below uses the example's own user.
  sed -e "s|script_user $user|script_user root|" "$work/keepalived.conf" >"$work/keepalived-root.conf"
  config_test() {
    ip netns exec "$netns" keepalived --config-test -f "$1" 2>&1
  }
  out=$(config_test "$work/keepalived-root.conf") || fail "keepalived --config-test refused the example: $out"
  [ -z "$out" ] || fail "keepalived --config-test warned about the example: $out"
  { cat "$work/keepalived-root.conf"; echo 'vrrp_instance broken { interface'; } >"$work/bad.conf"
  config_test "$work/bad.conf" >/dev/null && fail "keepalived --config-test passed a broken file"

  # holds_address ROLE: keepalived, running the example for a few seconds while acdctl reports
  # ROLE, puts the floating address on the interface.
  holds_address() {
    echo "$1" >"$work/role"
    chmod 0644 "$work/role"
    rm -f "$work"/*.pid
    ip netns exec "$netns" keepalived -n -l -D -f "$work/keepalived.conf" -p "$work/k.pid" \
      -r "$work/v.pid" -c "$work/c.pid" >"$work/keepalived-$1.log" 2>&1 &
    local pid=$! held=1 i
    for i in $(seq 80); do  # up to 8 s: keepalived becomes master after about 3.6 s
      if ip -n "$netns" -o addr show dev "$iface" | grep -q " ${vip%/*}/"; then
        held=0
        break
      fi
      # A failing check (it has no weight) puts the instance in FAULT, where it stays while the
      # check fails: it cannot take the address any more, so there is nothing left to wait for.
      grep -q "acd_is_primary) failed" "$work/keepalived-$1.log" && sleep 1 && break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ip -n "$netns" addr del "$vip" dev "$iface" 2>/dev/null || true
    return $held
  }
  for role in primary primary-alone; do
    holds_address "$role" ||
      { cat "$work/keepalived-$role.log"; fail "keepalived did not take the address for a $role"; }
    echo "keepalived: holds $vip while acdd is $role"
  done
  for role in standby fenced; do
    holds_address "$role" &&
      { cat "$work/keepalived-$role.log"; fail "keepalived took the address for a $role"; }
    grep -q "acd_is_primary) failed" "$work/keepalived-$role.log" ||
      { cat "$work/keepalived-$role.log"; fail "the check did not run (or did not fail) for a $role"; }
    echo "keepalived: leaves $vip while acdd is $role"
  done
fi
finish_checks "deploy/ha examples: acdd accepts both nodes, keepalived's check follows the primary"
