#!/usr/bin/env bash
# systemd/acd-sip-bridge.service passes `systemd-analyze verify` (with the bridge at the path it
# names), and the same check refuses a copy with a garbage line, so it cannot pass by itself.
# Usage: systemd_verify.sh UNIT_DIR BRIDGE
set -euo pipefail
units=$1 bridge=$2
source "$(dirname "$0")/../require.sh"
require_tools systemd-analyze
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
check_unit() {  # check_unit DIR: no problem reported about the unit itself
  local out
  out=$(systemd-analyze verify --man=no "$1/acd-sip-bridge.service" 2>&1) || true
  echo "$out"
  ! grep -E "acd-sip-bridge.service" <<<"$out" | grep -viE "Failed to (open|connect)|bus|No such file or directory.*/etc/acd"
}
mkdir "$work/unit" "$work/bad-unit"
sed "s|/usr/bin/acd-sip-bridge|$bridge|g" "$units/acd-sip-bridge.service" >"$work/unit/acd-sip-bridge.service"
check_unit "$work/unit" || fail "systemd-analyze found problems in the unit"
{ cat "$work/unit/acd-sip-bridge.service"; echo "NoSuchSetting=garbage"; } >"$work/bad-unit/acd-sip-bridge.service"
check_unit "$work/bad-unit" >/dev/null && fail "the unit check passed a unit with a garbage line"
echo "ok: acd-sip-bridge.service verifies"
