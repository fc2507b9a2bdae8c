// LdapDirectory against a real slapd that ldap_signin_e2e.sh starts on loopback (it passes the
// addresses in the environment; run alone, every test is skipped): binds over StartTLS and ldaps://
// with the test's CA, the DN template and the service account's search, injection-shaped IDs that
// must not widen a search, a certificate from another CA refused, and many threads sharing a pool
// that never opens more connections than configured; a password the directory reset is must-change;
// the back-offs keep wrong passwords sent to acdd from ever locking an agent in the directory.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "acd/control/ldap_verifier.hpp"

namespace acd::control {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

class LiveDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    ldap_url_ = env("ACD_TEST_LDAP_URL");    // ldap://127.0.0.1:PORT (StartTLS)
    ldaps_url_ = env("ACD_TEST_LDAPS_URL");  // ldaps://127.0.0.1:PORT
    ca_ = env("ACD_TEST_LDAP_CA");
    other_ca_ = env("ACD_TEST_LDAP_OTHER_CA");
    bind_password_ = env("ACD_TEST_LDAP_BIND_PASSWORD");
    if (ldap_url_.empty()) {
      GTEST_SKIP() << "run by ldap_signin_e2e.sh, which starts the directory";
    }
  }
  LdapSettings by_template(LdapTls tls = LdapTls::StartTls) const {
    LdapSettings s;
    s.url = tls == LdapTls::Ldaps ? ldaps_url_ : ldap_url_;
    s.tls = tls;
    s.ca_file = ca_;
    s.dn_template = "uid={agent},ou=agents,dc=bank,dc=example";
    s.connect_timeout_ms = 1000;
    s.timeout_ms = 2000;
    s.pool = 2;
    return s;
  }
  LdapSettings by_search() const {
    LdapSettings s = by_template();
    s.dn_template.clear();
    s.search_base = "ou=agents,dc=bank,dc=example";
    s.search_filter = "(&(objectClass=inetOrgPerson)(uid={agent}))";
    s.bind_dn = "cn=acd,dc=bank,dc=example";
    return s;
  }
  std::string ldap_url_, ldaps_url_, ca_, other_ca_, bind_password_;
};

