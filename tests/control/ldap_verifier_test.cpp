// Directory sign-in without a directory: the agent's ID escaped for DNs and filters, [signin] and
// [signin.ldap] checked with clear errors, an empty password refused before any bind, a directory
// that is down or silent answered Unavailable within the timeout, and the fallback policy.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "acd/control/config.hpp"
#include "acd/control/ldap_verifier.hpp"

namespace acd::control {
namespace {

using dataplane::VerifyOutcome;

// RFC 4514: every special character of a DN value is escaped, and a leading '#' or space and a
// trailing space; an ordinary ID is left alone.
TEST(LdapEscape, DnValue) {
  EXPECT_EQ(escape_dn_value("1000"), "1000");
  EXPECT_EQ(escape_dn_value("a,b+c\"d\\e<f>g;h=i"), "a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h\\=i");
  EXPECT_EQ(escape_dn_value("#x"), "\\#x");
  EXPECT_EQ(escape_dn_value("x#"), "x#");
  EXPECT_EQ(escape_dn_value(" x "), "\\ x\\ ");
  EXPECT_EQ(escape_dn_value(std::string("a\0b", 3)), "a\\00b");
  EXPECT_EQ(escape_dn_value("1000,ou=admins"), "1000\\,ou\\=admins");
}

// RFC 4515: '*', '(', ')', '\' and NUL become \2a, \28, \29, \5c, \00, so that an ID like
// "*)(uid=*" is one value and cannot widen a search.
TEST(LdapEscape, FilterValue) {
  EXPECT_EQ(escape_filter_value("1000"), "1000");
  EXPECT_EQ(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  EXPECT_EQ(escape_filter_value("a\\b"), "a\\5cb");
  EXPECT_EQ(escape_filter_value(std::string("a\0", 2)), "a\\00");
  EXPECT_EQ(expand_agent("(&(objectClass=person)(uid={agent}))", "*)(uid=*", true),
            "(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a))");
  EXPECT_EQ(expand_agent("uid={agent},ou=agents,dc=bank", "x,ou=y", false),
            "uid=x\\,ou\\=y,ou=agents,dc=bank");
  EXPECT_EQ(expand_agent("(|(uid={agent})(mail={agent}@bank))", "7", true),
            "(|(uid=7)(mail=7@bank))");
}

TEST(LdapChecks, UrlTemplateFilter) {
  EXPECT_TRUE(check_ldap_url("ldap://127.0.0.1:389", LdapTls::StartTls).ok());
  EXPECT_TRUE(check_ldap_url("ldaps://ldap.bank.example", LdapTls::Ldaps).ok());
  EXPECT_FALSE(check_ldap_url("http://x", LdapTls::None).ok());
  EXPECT_FALSE(check_ldap_url("ldap:/", LdapTls::None).ok());
  EXPECT_FALSE(check_ldap_url("", LdapTls::None).ok());
  EXPECT_FALSE(check_ldap_url("ldap://x:389/dc=bank??sub?(uid=1)", LdapTls::None).ok());
  EXPECT_FALSE(check_ldap_url("ldap://x", LdapTls::Ldaps).ok());
  EXPECT_FALSE(check_ldap_url("ldaps://x", LdapTls::StartTls).ok());
  EXPECT_TRUE(check_dn_template("uid={agent},ou=agents,dc=bank,dc=example").ok());
  EXPECT_FALSE(check_dn_template("uid=1000,ou=agents").ok());  // no {agent}
  EXPECT_FALSE(check_dn_template("uid={agent},,ou=agents").ok());
  EXPECT_TRUE(check_search_filter("(&(objectClass=person)(uid={agent}))").ok());
  EXPECT_FALSE(check_search_filter("uid={agent}").ok());
  EXPECT_FALSE(check_search_filter("(uid={agent}))(").ok());
  EXPECT_FALSE(check_search_filter("(uid=x)").ok());
}

const char* kBase = R"(site = "sh"
skills = ["cards"]
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent]]
id = 7
skills = { cards = 5 }
)";

std::vector<std::string> errors_of(const std::string& extra) {
  return parse_config(std::string(kBase) + extra, "acd.toml").errors;
}

