#!/usr/bin/env python3
"""Checks that queued callers were given agents in their queue's order.

Usage: queue_order.py QUEUED ROUTED [--still-queued LISTING] [--min-queued N] [--min-kept N]

QUEUED: `acdctl --json calls list` while calls waited. ROUTED: acd-loadgen --routed-order's file
(the calls given an agent after waiting, in the order those decisions arrived). Every call QUEUED
shows waiting must be in ROUTED, and per queue they must have been served by priority (higher
first), then arrival (the call that had waited longest, `total_s`, first; calls that arrived at
the same instant in any order).
--still-queued: a later listing (at the DR node, just after it took over): at least --min-kept
of the QUEUED calls still wait there, so the order checked is also the one the DR site served.
--min-queued: at least this many calls in QUEUED (the check means something).
Prints one line of counts; exits 1 with the first difference found.
"""
import argparse
import json
import sys


def waiting(path):
    with open(path) as f:
        return {c["id"]: c for c in json.load(f) if c.get("state") == "queued"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("queued")
    ap.add_argument("routed")
    ap.add_argument("--still-queued")
    ap.add_argument("--min-queued", type=int, default=0)
    ap.add_argument("--min-kept", type=int, default=0)
    a = ap.parse_args()
    queued = waiting(a.queued)
    with open(a.routed) as f:
        routed = [int(line) for line in f if line.strip()]
    served = [i for i in routed if i in queued]
    missing = set(queued) - set(served)
    if missing:
        sys.exit(f"{len(missing)} of the {len(queued)} waiting calls were never given an agent "
                 f"after waiting (e.g. {sorted(missing)[:5]})")
    last = {}
    for i in served:
        c = queued[i]
        key = (-c["priority"], -c["total_s"])
        before = last.get(c["queue"])
        if before is not None and key < before[0]:
            b = queued[before[1]]
            sys.exit(f"queue {c['queue']}: call {i} (priority {c['priority']}, waiting "
                     f"{c['total_s']} s) was given an agent after call {before[1]} (priority "
                     f"{b['priority']}, waiting {b['total_s']} s)")
        last[c["queue"]] = (key, i)
    kept = 0
    if a.still_queued:
        kept = len(set(waiting(a.still_queued)) & set(queued))
    print(f"waiting: {len(queued)}, served in order: {len(served)}, of them still waiting at the "
          f"later listing: {kept}")
    if len(queued) < a.min_queued:
        sys.exit(f"only {len(queued)} calls waited (at least {a.min_queued} needed)")
    if kept < a.min_kept:
        sys.exit(f"only {kept} of them still waited at the later listing "
                 f"(at least {a.min_kept} needed)")


if __name__ == "__main__":
    main()