// StartTLS and a DN template: the right password binds, a wrong one, an unknown agent and an
// empty password do not; each bind is counted by outcome and timed.
TEST_F(LiveDirectory, TemplateOverStartTls) {
  LdapDirectory d(by_template(), "");
  EXPECT_EQ(d.check("1000", "demo-1000"), DirectoryAnswer::Accepted);
  EXPECT_EQ(d.check("1000", "demo-1001"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.check("4242", "demo-4242"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.check("1000", ""), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.counters().binds_accepted.load(), 1u);
  EXPECT_EQ(d.counters().binds_wrong_password.load(), 2u);
  EXPECT_EQ(d.counters().refused_empty.load(), 1u);
  std::uint64_t timed = 0;
  for (const auto& b : d.counters().bind_buckets) {
    timed += b.load();
  }
  EXPECT_EQ(timed, 3u);
  EXPECT_EQ(d.counters().pool_opened.load(), 1u);  // one connection, reused
}

// ldaps:// with the CA file: the same answers.
TEST_F(LiveDirectory, TemplateOverLdaps) {
  LdapDirectory d(by_template(LdapTls::Ldaps), "");
  EXPECT_EQ(d.check("1001", "demo-1001"), DirectoryAnswer::Accepted);
  EXPECT_EQ(d.check("1001", "demo-1000"), DirectoryAnswer::WrongPassword);
}

// A directory whose certificate is not from the configured CA is not trusted: no bind is sent
// (Unavailable: the operator's problem to fix, never an accepted password).
TEST_F(LiveDirectory, UntrustedCertificateRefused) {
  LdapSettings s = by_template(LdapTls::Ldaps);
  s.ca_file = other_ca_;
  LdapDirectory d(s, "");
  EXPECT_EQ(d.check("1000", "demo-1000"), DirectoryAnswer::Unavailable);
  EXPECT_EQ(d.counters().binds_accepted.load(), 0u);
}

// The service account's search finds the agent's entry; an ID shaped to widen the filter finds
// nothing, so the password of the entry it aims at gets no bind.
TEST_F(LiveDirectory, SearchAndInjection) {
  LdapDirectory d(by_search(), bind_password_);
  EXPECT_EQ(d.check("1002", "demo-1002"), DirectoryAnswer::Accepted);
  EXPECT_EQ(d.check("1002", "demo-1000"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.check("4242", "demo-4242"), DirectoryAnswer::UnknownAgent);
  // Unescaped, "(uid=*)(employeeNumber=1000)" would find exactly agent 1000's entry.
  EXPECT_EQ(d.check("*)(employeeNumber=1000", "demo-1000"), DirectoryAnswer::UnknownAgent);
  EXPECT_EQ(d.check("*", "demo-1000"), DirectoryAnswer::UnknownAgent);
  EXPECT_EQ(d.check("1000)(|(uid=*", "demo-1000"), DirectoryAnswer::UnknownAgent);
  EXPECT_EQ(d.counters().binds_accepted.load(), 1u);
  // A DN template with the same ID: one escaped RDN value, which names no entry.
  LdapDirectory t(by_template(), "");
  EXPECT_EQ(t.check("1000,ou=agents", "demo-1000"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(t.check("1000+uid=1001", "demo-1000"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(t.counters().binds_accepted.load(), 0u);
}

// A wrong service-account password is a broken set-up, not the agent's wrong password.
TEST_F(LiveDirectory, WrongServicePassword) {
  LdapDirectory d(by_search(), "not-the-service-password");
  EXPECT_EQ(d.check("1002", "demo-1002"), DirectoryAnswer::Unavailable);
}

// Eight threads, a pool of two: every check answered right, and never more than two connections.
TEST_F(LiveDirectory, PoolIsBounded) {
  LdapDirectory d(by_template(), "");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const int agent = 1000 + (t + i) % 3;
        const bool right = i % 4 != 0;
        const std::string password = "demo-" + std::to_string(right ? agent : agent + 1);
        const DirectoryAnswer a = d.check(std::to_string(agent), password);
        if (a != (right ? DirectoryAnswer::Accepted : DirectoryAnswer::WrongPassword)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(d.counters().pool_open_high_water.load(), 2u);
  EXPECT_EQ(d.counters().pool_open_high_water.load(), 2u);  // and it was shared, not serialised
  EXPECT_EQ(d.counters().pool_in_use.load(), 0u);
  EXPECT_EQ(d.counters().binds_accepted.load() + d.counters().binds_wrong_password.load(), 200u);
}

// An entry whose password an administrator reset (ppolicy pwdReset, pwdMustChange in the
// directory's default policy): the bind succeeds, the password-policy control says it must be
// changed first, and that is what the directory and the verifier report, with a template or a
// search; the connection the directory restricted is not reused for the next agent.
TEST_F(LiveDirectory, PasswordResetMeansMustChange) {
  LdapDirectory d(by_template(), "");
  EXPECT_EQ(d.check("1012", "demo-1012"), DirectoryAnswer::MustChange);
  EXPECT_EQ(d.check("1000", "demo-1000"), DirectoryAnswer::Accepted);
  EXPECT_EQ(d.check("1012", "demo-1011"), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.counters().binds_must_change.load(), 1u);
  LdapDirectory s(by_search(), bind_password_);
  EXPECT_EQ(s.check("1012", "demo-1012"), DirectoryAnswer::MustChange);
  EXPECT_EQ(s.check("1002", "demo-1002"), DirectoryAnswer::Accepted);
  SignInSettings settings;
  settings.backend = SignInBackend::Ldap;
  settings.ldap = by_template();
  LdapVerifier v(settings, "", nullptr);
  EXPECT_EQ(v.check_from(1012, "demo-1012", {}), dataplane::VerifyOutcome::Accepted);
  EXPECT_TRUE(v.must_change(1012));
  EXPECT_EQ(v.check_from(1000, "demo-1000", {}), dataplane::VerifyOutcome::Accepted);
  EXPECT_FALSE(v.must_change(1000));
  EXPECT_FALSE(v.must_change(1012));  // not the last check: nothing claimed
}

// Agent 1013's entry is under a lockout policy (ldap_signin_e2e.sh: pwdLockout, pwdMaxFailure 5,
// no duration: locked until a directory administrator steps in). Twenty-five wrong passwords from
// five desktops reach the directory only while the back-offs allow: the first three from the first
// desktop, then the fourth, which spends the directory budget (4); every other attempt is refused
// unbound. So the directory counted four failures, never five: the account is not locked there and
// its right password still binds. After acdctl's unlock the verifier asks the directory again.
TEST_F(LiveDirectory, BackoffKeepsTheDirectoryLockoutAway) {
  SignInSettings settings;
  settings.backend = SignInBackend::Ldap;
  settings.ldap = by_template();
  SignInBackoff backoff(LockoutPolicy{3, 60, 300, 10, 30, 4, 1800});
  LdapVerifier v(settings, "", nullptr, &backoff);
  int refused = 0;
  for (std::uint32_t desk = 1; desk <= 5; ++desk) {
    for (int i = 0; i < 5; ++i) {
      refused += v.check_from(1013, "not-demo-1013", {desk, desk}) ==
                         dataplane::VerifyOutcome::Refused
                     ? 1
                     : 0;
    }
  }
  EXPECT_EQ(refused, 25);
  EXPECT_EQ(v.counters().binds_wrong_password.load(), 4u);  // all that reached the directory
  EXPECT_EQ(backoff.counters().failed.load(), 4u);
  EXPECT_EQ(backoff.counters().delayed.load(), 21u);
  EXPECT_GE(backoff.counters().directory_held.load(), 4u);
  // The right password, during the hold: refused without a bind either.
  EXPECT_EQ(v.check_from(1013, "demo-1013", {9, 9}), dataplane::VerifyOutcome::Refused);
  EXPECT_EQ(v.counters().binds_accepted.load(), 0u);
  // The directory itself never locked the account: its right password binds (a locked account
  // answers invalidCredentials whatever the password).
  LdapDirectory direct(by_template(), "");
  EXPECT_EQ(direct.check("1013", "demo-1013"), DirectoryAnswer::Accepted);
  // acdctl agent unlock: the verifier asks the directory again, and the agent signs in.
  EXPECT_GE(backoff.unlock(1013), 1u);
  EXPECT_EQ(v.check_from(1013, "demo-1013", {1, 1}), dataplane::VerifyOutcome::Accepted);
  EXPECT_EQ(v.counters().binds_accepted.load(), 1u);
}

}  // namespace
}  // namespace acd::control
