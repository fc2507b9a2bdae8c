#!/usr/bin/env bash
# The systemd unit passes `systemd-analyze verify` (with acdd and acdctl at the paths it names, in
# a scratch root) and the sysusers / tmpfiles fragments parse.
# Usage: systemd_verify.sh UNIT_DIR ACDD
set -euo pipefail
units=$1 acdd=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$units/acdd.service" "$work/acdd.service"
# The unit names /usr/sbin/acdd; point it at the build so verify can find the binary.
sed -i "s|/usr/sbin/acdd|$acdd|g" "$work/acdd.service"
out=$(systemd-analyze verify --man=no "$work/acdd.service" 2>&1 || true)
echo "$out"
# Only problems about this unit count (the container's own units may be incomplete).
if grep -E "acdd.service" <<<"$out" | grep -viE "Failed to (open|connect)|bus|No such file or directory.*/etc/acd" ; then
  echo "systemd-analyze found problems"; exit 1
fi
systemd-sysusers --dry-run "$units/acd.sysusers" 2>&1 | tail -3 || true
grep -q "^u acd " "$units/acd.sysusers"
echo "ok: unit verified"
