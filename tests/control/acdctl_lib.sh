# Helpers shared by the acdctl end-to-end tests (sourced). Expects $acdctl and $work to be set.
fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect EXIT_CODE PATTERN -- acdctl args...   (sets $out and $rc)
  local code=$1 pattern=$2; shift 3
  out=$("$acdctl" --socket "$work/ctl.sock" "$@" 2>&1); rc=$?
  [ "$rc" = "$code" ] || fail "acdctl $* exited $rc, expected $code: $out"
  [ -z "$pattern" ] || grep -q -- "$pattern" <<<"$out" || fail "acdctl $* did not say '$pattern': $out"
}