bool has_error(const std::vector<std::string>& errors, const std::string& part) {
  for (const std::string& e : errors) {
    if (e.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const std::string& e : errors) {
    s += e + "\n";
  }
  return s;
}

// A complete [signin.ldap] is read into the settings; file stays the default backend.
TEST(LdapConfig, ReadsTheTable) {
  const ConfigResult def = parse_config(kBase, "acd.toml");
  ASSERT_TRUE(def.ok()) << all(def.errors);
  EXPECT_EQ(def.config.signin.backend, SignInBackend::File);
  const ConfigResult r = parse_config(std::string(kBase) + R"toml([signin]
backend = "ldap"
[signin.ldap]
url = "ldaps://ldap.bank.example:636"
tls = "ldaps"
ca_file = "/etc/acd/ldap-ca.pem"
dn_template = "uid={agent},ou=agents,dc=bank,dc=example"
connect_timeout_ms = 500
timeout_ms = 1500
pool = 3
fallback = "file"
)toml",
                                      "acd.toml");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const LdapSettings& l = r.config.signin.ldap;
  EXPECT_EQ(r.config.signin.backend, SignInBackend::Ldap);
  EXPECT_EQ(l.tls, LdapTls::Ldaps);
  EXPECT_EQ(l.ca_file, "/etc/acd/ldap-ca.pem");
  EXPECT_EQ(l.pool, 3u);
  EXPECT_EQ(l.connect_timeout_ms, 500u);
  EXPECT_EQ(l.timeout_ms, 1500u);
  EXPECT_EQ(l.fallback, DirectoryFallback::File);
  EXPECT_TRUE(r.config.signin.uses_file());
  const ConfigResult s = parse_config(std::string(kBase) + R"toml([signin]
backend = "ldap-then-file"
[signin.ldap]
url = "ldap://127.0.0.1:3389"
search_base = "ou=agents,dc=bank,dc=example"
search_filter = "(uid={agent})"
bind_dn = "cn=acd,dc=bank,dc=example"
bind_password_file = "/etc/acd/ldap-bind"
)toml",
                                      "acd.toml");
  ASSERT_TRUE(s.ok()) << all(s.errors);
  EXPECT_EQ(s.config.signin.backend, SignInBackend::LdapThenFile);
  EXPECT_EQ(s.config.signin.ldap.tls, LdapTls::StartTls);
  EXPECT_EQ(s.config.signin.ldap.fallback, DirectoryFallback::Refuse);
}

