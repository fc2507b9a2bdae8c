#!/usr/bin/env bash
# acdd --backend dpdk on a net_memif link, driven from the other end by acd-dpdk-loadgen (a DPDK
# process of its own, bench/dpdk_memif_lib.sh): no hugepages, no NIC, no root network setup. The
# generator registers its clients, signs its agents in and sends route requests for a second; every
# one must be answered with a decision, every call routed to an agent answered and released (each
# call event acknowledged), none left queued, no error; acdd must stop cleanly with no call left.
# Usage: e2e_dpdk_memif.sh ACDD ACD-DPDK-LOADGEN
set -euo pipefail
acdd=$1 gen=$2
source "$(dirname "$0")/../../bench/dpdk_memif_lib.sh"
work=$(mktemp -d)
acdd_pid=
trap '[ -n "$acdd_pid" ] && kill -9 "$acdd_pid" 2>/dev/null; rm -rf "$work"' EXIT
cpus=$(nproc)
memif_start_acdd 0
memif_gen $((cpus > 1 ? 1 : 0)) --agents 20 --duration 1 --window 256 --grace 3 >"$work/report.json" || {
  echo "FAIL: the generator failed:"; cat "$work/gen.err"; tail -5 "$work/acdd.err"; exit 1; }
cat "$work/report.json"
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
problems = []
if r["sent"] <= 0:
    problems.append("no route request sent")
if r["answered"] != r["sent"]:
    problems.append("%d of %d route requests unanswered" % (r["sent"] - r["answered"], r["sent"]))
if r["routed"] <= 0:
    problems.append("no call routed to an agent")
if r["still_queued"] != 0:
    problems.append("%d calls queued and never decided" % r["still_queued"])
if r["call_event_acks"] != r["call_events"]:
    problems.append("%d of %d call events unacknowledged" % (r["call_events"] - r["call_event_acks"], r["call_events"]))
if r["errors"] != 0:
    problems.append("errors: %s" % r.get("error_reasons"))
if problems:
    print("FAIL: " + "; ".join(problems))
    sys.exit(1)
print("ok: %d route requests answered over memif (%d routed to an agent, answered and released)"
      % (r["answered"], r["routed"]))
PY
memif_stop_acdd
