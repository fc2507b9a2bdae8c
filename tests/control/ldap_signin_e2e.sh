#!/usr/bin/env bash
# Directory sign-in end to end against a real slapd that this test starts on loopback (its own
# config, certificates and mdb database in a temporary directory, high ports: the system's slapd
# is neither used nor disturbed). First the library half (control_ldap_live_test: StartTLS,
# ldaps://, the service account's search, injection-shaped IDs, an untrusted certificate, the
# pool's bound). Then acdd signs agents in over ACDP through the directory, with acd-loadgen:
#   1. backend "ldap", a DN template over StartTLS, fallback "refuse", no credential file:
#      right passwords accepted, a wrong one refused (AuthFailed); slapd stopped: DirectoryUnavailable
#      (1014); slapd back: accepted again, and a restart behind the pool's back is not noticed.
#      An agent whose directory password was reset (ppolicy's pwdReset, pwdMustChange in the
#      default policy) signs in told must-change. Agent 1014's entry is under a lockout policy
#      (pwdLockout after 5 failures, no duration: only a directory administrator lifts it): wrong
#      passwords sent to acdd reach the directory only up to the back-offs' directory budget (4),
#      the rest are refused unbound (counted, audited), so slapd counts 4 failures and never locks
#      the account; its right password is held too, until `acdctl agent unlock 1014` (audited:
#      `acdctl audit show` lists agent.unlock), after which it signs in.
#   2. backend "ldap-then-file", a search over ldaps://, fallback "file": an agent only the file
#      has signs in from the file; a wrong directory password is refused although the file would
#      accept it; slapd stopped: the file decides (accepted, and a wrong one AuthFailed), logged,
#      counted and audited; slapd back: the directory decides again.
# No password appears in anything acdd prints.
# Usage: ldap_signin_e2e.sh ACDD ACDCTL LOADGEN DEFAULT_CONFIG LDAP_LIVE_TEST
set -euo pipefail
acdd=$1 acdctl=$2 loadgen=$3 default_config=$4 live_test=$5
here=$(dirname "$0")
source "$here/../require.sh"
source "$here/../loadgen_lib.sh"
PATH=$PATH:/usr/sbin
require_tools slapd slapadd slappasswd ldapwhoami ldapsearch openssl python3

work=$(mktemp -d)
pid='' slapd_pid=''
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$slapd_pid" ] && { kill -TERM "$slapd_pid"; wait "$slapd_pid"; } 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
lport=$(free_port) sport=$(free_port)

# ---- certificates: a CA and the directory's certificate for 127.0.0.1; another CA not trusted
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=acd test directory CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" \
  -keyout "$work/other.key" -out "$work/other-ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -extfile "$work/san.cnf" -out "$work/server.pem" 2>/dev/null

