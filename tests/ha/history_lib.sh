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