// Each mistake is named with its line and what to do.
TEST(LdapConfig, RefusesMistakes) {
  const std::string ok_url = "url = \"ldap://127.0.0.1:389\"\n";
  const std::string tmpl = "dn_template = \"uid={agent},ou=agents,dc=bank\"\n";
  EXPECT_TRUE(has_error(errors_of("[signin]\nbackend = \"kerberos\"\n"),
                        "acd.toml:10: signin.backend = \"kerberos\": use \"file\", \"ldap\""));
  EXPECT_TRUE(
      has_error(errors_of("[signin]\nbackend = \"ldap\"\n"), "needs a [signin.ldap] table"));
  EXPECT_TRUE(has_error(errors_of("[signin.ldap]\n" + ok_url + tmpl),
                        "[signin.ldap] is set but signin.backend is \"file\""));
  const std::string head = "[signin]\nbackend = \"ldap\"\n[signin.ldap]\n";
  EXPECT_TRUE(has_error(errors_of(head + "url = \"htp://x\"\n" + tmpl),
                        "acd.toml:12: signin.ldap.url: \"htp://x\" is not an LDAP URL"));
  EXPECT_TRUE(has_error(errors_of(head + tmpl), "[signin.ldap] needs url"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url), "needs dn_template"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + "dn_template = \"uid=7,dc=bank\"\n"),
                        "signin.ldap.dn_template must contain {agent}"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + tmpl + "search_base = \"dc=bank\"\n" +
                                  "search_filter = \"(uid={agent})\"\n"),
                        "give dn_template, or search_base and search_filter, not both"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + "search_filter = \"(uid={agent})\"\n"),
                        "a search needs both search_base and search_filter"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + "search_base = \"dc=bank\"\n" +
                                  "search_filter = \"uid={agent}\"\n"),
                        "is not one parenthesised filter"));
  EXPECT_TRUE(
      has_error(errors_of(head + ok_url + tmpl + "tls = \"ssl\"\n"), "signin.ldap.tls = \"ssl\""));
  EXPECT_TRUE(has_error(errors_of(head + "url = \"ldaps://x\"\n" + tmpl),
                        "an ldaps:// URL needs tls = \"ldaps\""));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + tmpl + "tls = \"none\"\nca_file = \"/ca.pem\"\n"),
                        "ca_file is for TLS"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + tmpl + "fallback = \"allow\"\n"),
                        "signin.ldap.fallback = \"allow\""));
  EXPECT_TRUE(
      has_error(errors_of(head + ok_url + tmpl + "pool = 0\n"), "'pool' = 0 is out of range"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + tmpl + "timeout_ms = 10\n"),
                        "'timeout_ms' = 10 is out of range"));
  EXPECT_TRUE(has_error(errors_of(head + ok_url + tmpl + "bnid_dn = \"x\"\n"), "bnid_dn"));
  const std::string search = "search_base = \"dc=bank\"\nsearch_filter = \"(uid={agent})\"\n";
  EXPECT_TRUE(has_error(errors_of(head + ok_url + search + "bind_dn = \"cn=acd,dc=bank\"\n"),
                        "bind_dn needs bind_password_file"));
  EXPECT_TRUE(has_error(
      errors_of("[signin]\nbackend = \"ldap-then-file\"\n[signin.ldap]\n" + ok_url + tmpl),
      "\"ldap-then-file\" needs a search"));
}

// A port that refuses connections, and one that accepts them (the kernel's backlog) but never
// answers: a directory down and a directory hung.
struct DeadPorts {
  int listener = -1;
  std::uint16_t silent = 0;
  std::uint16_t closed = 0;
  DeadPorts() {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listener, 16), 0);
    EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    silent = ntohs(a.sin_port);
    const int other = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    EXPECT_EQ(bind(other, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(getsockname(other, reinterpret_cast<sockaddr*>(&a), &len), 0);
    closed = ntohs(a.sin_port);
    close(other);  // nobody listens there now
  }
  ~DeadPorts() { close(listener); }
};

SignInSettings directory_at(std::uint16_t port, SignInBackend backend, DirectoryFallback fallback) {
  SignInSettings s;
  s.backend = backend;
  s.ldap.url = "ldap://127.0.0.1:" + std::to_string(port);
  s.ldap.tls = LdapTls::None;
  s.ldap.dn_template = "uid={agent},ou=agents,dc=bank,dc=example";
  s.ldap.connect_timeout_ms = 300;
  s.ldap.timeout_ms = 300;
  s.ldap.pool = 2;
  s.ldap.fallback = fallback;
  return s;
}

// An empty password is refused before any connection is made (an unauthenticated bind would
// "succeed"), even with a fallback file that would accept it.
TEST(LdapVerifier, EmptyPasswordNeverBinds) {
  DeadPorts ports;
  dataplane::InMemoryCredentials file;
  file.set(1000, "");
  LdapVerifier v(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::File), "",
                 &file);
  EXPECT_EQ(v.check_from(1000, "", {}), VerifyOutcome::Refused);
  EXPECT_EQ(v.counters().refused_empty.load(), 0u);  // the verifier refused it before the pool
  LdapDirectory d(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::Refuse).ldap,
                  "");
  EXPECT_EQ(d.check("1000", ""), DirectoryAnswer::WrongPassword);
  EXPECT_EQ(d.counters().refused_empty.load(), 1u);
  EXPECT_EQ(d.counters().pool_opened.load(), 0u);
  EXPECT_EQ(d.counters().binds_unavailable.load(), 0u);
}