# ---- the directory: slapd.conf, and agents 1000..1011 (password demo-ID, as acd-loadgen sends)
# except 1010, whose directory password is another; the service account cn=acd.
mkdir "$work/db"
cat >"$work/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $work/slapd.pid
TLSCACertificateFile $work/ca.pem
TLSCertificateFile $work/server.pem
TLSCertificateKeyFile $work/server.key
database mdb
maxsize 16777216
suffix "dc=bank,dc=example"
rootdn "cn=admin,dc=bank,dc=example"
directory $work/db
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=acd,dc=bank,dc=example" read by * auth
overlay ppolicy
ppolicy_default "cn=default,ou=policies,dc=bank,dc=example"
EOF
{
  printf 'dn: dc=bank,dc=example\nobjectClass: dcObject\nobjectClass: organization\no: bank\ndc: bank\n\n'
  printf 'dn: ou=agents,dc=bank,dc=example\nobjectClass: organizationalUnit\nou: agents\n\n'
  printf 'dn: cn=acd,dc=bank,dc=example\nobjectClass: person\ncn: acd\nsn: acd\nuserPassword: %s\n\n' \
    "$(slappasswd -s service-secret)"
  # The password policy (ppolicy): a password an administrator reset must be changed first.
  printf 'dn: ou=policies,dc=bank,dc=example\nobjectClass: organizationalUnit\nou: policies\n\n'
  printf 'dn: cn=default,ou=policies,dc=bank,dc=example\nobjectClass: device\nobjectClass: pwdPolicy\n'
  printf 'cn: default\npwdAttribute: userPassword\npwdMustChange: TRUE\n\n'
  # A hard lockout as banks configure it: 5 wrong binds lock the account until an administrator
  # unlocks it (no pwdLockoutDuration), failures never forgotten (no pwdFailureCountInterval).
  printf 'dn: cn=lockout,ou=policies,dc=bank,dc=example\nobjectClass: device\nobjectClass: pwdPolicy\n'
  printf 'cn: lockout\npwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 5\n\n'
  for id in $(seq 1000 1014); do
    password="demo-$id"; [ "$id" = 1010 ] && password="directory-only-1010"
    printf 'dn: uid=%s,ou=agents,dc=bank,dc=example\nobjectClass: inetOrgPerson\nuid: %s\n' "$id" "$id"
    printf 'cn: Agent %s\nsn: %s\nemployeeNumber: %s\nuserPassword: %s\n' "$id" "$id" "$id" \
      "$(slappasswd -h '{SSHA}' -s "$password")"
    # 1012's password was reset by an administrator: the directory says it must be changed.
    [ "$id" = 1012 ] && printf 'pwdReset: TRUE\n'
    # 1013 (control_ldap_live_test) and 1014 (acdd below) are under the lockout policy.
    [ "$id" -ge 1013 ] && printf 'pwdPolicySubentry: cn=lockout,ou=policies,dc=bank,dc=example\n'
    printf '\n'
  done
} >"$work/agents.ldif"
slapadd -f "$work/slapd.conf" -l "$work/agents.ldif" >"$work/slapadd.log" 2>&1 || {
  echo "FAIL: slapadd"; cat "$work/slapadd.log"; exit 1; }
grep -q '{SSHA}' "$work/agents.ldif" || { echo "FAIL: passwords not hashed"; exit 1; }

start_slapd() {
  slapd -h "ldap://127.0.0.1:$lport/ ldaps://127.0.0.1:$sport/" -f "$work/slapd.conf" -d 0 \
    >>"$work/slapd.log" 2>&1 &
  slapd_pid=$!
  for _ in $(seq 100); do
    LDAPTLS_CACERT="$work/ca.pem" ldapwhoami -x -ZZ -H "ldap://127.0.0.1:$lport" \
      -D uid=1000,ou=agents,dc=bank,dc=example -w demo-1000 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "FAIL: slapd did not start"; cat "$work/slapd.log"; exit 1
}
stop_slapd() {
  kill -TERM "$slapd_pid"; wait "$slapd_pid" 2>/dev/null || true; slapd_pid=''
}
start_slapd

# ---- the library against the directory
printf 'service-secret\n' >"$work/bind-password"; chmod 600 "$work/bind-password"
ACD_TEST_LDAP_URL="ldap://127.0.0.1:$lport" ACD_TEST_LDAPS_URL="ldaps://127.0.0.1:$sport" \
  ACD_TEST_LDAP_CA="$work/ca.pem" ACD_TEST_LDAP_OTHER_CA="$work/other-ca.pem" \
  ACD_TEST_LDAP_BIND_PASSWORD=service-secret "$live_test" >"$work/live.out" 2>&1 || {
  echo "FAIL: control_ldap_live_test"; cat "$work/live.out"; exit 1; }
grep -q "PASSED.* 8 tests" "$work/live.out" || { echo "FAIL: live tests not all run"; cat "$work/live.out"; exit 1; }

