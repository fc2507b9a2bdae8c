#!/usr/bin/env bash
# bench/wire_bench.sh at tiny sizes: the equal-work table comes out with a row for each target and
# load, every cell a number with its spread, the capacity search found a rate for both, and acdd
# and acd-udp-echo exchanged the same messages per call (the comparison is at equal work).
# Usage: wire_bench_smoke.sh WIRE_BENCH BUILD_DIR
set -euo pipefail
bench=$1 build=$2
source "$(dirname "$0")/../require.sh"
require_tools python3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
REPS=3 TRIAL_S=0.2 DURATION=0.3 START=400 MAX_RATE=1600 AGENTS=20 P99_BOUND_US=200000 \
  "$bench" "$build" | tee "$out"
python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
cell = re.compile(r"^\d+(\.\d+)? \[\d+(\.\d+)?-\d+(\.\d+)?\]$")
rows = {}
for line in text.splitlines():
    if line.startswith("| acd"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
        bad = [c for c in cells[1:] if not cell.match(c)]
        assert not bad, f"cells that do not parse in {cells[0]!r}: {bad}"
        assert len(cells) == 12, f"{cells[0]!r} has {len(cells) - 1} figures, not 11"
names = ["acd-udp-echo @ its capacity", "acdd @ its capacity", "acd-udp-echo @ half acdd's",
         "acdd @ half its capacity"]
assert sorted(rows) == sorted(names), f"rows: {sorted(rows)}"
for name in names:
    assert float(rows[name][1].split()[0]) > 0, f"{name}: no calls"
m = re.search(r"acdd (\d+) / echo (\d+) calls/s = ([\d.]+)", text)
assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0, "no capacity line"
per = dict(re.findall(r"per call, (\S+): (messages to [\d.]+, from [\d.]+)", text))
assert set(per) == {"acdd", "acd-udp-echo"}, f"per-call lines: {per}"
def nums(s):
    return [float(x) for x in re.findall(r"[\d.]+", s)]
a, e = nums(per["acdd"]), nums(per["acd-udp-echo"])
assert all(abs(x - y) <= 0.05 * max(x, y) for x, y in zip(a, e)), \
    f"unequal work: acdd {per['acdd']}, echo {per['acd-udp-echo']}"
assert a[1] >= 3.9, f"acdd sends {a[1]} messages per call: RouteResponse, Offer and two Acks expected"
print("ok: the equal-work table parses; messages per call", per)
PY
