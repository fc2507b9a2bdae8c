#!/usr/bin/env bash
# The systemd files are valid: the unit passes `systemd-analyze verify` (with acdd at the path it
# names, in a scratch root); the sysusers fragment creates the acd user and group and the role
# groups acd-viewer and acd-admin; the tmpfiles fragment, applied in a scratch root holding that
# user, creates /run/acd (0755: every role group reaches the socket) and /var/lib/acd (0750) owned
# by acd, as the unit's StateDirectory does; the unit restarts a pair member that exits with
# status 3. Each check is also run on a copy with a garbage line appended, which it
# must refuse, so a check that cannot fail fails the test.
# Usage: systemd_verify.sh UNIT_DIR ACDD
set -euo pipefail
units=$1 acdd=$2
source "$(dirname "$0")/../require.sh"
require_tools systemd-analyze systemd-sysusers systemd-tmpfiles
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# check_unit DIR: DIR/acdd.service verifies without a problem about the unit itself (the
# container's own units may be incomplete).
check_unit() {
  local out
  out=$(systemd-analyze verify --man=no "$1/acdd.service" 2>&1) || true
  echo "$out"
  ! grep -E "acdd.service" <<<"$out" | grep -viE "Failed to (open|connect)|bus|No such file or directory.*/etc/acd"
}
# check_sysusers FILE ROOT: a dry run accepts it, and applied in ROOT it creates user and group acd.
check_sysusers() {
  systemd-sysusers --dry-run "$1" || return 1
  mkdir -p "$2/etc"
  systemd-sysusers --root="$2" "$1" || return 1
  grep -q "^acd:" "$2/etc/passwd" && grep -q "^acd:" "$2/etc/group" &&
    grep -q "^acd-viewer:" "$2/etc/group" && grep -q "^acd-admin:" "$2/etc/group"
}
# check_tmpfiles FILE ROOT: applied in ROOT it succeeds (owners resolved in ROOT's passwd).
check_tmpfiles() {
  if [ "$(id -u)" = 0 ]; then
    systemd-tmpfiles --root="$2" --create "$1"
  else
    # Without root the owners cannot be set: parse every line, create nothing.
    systemd-tmpfiles --root="$2" --create --prefix=/nonexistent "$1"
  fi
}

mkdir "$work/unit" "$work/bad-unit"
# The unit names /usr/sbin/acdd; point it at the build so verify can find the binary.
sed "s|/usr/sbin/acdd|$acdd|g" "$units/acdd.service" >"$work/unit/acdd.service"
check_unit "$work/unit" || fail "systemd-analyze found problems in the unit"
{ cat "$work/unit/acdd.service"; echo "NoSuchSetting=garbage"; } >"$work/bad-unit/acdd.service"
check_unit "$work/bad-unit" >/dev/null && fail "the unit check passed a unit with a garbage line"

# A pair member: exit status 3 (fenced, or stepped down after a switchover) is restarted, as a
# standby, and is not a failure; the journal's /var/lib/acd is writable under ProtectSystem=strict
# through StateDirectory=, with the mode and owner the tmpfiles line gives it.
unit_has() { grep -qx "$1" "$units/acdd.service" || fail "acdd.service lacks $1"; }
unit_has "RestartForceExitStatus=3"
unit_has "SuccessExitStatus=3"
unit_has "StateDirectory=acd"
unit_has "StateDirectoryMode=0750"
grep -qx "d /var/lib/acd 0750 acd acd -" "$units/acd.tmpfiles" ||
  fail "acd.tmpfiles and the unit's StateDirectory disagree on /var/lib/acd"

# The credential file acdd rewrites (a desktop's password change, a spent enrolment code) must
# lie where the unit lets acdd write: under its StateDirectory, never under the read-only /etc/acd.
default_toml="$(dirname "$0")/../../control/default/acd.toml"
credentials=$(sed -n 's/^credentials = "\(.*\)"$/\1/p' "$default_toml")
case "$credentials" in
  /var/lib/acd/*) ;;
  *) fail "the default credentials = \"$credentials\" is not under /var/lib/acd (StateDirectory)" ;;
esac
for ro in $(sed -n 's/^ReadOnlyPaths=//p' "$units/acdd.service"); do
  case "$credentials" in
    "$ro"/*) fail "credentials = $credentials lies under ReadOnlyPaths=$ro: acdd cannot rewrite it" ;;
  esac
done

check_sysusers "$units/acd.sysusers" "$work/root" || fail "the sysusers fragment was refused"
{ cat "$units/acd.sysusers"; echo "x garbage line"; } >"$work/bad.sysusers"
check_sysusers "$work/bad.sysusers" "$work/bad-root" && fail "sysusers passed a garbage line"

check_tmpfiles "$units/acd.tmpfiles" "$work/root" || fail "the tmpfiles fragment was refused"
{ cat "$units/acd.tmpfiles"; echo "this is not a tmpfiles line"; } >"$work/bad.tmpfiles"
check_tmpfiles "$work/bad.tmpfiles" "$work/root" && fail "tmpfiles passed a garbage line"
if [ "$(id -u)" = 0 ]; then
  uid=$(awk -F: '$1 == "acd" { print $3 }' "$work/root/etc/passwd")
  gid=$(awk -F: '$1 == "acd" { print $3 }' "$work/root/etc/group")
  # /run/acd is open (every role group reaches the socket); /var/lib/acd is acd's alone.
  for dir_mode in run/acd:755 var/lib/acd:750; do
    dir=${dir_mode%:*} mode=${dir_mode#*:}
    [ "$(stat -c '%a %u %g' "$work/root/$dir")" = "$mode $uid $gid" ] ||
      fail "/$dir: $(stat -c '%a %u %g' "$work/root/$dir"), expected $mode $uid $gid"
  done
else
  leave_out "tmpfiles owners and modes (creating them needs root)"
fi
finish_checks "unit, sysusers and tmpfiles verified"