# ---- acdd
base_config() {  # the demo centre on free ports, with its own socket, credentials and audit log
  sed -e "s|^credentials = .*|credentials = \"$work/credentials\"|" \
      -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" \
      -e 's|^listen = "127.0.0.1:7070"|listen = "127.0.0.1:0"|' \
      -e 's|^listen = "127.0.0.1:9470"|listen = "127.0.0.1:0"|' "$default_config"
  printf '[audit]\ndir = "%s"\n' "$work/audit"
}
start_acdd() {  # start_acdd NAME
  rm -f "$work/port" "$work/port.metrics"
  "$acdd" --config "$work/$1.toml" --port-file "$work/port" >"$work/$1.out" 2>"$work/$1.err" &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && [ -s "$work/port.metrics" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "FAIL: acdd did not start"; cat "$work/$1.err"; exit 1; }
  port=$(cat "$work/port")
}
stop_acdd() {  # stop_acdd NAME
  kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=''
  [ "$rc" = 0 ] || { echo "FAIL: acdd exited with $rc on SIGTERM"; cat "$work/$1.err"; exit 1; }
  if grep -q "demo-10\|directory-only\|service-secret" "$work/$1.out" "$work/$1.err"; then
    echo "FAIL: a password was printed"; exit 1
  fi
}
metric() {  # metric 'NAME{LABELS}' -> its value from the metrics endpoint
  exec 3<>"/dev/tcp/127.0.0.1/$(cat "$work/port.metrics")"
  printf 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  local body; body=$(cat <&3); exec 3<&-
  printf '%s\n' "$body" | awk -v m="$1" '$1 == m { print $2 }'
}
expect_metric() {  # expect_metric 'NAME{LABELS}' OP VALUE
  local v; v=$(metric "$1")
  [ -n "$v" ] && [ "${v%.*}" "$2" "$3" ] || { echo "FAIL: $1 = '$v', expected $2 $3"; exit 1; }
}
sign_in() {  # sign_in FIRST_ID COUNT [TIMEOUT]: acd-loadgen signs agents FIRST_ID.. in (password
  # demo-ID, or $PASSWORD with {id} for the ID)
  local pw=${PASSWORD-}; [ -n "$pw" ] || pw='demo-{id}'
  "$loadgen" --target "127.0.0.1:$port" --rate 10 --duration 0.1 --first-agent "$1" \
    --first-index $(($1 - 1000)) --agents "$2" --signin-timeout "${3:-8}" --password "$pw" \
    >"$work/loadgen.out" 2>"$work/loadgen.err"
}
directory_failures() {  # directory_failures ID: the wrong binds slapd holds against the entry
  LDAPTLS_CACERT="$work/ca.pem" ldapsearch -LLL -x -ZZ -H "ldap://127.0.0.1:$lport" \
    -D cn=acd,dc=bank,dc=example -w service-secret -b "uid=$1,ou=agents,dc=bank,dc=example" \
    -s base pwdFailureTime pwdAccountLockedTime >"$work/entry.ldif"
  grep -c '^pwdFailureTime:' "$work/entry.ldif" || true
}
expect_refused() {  # expect_refused FIRST_ID COUNT REASON (acd-loadgen stops at the refusal)
  if sign_in "$1" "$2" 3; then echo "FAIL: agent $1 signed in, expected reason $3"; exit 1; fi
  grep -q "the last with reason $3" "$work/loadgen.err" || {
    echo "FAIL: agent $1: expected reason $3: $(cat "$work/loadgen.err")"; exit 1; }
}
expect_accepted() {  # expect_accepted FIRST_ID COUNT WHY
  sign_in "$1" "$2" || { echo "FAIL: $3: $(cat "$work/loadgen.err")"; exit 1; }
}

# 1. Directory only, DN template over StartTLS, fallback refuse; no credential file exists.
{ base_config; cat <<EOF
[signin]
threads = 4
backend = "ldap"
[signin.ldap]
url = "ldap://127.0.0.1:$lport"
tls = "starttls"
ca_file = "$work/ca.pem"
dn_template = "uid={agent},ou=agents,dc=bank,dc=example"
connect_timeout_ms = 500
timeout_ms = 1000
pool = 2
fallback = "refuse"
EOF
} >"$work/ldap.toml"
"$acdd" --check-config "$work/ldap.toml" >/dev/null 2>"$work/check.err" || {
  echo "FAIL: --check-config"; cat "$work/check.err"; exit 1; }
