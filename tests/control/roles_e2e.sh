#!/usr/bin/env bash
# Operator roles against a real acdd, callers made with setpriv: a user in no role group may do
# nothing (viewers = "group"), a viewer reads but changes nothing, an operator changes agents and
# previews routes but may not reload, an admin reloads; each refusal exits 4 naming the role needed
# and the caller's; the audit log is the admin's alone. Also: a group the file names that does not
# exist stops --check-config with its line; a client made by `acdctl client add` and pasted into
# the file is listed by `acdctl client list`.
# Usage: roles_e2e.sh ACDD ACDCTL CREDENTIALS
set -euo pipefail
acdd=$1 acdctl=$2 credentials=$3
source "$(dirname "$0")/../require.sh"
require_root
require_tools setpriv
for g in users staff adm nogroup; do
  getent group "$g" >/dev/null || skip "needs the system group $g"
done
work=$(mktemp -d)
chmod 755 "$work"
trap 'kill -9 ${pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/acdctl_lib.sh"
as() {  # as GROUP -- acdctl args...: acdctl as user nobody whose only group is GROUP
  local group=$1; shift 2
  rc=0
  out=$(setpriv --reuid=nobody --regid="$group" --clear-groups "$acdctl" --socket "$work/ctl.sock" "$@" 2>&1) || rc=$?
}
expect_as() {  # expect_as GROUP EXIT PATTERN -- acdctl args...
  local group=$1 code=$2 pattern=$3; shift 4
  as "$group" -- "$@"
  [ "$rc" = "$code" ] || fail "as $group: acdctl $* exited $rc, expected $code: $out"
  [ -z "$pattern" ] || grep -q -- "$pattern" <<<"$out" || fail "as $group: acdctl $* did not say '$pattern': $out"
}

config=$(dirname "$0")/../../control/default/acd.toml
"$acdctl" client add sbc-1 --role switch --network 10.1.0.0/16 --keys-dir "$work" --config "$work/none.toml" >"$work/added" ||
  fail "client add: $(cat "$work/added")"
sed -n '/^\[\[clients\]\]/,/^$/p' "$work/added" >"$work/client.toml"
grep -q '^public_key = ' "$work/client.toml" || fail "no [[clients]] block printed: $(cat "$work/added")"
sed -e 's/^listen = "127.0.0.1:7070"/listen = "127.0.0.1:0"/' -e 's/^listen = "127.0.0.1:9470"/listen = "127.0.0.1:0"/' \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"\nviewer_group = \"users\"\noperator_group = \"staff\"\nadmin_group = \"adm\"|" \
    "$config" >"$work/acd.toml"
cat "$work/client.toml" >>"$work/acd.toml"

# A group the file names that this machine lacks stops the start, with its line.
sed 's/^admin_group = "adm"/admin_group = "no-such-group-acd"/' "$work/acd.toml" >"$work/nogroup.toml"
rc=0; "$acdd" --check-config "$work/nogroup.toml" --credentials "$credentials" 2>"$work/err" || rc=$?
[ $rc = 2 ] || fail "--check-config passed an unknown admin group (exit $rc)"
grep -q 'nogroup.toml:[0-9]*: control.admin_group = "no-such-group-acd": no such group' "$work/err" ||
  fail "unknown group: $(cat "$work/err")"

"$acdd" --config "$work/acd.toml" --credentials "$credentials" --port-file "$work/port" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "acdd did not start: $(cat "$work/err")"
expect_soon 0 "role" -- status

# No role: nothing, not even reading.
expect_as nogroup 4 "'status' needs the viewer role (the users, staff or adm group, or root); you have no role" -- status
expect_as nogroup 4 "needs the viewer role" -- agents
# Viewer: reads; no change, no preview, no reload, no file read for it.
expect_as users 0 "role" -- status
expect_as users 0 "1004" -- agents
expect_as users 0 "general" -- queues
expect_as users 0 "" -- calls
expect_as users 0 "role" -- ha status
expect_as users 0 "running configuration vs" -- config diff
expect_as users 4 "'agents ready' needs the operator role (the staff or adm group, or root); you are viewer" -- agents ready 1001
expect_as users 4 "'route test' needs the operator role" -- route test general
expect_as users 4 "'client list' needs the operator role" -- client list
expect_as users 4 "needs the admin role (the adm group, or root); you are viewer" -- config reload
# Operator: agent changes (refused by the engine, not by permission: 1001 is not signed in), route
# preview, client list; no reload, no file.
expect_as staff 1 "not signed in" -- agents logout 1001
expect_as staff 0 "a call to general" -- route test general
expect_as staff 0 "sbc-1  *switch  *10.1.0.0/16" -- client list
expect_as staff 4 "'config reload' needs the admin role (the adm group, or root); you are operator" -- config reload
expect_as staff 4 "'config diff FILE' needs the admin role" -- config diff "$work/acd.toml"
expect_as staff 4 "'ha switchover' needs the admin role" -- ha switchover
expect_as staff 4 "'dr failover' needs the admin role" -- dr failover
expect_as staff 4 "'dr switchover' needs the admin role" -- dr switchover
expect_as staff 0 "role: none" -- dr status
expect_as staff 4 "'audit show' needs the admin role" -- audit show --last 5
expect_as users 4 "'audit show' needs the admin role" -- audit show
# Admin: a DR command passes the role check; this single node has no DR plan, so it is refused.
expect_as adm 1 "a failover is run on the DR site's follower" -- dr failover
# Admin: reload and naming a file.
expect_as adm 0 "no changes" -- config reload
expect_as adm 0 "no changes" -- config diff "$work/acd.toml"
expect_as adm 1 "acdd keeps no audit log" -- audit show
# Root is admin whatever its groups.
expect 0 "no changes" -- config reload
stop_acdd
echo "ok: operator roles"
