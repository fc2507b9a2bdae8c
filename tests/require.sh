# What a test script needs before it can prove what it says (sourced by the scripts).
#
# A script that cannot run all of its checks says so: it skips as a whole (exit 77, which ctest
# reports as "Skipped" and `make test` lists at the end), or runs what it can and ends with
# finish_checks, which exits 77 naming the parts it left out. It never prints "ok" for checks it
# did not make. In CI (CI=true: root, every package of the Makefile's DEBS installed) nothing may
# be left out, so there each of these fails the test instead.

# The Debian package that provides a tool this suite uses.
package_of() {
  case $1 in
    python3) echo python3 ;;
    setpriv) echo util-linux ;;
    systemd-analyze | systemd-sysusers | systemd-tmpfiles) echo systemd ;;
    ip) echo iproute2 ;;
    promtool) echo prometheus ;;
    keepalived) echo keepalived ;;
    etcd) echo etcd-server ;;
    etcdctl) echo etcd-client ;;
    cpack) echo cmake ;;
    dpkg-deb) echo dpkg ;;
    slapd | slapadd | slappasswd) echo slapd ;;
    ldapwhoami | ldapsearch) echo ldap-utils ;;
    openssl) echo openssl ;;
    kamailio) echo "kamailio kamailio-extra-modules" ;;
    sipp) echo sip-tester ;;
    *) echo "?" ;;
  esac
}

# skip WHY: the whole script cannot run here.
skip() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $* (in CI every test runs: add the package to DEBS in the Makefile and .ci/run)"
    exit 1
  fi
  echo "skipped: $*"
  exit 77
}

# missing_tools TOOL...: prints "TOOL (package)" for each tool not on PATH; true if none is missing.
missing_tools() {
  local t missing=""
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t ($(package_of "$t"))"
  done
  [ -z "$missing" ] || { echo "${missing# }"; return 1; }
}

# require_tools TOOL...: skip the script unless every tool is installed.
require_tools() {
  local missing
  missing=$(missing_tools "$@") || skip "not installed: $missing"
}

require_root() {
  [ "$(id -u)" = 0 ] || skip "needs root"
}

# leave_out WHAT: a part of the script that cannot run here; the script goes on with the rest and
# finish_checks reports it.
left_out=""
leave_out() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: left out $* (in CI every check runs)"
    exit 1
  fi
  echo "left out: $*"
  left_out="$left_out; $*"
}

# finish_checks MESSAGE: "ok: MESSAGE" if every check ran, else exit 77 naming what was left out.
finish_checks() {
  if [ -n "$left_out" ]; then
    echo "skipped in part (${left_out#; }): the rest passed"
    exit 77
  fi
  echo "ok: $*"
}