start_acdd ldap
expect_accepted 1000 10 "right directory passwords"
grep -q "signed in in .* 0 told to change their password" "$work/loadgen.err" || {
  echo "FAIL: must-change without a reset: $(cat "$work/loadgen.err")"; exit 1; }
# 1012's password was reset in the directory (ppolicy pwdReset): signed in, told must-change.
expect_accepted 1012 1 "a reset directory password"
grep -q "1 agents signed in in .* 1 told to change their password" "$work/loadgen.err" || {
  echo "FAIL: the directory's password reset was not passed on: $(cat "$work/loadgen.err")"; exit 1; }
expect_metric 'acd_signin_ldap_must_change_total' -eq 1
expect_refused 1010 1 1006  # the directory's password for 1010 is not demo-1010
expect_metric 'acd_signin_ldap_binds_total{outcome="accepted"}' -ge 10
# Wrong passwords for 1014 (under the directory's lockout policy) until acdd holds its binds back.
for attempt in $(seq 12); do
  PASSWORD='wrong-{id}' expect_refused 1014 1 1006
  held=$(metric acd_signin_directory_held_total)
  [ "${held%.*}" -ge 2 ] && break
  sleep 3  # the desktop's back-off runs out, so the next wrong password is bound again
done
expect_metric acd_signin_directory_held_total -ge 2
[ "$(directory_failures 1014)" = 4 ] || {
  echo "FAIL: slapd holds $(directory_failures 1014) wrong binds for 1014, expected the budget's 4"
  cat "$work/entry.ldif"; exit 1; }
if grep -q '^pwdAccountLockedTime' "$work/entry.ldif"; then
  echo "FAIL: the directory locked 1014"; exit 1
fi
expect_metric 'acd_signin_total{outcome="delayed"}' -ge 2
expect_refused 1014 1 1006  # the right password too: held, not bound
[ "$(directory_failures 1014)" = 4 ] || { echo "FAIL: a held sign-in reached slapd"; exit 1; }
"$acdctl" --socket "$work/ctl.sock" agent unlock 1014 >"$work/unlock.out" || {
  echo "FAIL: agent unlock: $(cat "$work/unlock.out")"; exit 1; }
grep -q "agent 1014 may sign in again" "$work/unlock.out" || {
  echo "FAIL: unlock: $(cat "$work/unlock.out")"; exit 1; }
expect_metric acd_signin_unlocks_total -eq 1
expect_accepted 1014 1 "the right password after the operator's unlock"
[ "$(directory_failures 1014)" = 0 ] || { echo "FAIL: slapd kept 1014's failures"; exit 1; }
"$acdctl" --socket "$work/ctl.sock" audit show >"$work/audit.out"
grep "agent.unlock" "$work/audit.out" | grep -q "agent=1014" || {
  echo "FAIL: audit show lacks agent.unlock for 1014"; cat "$work/audit.out"; exit 1; }
grep "agent.lockout" "$work/audit.out" | grep -q "agent=1014" || {
  echo "FAIL: audit show lacks agent.lockout for 1014"; cat "$work/audit.out"; exit 1; }