// Nobody listening: Unavailable, at once; with fallback "refuse" that is what the desktop hears.
TEST(LdapVerifier, DirectoryDownIsUnavailable) {
  DeadPorts ports;
  LdapVerifier v(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::Refuse), "",
                 nullptr);
  EXPECT_EQ(v.check_from(1000, "demo-1000", {}), VerifyOutcome::Unavailable);
  EXPECT_FALSE(v.verify(1000, "demo-1000"));
  EXPECT_EQ(v.counters().binds_unavailable.load(), 2u);
  EXPECT_EQ(v.counters().pool_open.load(), 0u);
  EXPECT_EQ(v.counters().pool_in_use.load(), 0u);
}

// A directory that accepts the connection and never answers: Unavailable within about the
// operation timeout, not forever.
TEST(LdapVerifier, SilentDirectoryTimesOut) {
  DeadPorts ports;
  LdapDirectory d(directory_at(ports.silent, SignInBackend::Ldap, DirectoryFallback::Refuse).ldap,
                  "");
  const auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(d.check("1000", "demo-1000"), DirectoryAnswer::Unavailable);
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(d.counters().pool_open.load(), 0u);  // the hung connection was dropped
}

// fallback "file": the local file decides while the directory is down, and its refusals stay
// refusals (AuthFailed, not DirectoryUnavailable); each is counted.
TEST(LdapVerifier, FallbackToTheFile) {
  DeadPorts ports;
  dataplane::InMemoryCredentials file;
  file.set(1000, "local-1000");
  LdapVerifier v(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::File), "",
                 &file);
  EXPECT_EQ(v.check_from(1000, "local-1000", {}), VerifyOutcome::Accepted);
  EXPECT_EQ(v.check_from(1000, "wrong", {}), VerifyOutcome::Refused);
  EXPECT_EQ(v.check_from(1001, "local-1000", {}), VerifyOutcome::Refused);
  EXPECT_EQ(v.counters().fallback_accepted.load(), 1u);
  EXPECT_EQ(v.counters().fallback_refused.load(), 2u);
  // The same directory with fallback "refuse" and the same file: nothing is accepted.
  LdapVerifier refuse(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::Refuse),
                      "", &file);
  EXPECT_EQ(refuse.check_from(1000, "local-1000", {}), VerifyOutcome::Unavailable);
  EXPECT_EQ(refuse.counters().fallback_accepted.load(), 0u);
}

// The back-offs are applied before the directory is asked: a source in back-off gets Refused with
// no connection opened (the directory never sees the attempt), another source still reaches it,
// and `unlock` (acdctl agent unlock) lets the first through again.
TEST(LdapVerifier, BackoffRefusesBeforeTheDirectory) {
  DeadPorts ports;
  std::uint64_t now = 1000;
  SignInBackoff backoff(LockoutPolicy{1, 60, 300, 10, 30, 0, 0}, [&] { return now; });
  LdapVerifier v(directory_at(ports.closed, SignInBackend::Ldap, DirectoryFallback::Refuse), "",
                 nullptr, &backoff);
  const dataplane::SignInSource desk{7, 70};
  const dataplane::SignInSource other{8, 80};
  backoff.failed(1000, desk);  // one wrong password from `desk`: a 60 s delay for it
  EXPECT_EQ(v.check_from(1000, "demo-1000", desk), VerifyOutcome::Refused);
  EXPECT_EQ(v.counters().binds_unavailable.load(), 0u);
  EXPECT_EQ(v.counters().pool_opened.load() + v.counters().pool_open.load(), 0u);
  EXPECT_EQ(backoff.counters().delayed.load(), 1u);
  EXPECT_EQ(v.check_from(1000, "demo-1000", other), VerifyOutcome::Unavailable);  // asked
  EXPECT_EQ(v.counters().binds_unavailable.load(), 1u);
  EXPECT_EQ(backoff.unlock(1000), 1u);
  EXPECT_EQ(v.check_from(1000, "demo-1000", desk), VerifyOutcome::Unavailable);  // asked again
  EXPECT_EQ(v.counters().binds_unavailable.load(), 2u);
  EXPECT_EQ(backoff.counters().failed.load(), 1u);  // a directory that is down counts nothing
}

