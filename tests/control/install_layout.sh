#!/usr/bin/env bash
# `cmake --install` lays out binaries, default configuration, systemd units, monitoring files, the
# pair's deployment examples and docs; `cpack -G DEB` builds a package with the same contents
# under /usr and /etc.
# Usage: install_layout.sh BUILD_DIR
set -euo pipefail
build=$1
source "$(dirname "$0")/../require.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/root" >/dev/null
for f in sbin/acdd bin/acdctl bin/acd-sim bin/acd-loadgen lib/systemd/system/acdd.service \
         lib/sysusers.d/acd.conf lib/tmpfiles.d/acd.conf share/acd/acd-alerts.yml share/acd/acd-dashboard.json \
         share/doc/acd/README.md share/doc/acd/metrics.md share/doc/acd/protocol.md share/doc/acd/ha.md \
         share/acd/ha/README.md share/acd/ha/acd-a.toml.example share/acd/ha/acd-b.toml.example \
         share/acd/ha/etcd-witness.md share/acd/ha/keepalived.conf.example \
         bin/acd-sip-bridge lib/systemd/system/acd-sip-bridge.service share/acd/sip/kamailio.cfg \
         share/acd/sip/acd-sip-bridge.toml share/doc/acd/sip.md share/doc/acd/security.md \
         share/doc/acd/audit.md share/doc/acd/dr.md share/doc/acd/surge.md; do
  [ -e "$work/root/$f" ] || { echo "missing after install: $f"; exit 1; }
done
find "$work/root" -name acd.toml | grep -q acd/acd.toml || { echo "default configuration not installed"; exit 1; }
if missing=$(missing_tools cpack dpkg-deb); then
  (cd "$build" && cpack -G DEB -B "$work/pkg" >/dev/null)
  deb=$(ls "$work"/pkg/*.deb)
  dpkg-deb -c "$deb" >"$work/contents"
  for f in ./usr/sbin/acdd ./usr/bin/acdctl ./etc/acd/acd.toml ./usr/lib/systemd/system/acdd.service \
           ./usr/share/doc/acd/security.md ./usr/share/doc/acd/audit.md; do
    grep -q " $f\$" "$work/contents" || { echo "missing from the package: $f"; exit 1; }
  done
  echo "package: $(basename "$deb")"
else
  leave_out "the .deb (not installed: $missing)"
fi
finish_checks "install layout"
