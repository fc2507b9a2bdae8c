# Reading acd-loadgen's JSON report (bench/loadgen/main.cpp) in the test scripts (sourced).
#
# "lost" is only sent - received, and a call answered "queued" counts as received, so "lost": 0
# says nothing about routing; these helpers compare the counts themselves.

# loadgen_field FILE NAME: the integer field NAME of the report in FILE (empty if absent).
loadgen_field() {
  sed -n "s/^ *\"$2\": \([0-9][0-9]*\),\{0,1\}\$/\1/p" "$1"
}

# expect_every_call_routed FILE: calls were sent, and each was answered once and routed to an
# agent, with no rejection, duplicate or error; prints why not and fails otherwise.
expect_every_call_routed() {
  local f=$1 sent received routed rejected duplicates errors
  sent=$(loadgen_field "$f" sent)
  received=$(loadgen_field "$f" received)
  routed=$(loadgen_field "$f" routed)
  rejected=$(loadgen_field "$f" rejected)
  duplicates=$(loadgen_field "$f" duplicates)
  errors=$(loadgen_field "$f" errors)
  if [ -z "$sent" ] || [ "$sent" -le 0 ]; then
    echo "FAIL: the load generator sent no call: $(cat "$f")"
    return 1
  fi
  if [ "$received" != "$sent" ] || [ "$routed" != "$sent" ] || [ "$rejected" != 0 ] ||
     [ "$duplicates" != 0 ] || [ "$errors" != 0 ]; then
    echo "FAIL: sent $sent, received $received, routed $routed, rejected $rejected," \
         "duplicates $duplicates, errors $errors: every call should be routed exactly once"
    return 1
  fi
}
