# Helpers shared by the acdctl end-to-end tests (sourced). Expects $acdctl and $work to be set.
#
# Read commands answer from a snapshot the routing core publishes every 100 ms, so a test never
# trusts a read right after something changed: it waits for the change to show (expect_soon), or,
# to prove that something did NOT happen, makes a change of its own afterwards and waits until the
# snapshot shows it (await_agent_state): every read after that sees a state newer than the act.
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect EXIT_CODE PATTERN -- acdctl args...   (sets $out and $rc)
  local code=$1 pattern=$2; shift 3
  rc=0
  out=$("$acdctl" --socket "$work/ctl.sock" "$@" 2>&1) || rc=$?
  [ "$rc" = "$code" ] || fail "acdctl $* exited $rc, expected $code: $out"
  [ -z "$pattern" ] || grep -q -- "$pattern" <<<"$out" || fail "acdctl $* did not say '$pattern': $out"
}
# expect_soon EXIT_CODE PATTERN -- acdctl args...: like expect, but retries for up to 3 s while
# the answer is not yet the expected one (a snapshot still being published).
expect_soon() {
  local code=$1 pattern=$2 i; shift 3
  for i in $(seq 60); do
    rc=0
    out=$("$acdctl" --socket "$work/ctl.sock" "$@" 2>&1) || rc=$?
    if [ "$rc" = "$code" ] && { [ -z "$pattern" ] || grep -q -- "$pattern" <<<"$out"; }; then
      return 0
    fi
    sleep 0.05
  done
  fail "acdctl $* did not come to exit $code and '$pattern' within 3 s: exit $rc, $out"
}
# await_agent_state ID STATE: waits (up to 3 s) until the published snapshot shows agent ID in
# STATE; after a change made by the test, that snapshot was taken after the change.
await_agent_state() {
  expect_soon 0 "\"state\": \"$2\"" -- --json agents show "$1"
}
# stop_acdd: SIGTERM to $pid; acdd must exit with status 0.
stop_acdd() {
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  pid=
  [ "$rc" = 0 ] || fail "acdd exited with status $rc on SIGTERM: $(cat "$work/err" 2>/dev/null)"
}
