#!/bin/sh
# acd-sim simulates acdd's own configuration file: `acd-sim --config acd.toml --duration 600
# --json` succeeds (default streams, one per queue) and its figures are sane.
# Usage: acd_sim_acd_toml.sh ACD_SIM ACD_TOML
set -u
sim=$1
config=$2
out=$("$sim" --config "$config" --duration 600 --json) || { echo "acd-sim failed: $?"; exit 1; }
echo "$out"
# Top-level figures are indented by two spaces; each queue's by six.
figure() { echo "$out" | awk -v key="\"$1\":" '$1 == key && /^  "/ { sub(/,$/, "", $2); print $2; exit }'; }
offered=$(figure offered)
answered=$(figure answered)
occupancy=$(figure occupancy)
service_level=$(figure service_level)
queues=$(echo "$out" | grep -c '^      "name":')
echo "offered=$offered answered=$answered occupancy=$occupancy service_level=$service_level queues=$queues"
awk -v o="$offered" -v a="$answered" -v occ="$occupancy" -v sl="$service_level" -v q="$queues" 'BEGIN {
  ok = o >= 100 && a >= 0.9 * o && a <= o && occ > 0 && occ < 1 && sl >= 0 && sl <= 1 && q == 5
  exit ok ? 0 : 1
}' || { echo "figures out of bounds"; exit 1; }
echo "ok"