// The directory budget: `directory_max_failures` wrong binds of one agent within the window, from
// any sources, and the directory is not asked for that agent until the oldest leaves the window,
// a right password is seen, or an operator unlocks. The file's own checks are not held by it.
TEST(SignInBackoff, DirectoryBudget) {
  std::uint64_t now = 5000;
  SignInBackoff b(LockoutPolicy{100, 2, 300, 100, 30, 3, 600}, [&] { return now; });
  const auto from = [](std::uint32_t slot) { return dataplane::SignInSource{slot, slot}; };
  for (std::uint32_t slot = 1; slot <= 2; ++slot) {
    EXPECT_FALSE(b.refuse(1000, from(slot), true));
    b.failed(1000, from(slot), true);
    now += 100;
  }
  EXPECT_FALSE(b.refuse(1000, from(3), true));
  b.failed(1000, from(3), false);  // the file's wrong password: not a bind, not in the budget
  EXPECT_FALSE(b.refuse(1000, from(3), true));
  b.failed(1000, from(3), true);  // the third wrong bind within 600 s: spent
  for (std::uint32_t slot = 1; slot <= 5; ++slot) {
    EXPECT_TRUE(b.refuse(1000, from(slot), true)) << slot;
  }
  EXPECT_FALSE(b.refuse(1000, from(9), false));  // the file's checks are not held
  EXPECT_FALSE(b.refuse(1001, from(1), true));   // nor another agent
  EXPECT_EQ(b.counters().directory_held.load(), 5u);
  EXPECT_TRUE(b.locked(1000));
  EXPECT_EQ(b.wait_seconds(1000, from(9)), 400u);  // the first wrong bind leaves the window then
  now += 400;  // the first wrong bind is 600 s old: one bind may go again
  EXPECT_FALSE(b.refuse(1000, from(1), true));
  b.failed(1000, from(1), true);
  EXPECT_TRUE(b.refuse(1000, from(1), true));
  EXPECT_EQ(b.unlock(1000), 1u);  // the operator's unlock lifts the hold
  EXPECT_FALSE(b.refuse(1000, from(1), true));
  for (int i = 0; i < 3; ++i) {
    b.failed(1000, from(1), true);
  }
  EXPECT_TRUE(b.refuse(1000, from(1), true));
  b.accepted(1000, from(2));  // a right password (the file's, the directory down): cleared
  EXPECT_FALSE(b.refuse(1000, from(1), true));
  // A window of 0 never forgets; a budget of 0 is no budget.
  SignInBackoff forever(LockoutPolicy{100, 2, 300, 100, 30, 2, 0}, [&] { return now; });
  forever.failed(1000, from(1), true);
  forever.failed(1000, from(1), true);
  now += 365 * 86400;
  EXPECT_TRUE(forever.refuse(1000, from(1), true));
  SignInBackoff none(LockoutPolicy{100, 2, 300, 100, 30, 0, 600}, [&] { return now; });
  for (int i = 0; i < 50; ++i) {
    none.failed(1000, from(1), true);
  }
  EXPECT_FALSE(none.refuse(1000, from(1), true));
}

// [signin.ldap] max_wrong_binds and wrong_bind_window_s reach the lockout policy.
TEST(LdapConfig, DirectoryBudgetSettings) {
  const ConfigResult r = parse_config(std::string(kBase) + R"toml([signin]
backend = "ldap"
[signin.ldap]
url = "ldap://127.0.0.1:3389"
dn_template = "uid={agent},ou=agents,dc=bank,dc=example"
max_wrong_binds = 2
wrong_bind_window_s = 900
)toml",
                                      "acd.toml");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const LockoutPolicy p = lockout_policy(r.config);
  EXPECT_EQ(p.directory_max_failures, 2u);
  EXPECT_EQ(p.directory_window_s, 900u);
  EXPECT_EQ(lockout_policy(parse_config(kBase, "acd.toml").config).directory_max_failures, 4u);
  const ConfigResult bad = parse_config(std::string(kBase) + R"toml([signin]
backend = "ldap"
[signin.ldap]
url = "ldap://127.0.0.1:3389"
dn_template = "uid={agent},ou=agents,dc=bank,dc=example"
max_wrong_binds = -1
)toml",
                                        "acd.toml");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace acd::control
