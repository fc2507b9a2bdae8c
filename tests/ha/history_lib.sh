# Helpers of the history end-to-end scripts (sourced after pair_lib.sh; `work` is the pair's
# directory).
#
# metric N NAME: the value of metric NAME (any labels) on node N, integer part; empty if absent.
# db_field N SQL: SQL on node N's history database.
# compare_reports DB_X DB_Y CONFIG INTERVALS_LEAST: `acdctl report calls|intervals|queues|agents
#   --csv` of the two databases (queue names from CONFIG) are identical and not nearly empty
#   (at least 100 calls, INTERVALS_LEAST interval rows, 1 queue, 10 agents); fails otherwise.
#   The reports are left in DB_X.report.R and DB_Y.report.R.

metrics_of() { sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics|\1|p' "$work/$1/out" | tail -1; }
metric() {
  curl -s "http://$(metrics_of "$1")/metrics" |
    sed -n "s/^$2\({[^}]*}\)\{0,1\} \([0-9]*\).*/\2/p" | head -1
}
db_field() { sqlite3 "$work/$1/history.db" "$2"; }

compare_reports() {
  local x=$1 y=$2 config=$3 intervals_least=$4 r db least
  for r in calls intervals queues agents; do
    for db in "$x" "$y"; do
      "$acdctl" report $r --csv --db "$db" --config "$config" >"$db.report.$r" 2>&1 ||
        pair_fail "acdctl report $r on $db: $(cat "$db.report.$r")"
    done
    case $r in calls) least=100 ;; intervals) least=$intervals_least ;; queues) least=1 ;; agents) least=10 ;; esac
    [ $(($(wc -l <"$x.report.$r") - 1)) -ge "$least" ] ||
      pair_fail "report $r has fewer than $least rows: $(head -5 "$x.report.$r")"
    cmp -s "$x.report.$r" "$y.report.$r" ||
      pair_fail "report $r differs: $(diff "$x.report.$r" "$y.report.$r" | head -8)"
  done
}

# same_calls_own_clocks DB_X DB_Y CONFIG: `acdctl report calls --csv` of the two databases, each
#   mapping log time to UTC through its own clock points, list the same calls with the same
#   figures, and every arrival time within 1 s (the nodes note their points independently, each
#   when its offset moved; a standby's points before it went live are its primary's, copied with
#   the records). Fails otherwise; prints the largest difference.
same_calls_own_clocks() {
  local x=$1 y=$2 config=$3 db
  for db in "$x" "$y"; do
    "$acdctl" report calls --csv --db "$db" --config "$config" >"$db.own.calls" 2>&1 ||
      pair_fail "acdctl report calls on $db: $(cat "$db.own.calls")"
  done
  python3 - "$x.own.calls" "$y.own.calls" <<'PY' || pair_fail "calls differ with each node's own clock (above)"
import csv, datetime, sys
def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))
x, y = rows(sys.argv[1]), rows(sys.argv[2])
if len(x) != len(y) or len(x) < 100:
    print(f"{len(x)} calls against {len(y)}")
    sys.exit(1)
def t(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
worst = 0.0
for a, b in zip(x, y):
    for k in a:
        if k != "arrived" and a[k] != b[k]:
            print(f"call {a['call']}: {k} {a[k]} against {b[k]}")
            sys.exit(1)
    worst = max(worst, abs((t(a["arrived"]) - t(b["arrived"])).total_seconds()))
if worst > 1:
    print(f"arrival times differ by up to {worst} s")
    sys.exit(1)
print(f"ok: {len(x)} calls alike, arrival times within {worst:.0f} s with each node's own clock")
PY
}