expect_metric 'acd_signin_ldap_binds_total{outcome="wrong_password"}' -ge 1
expect_metric 'acd_signin_ldap_pool_open_high_water' -le 2
expect_metric 'acd_signin_ldap_pool_connections{state="size"}' -eq 2
stop_slapd
expect_refused 1011 1 1014  # DirectoryUnavailable, not AuthFailed
expect_metric 'acd_signin_ldap_binds_total{outcome="unavailable"}' -ge 1
expect_metric 'acd_dataplane_signin_unavailable_total{core="0"}' -ge 1
grep -q "is unavailable" "$work/ldap.err" || { echo "FAIL: the outage was not logged"; exit 1; }
start_slapd
expect_accepted 1011 1 "slapd back: the directory is used again"
grep -q "answers again" "$work/ldap.err" || { echo "FAIL: the recovery was not logged"; exit 1; }
# A restart between two sign-ins leaves dead connections in the pool, all of them: replaced, not
# refused. Both of the pool's connections are open first (parallel sign-ins of signed-in agents).
for _ in 1 2 3 4 5; do
  [ "$(metric 'acd_signin_ldap_pool_connections{state="open"}')" = 2 ] && break
  expect_accepted 1000 10 "signed-in agents again"
done
expect_metric 'acd_signin_ldap_pool_connections{state="open"}' -eq 2
stop_slapd; start_slapd
expect_accepted 1000 1 "slapd restarted behind the pool"
expect_metric 'acd_signin_ldap_connections_dropped_total' -ge 1
expect_metric 'acd_signin_ldap_pool_open_high_water' -le 2
stop_acdd ldap

# 2. The directory for its agents, the file for the others; a search over ldaps://; fallback file.
# The file: 1000..1004 and 1020 (demo-ID), and 1010 with demo-1010, which the directory refuses.
for id in 1000 1001 1002 1003 1004 1010 1020; do
  echo "demo-$id" | "$acdctl" agent passwd "$id" --credentials "$work/credentials" >/dev/null
done
{ base_config; cat <<EOF
[signin]
threads = 4
backend = "ldap-then-file"
[signin.ldap]
url = "ldaps://127.0.0.1:$sport"
tls = "ldaps"
ca_file = "$work/ca.pem"
search_base = "ou=agents,dc=bank,dc=example"
search_filter = "(&(objectClass=inetOrgPerson)(employeeNumber={agent}))"
bind_dn = "cn=acd,dc=bank,dc=example"
bind_password_file = "$work/bind-password"
connect_timeout_ms = 500
timeout_ms = 1000
pool = 3
fallback = "file"
EOF
} >"$work/both.toml"
start_acdd both
expect_accepted 1000 5 "directory passwords over ldaps with a search"
expect_accepted 1020 1 "an agent only the file has"
expect_metric 'acd_signin_ldap_unknown_agents_total' -ge 1
expect_refused 1010 1 1006  # the directory said no: the file's demo-1010 is never asked
expect_metric 'acd_signin_directory_fallbacks_total{outcome="accepted"}' -eq 0
stop_slapd
expect_accepted 1000 5 "directory down: the file's passwords"  # already signed in: acknowledged
expect_accepted 1003 1 "directory down, again"
expect_metric 'acd_signin_directory_fallbacks_total{outcome="accepted"}' -ge 6
expect_refused 1005 1 1006  # not in the file: refused by the file, not DirectoryUnavailable
expect_metric 'acd_signin_directory_fallbacks_total{outcome="refused"}' -ge 1
grep -q "checked against the local credential file: accepted" "$work/both.err" || {
  echo "FAIL: the fallback was not logged"; exit 1; }
start_slapd
expect_refused 1010 1 1006  # the directory again: demo-1010 is wrong there
before=$(metric 'acd_signin_directory_fallbacks_total{outcome="accepted"}')
expect_accepted 1004 1 "the directory again"
expect_metric 'acd_signin_directory_fallbacks_total{outcome="accepted"}' -eq "${before%.*}"
stop_acdd both
grep -h '"agent.directory_fallback"' "$work"/audit/* >"$work/fallbacks.audit" || true
grep -q '"subject":"agent=1000"' "$work/fallbacks.audit" || {
  echo "FAIL: the fallback was not audited"; ls -l "$work/audit"; exit 1; }
grep -q '"outcome":"refused"' "$work/fallbacks.audit" || { echo "FAIL: refused fallback not audited"; exit 1; }
echo "ok: directory sign-in over StartTLS and ldaps, both fallback policies, reconnection"
