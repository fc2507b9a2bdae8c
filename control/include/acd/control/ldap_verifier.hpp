// Agents' passwords checked against the bank's LDAP directory (acd.toml [signin] backend = "ldap"
// or "ldap-then-file", [signin.ldap]; docs/operations.md "Directory sign-in").
//
// A password is right when a simple bind as the agent's entry succeeds. The entry's DN is built
// from a template ("uid={agent},ou=agents,dc=bank,dc=example") or found by a search (as a service
// account, or anonymously) under a base with a filter template; the agent's ID is escaped for a DN
// (RFC 4514) or a filter (RFC 4515) either way. An empty password is refused before any bind (a
// simple bind with no password is an anonymous bind, which a directory accepts).
//
// Connections: a pool of at most [signin.ldap] pool connections (TLS: ldaps:// or StartTLS, the
// certificate checked against ca_file), shared by the verifier threads; a thread waits for a free
// one. A connection that fails is closed and a new one opened on next use; pooled connections the
// directory has dropped (it restarted) are replaced within the same check.
//
// The directory down (no connection, TLS refused, a timeout, "busy"/"unavailable") is not a wrong
// password: the check is Unavailable, and [signin.ldap] fallback decides: "refuse" answers
// DirectoryUnavailable; "file" checks the local credential file instead, logged, counted and
// audited. A wrong password from a directory that answered never falls back.
//
// Wrong passwords: the same back-offs as the credential file's (sign_in_backoff.hpp), one set per
// agent whoever checks it, applied BEFORE the bind: an attempt refused during a back-off, or once
// the agent's directory budget is spent, never reaches the directory, so sign-ins sent to acdd
// cannot drive the directory's own lockout (docs/security.md "Directory sign-in").
//
// Threads: LdapVerifier's check_from()/verify() on AsyncVerifier's workers, several at once; the
// pool is behind one mutex, never held during network I/O. The counters are relaxed atomics read
// by the metrics endpoint. The free functions are pure.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "acd/control/config.hpp"
#include "acd/control/result.hpp"
#include "acd/control/sign_in_backoff.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"

struct ldap;  // <ldap.h>'s LDAP

namespace acd::control {

class AuditLog;  // audit_log.hpp

// An attribute value escaped for a DN (RFC 4514 section 2.4): ',', '+', '"', '\\', '<', '>', ';',
// '=' and NUL escaped wherever they are, a leading '#' or space and a trailing space escaped too.
std::string escape_dn_value(std::string_view value);
// An assertion value escaped for a search filter (RFC 4515 section 3): '*', '(', ')', '\\' and NUL
// as \2a, \28, \29, \5c, \00.
std::string escape_filter_value(std::string_view value);
// `pattern` with every "{agent}" replaced by `agent`, escaped for a filter (`filter`) or a DN.
std::string expand_agent(std::string_view pattern, std::string_view agent, bool filter);

// Checks of [signin.ldap]'s values, shared by the config file's reader and the tests: done, or a
// Usage failure saying what is wrong (without the key's name).
Result<void> check_ldap_url(std::string_view url, LdapTls tls);  // one ldap:// or ldaps:// URL
Result<void> check_dn_template(std::string_view pattern);        // "{agent}", a valid DN otherwise
Result<void> check_search_filter(std::string_view pattern);      // "{agent}", "(...)" balanced

// The service account's password from its file (one line; a trailing newline is dropped). Refused
// naming the file when it cannot be read or is empty.
Result<std::string> read_bind_password(const std::string& path);

// Upper bounds of the bind-latency histogram's buckets, in milliseconds.
inline constexpr std::array<std::uint64_t, 12> kLdapBindBoundsMs{1,   2,   5,   10,   25,   50,
                                                                 100, 250, 500, 1000, 2500, 5000};

// The directory's counts since start, for the metrics endpoint (relaxed atomics; any thread).
struct LdapCounters {
  // Binds as an agent by outcome.
  std::atomic<std::uint64_t> binds_accepted{0};       // including binds_must_change
  std::atomic<std::uint64_t> binds_wrong_password{0};  // invalidCredentials
  std::atomic<std::uint64_t> binds_unavailable{0};     // the directory could not be reached
  std::atomic<std::uint64_t> binds_error{0};           // any other answer: refused
  std::atomic<std::uint64_t> unknown_agents{0};        // a search found no entry for the agent
  std::atomic<std::uint64_t> refused_empty{0};         // an empty password, refused unbound
  // Sign-ins checked against the local file while the directory was down, by its answer.
  std::atomic<std::uint64_t> fallback_accepted{0};
  std::atomic<std::uint64_t> fallback_refused{0};
  // The pool: connections open now (in use or idle), in use now, opened and dropped since start,
  // and the most ever open at once (never above `pool_size`).
  std::atomic<std::uint64_t> pool_size{0};
  std::atomic<std::uint64_t> pool_open{0};
  std::atomic<std::uint64_t> pool_in_use{0};
  std::atomic<std::uint64_t> pool_opened{0};
  std::atomic<std::uint64_t> pool_dropped{0};
  std::atomic<std::uint64_t> pool_open_high_water{0};
  // Agent binds' latency: buckets per kLdapBindBoundsMs (last: above), sum in ns.
  std::array<std::atomic<std::uint64_t>, kLdapBindBoundsMs.size() + 1> bind_buckets{};
  std::atomic<std::uint64_t> bind_sum_ns{0};
  // Accepted binds the directory answered "password reset: change it first" (ppolicy's
  // changeAfterReset): the sign-in is acknowledged with must-change.
  std::atomic<std::uint64_t> binds_must_change{0};
  void record_bind(std::uint64_t ns);
};

// What the directory said about one (agent, password).
enum class DirectoryAnswer : std::uint8_t {
  Accepted,
  // The bind succeeded, but the directory's password policy says the password was reset and must
  // be changed before the entry may do anything else (OpenLDAP ppolicy pwdReset with
  // pwdMustChange: the changeAfterReset error in the password-policy response control).
  MustChange,
  WrongPassword,  // the bind was refused, or the password was empty
  UnknownAgent,   // a search found no entry (or more than one) for the agent
  Unavailable,    // the directory could not be reached or timed out
};

// The directory and its connection pool.
class LdapDirectory {
 public:
  // `settings` valid (the config reader checked them); `bind_password` the service account's
  // (searches only; wiped on destruction).
  LdapDirectory(LdapSettings settings, std::string bind_password);
  ~LdapDirectory();
  LdapDirectory(const LdapDirectory&) = delete;
  LdapDirectory& operator=(const LdapDirectory&) = delete;

  // The answer for `agent_id` (any text: escaped here) and `password`. Blocks for at most about
  // twice connect_timeout_ms + timeout_ms per operation, plus the wait for a free connection.
  // Any thread, concurrently.
  DirectoryAnswer check(std::string_view agent_id, std::string_view password);
  const LdapCounters& counters() const { return counters_; }
  LdapCounters& counters() { return counters_; }  // the verifier books its fallbacks here

 private:
  // A connection from the pool (an idle one, else a new one if fewer than `pool` are open), or
  // null with `error` set (the directory could not be reached, or none came free in time).
  ldap* acquire(bool& reused, int& error);
  // Back to the pool, or (broken) closed.
  void release(ldap* conn, bool broken);
  ldap* open(int& error);
  DirectoryAnswer check_on(ldap* conn, std::string_view agent_id, std::string_view password,
                           int& error);

  LdapSettings settings_;
  std::string bind_password_;
  std::mutex mutex_;  // guards idle_ and open_
  std::condition_variable freed_;
  std::vector<ldap*> idle_;
  std::uint32_t open_ = 0;  // connections open or being opened (idle_ and leased)
  LdapCounters counters_;
  std::atomic<bool> down_{false};  // the last attempt found the directory down (logged on change)
};

// The CredentialVerifier acdd runs for backend "ldap" or "ldap-then-file".
class LdapVerifier final : public dataplane::CredentialVerifier {
 public:
  // `file`: the local credential check, used for agents a search did not find (backend
  // ldap-then-file) and while the directory is down (fallback file); null when neither applies.
  // It must outlive the verifier. `backoff`: the back-offs every check goes through first (acdd
  // gives the credential store's, CredentialStore::backoff(), which `agents unlock` lifts); a
  // directory answer is booked there, a check `file` makes is booked by `file` (the same back-offs
  // when it is that store). Null: none (tests). It must outlive the verifier.
  LdapVerifier(const SignInSettings& settings, std::string bind_password,
               dataplane::CredentialVerifier* file, SignInBackoff* backoff = nullptr);

  dataplane::VerifyOutcome check_from(router::AgentNumber agent, std::string_view password,
                                      const dataplane::SignInSource& source) override;
  bool verify(router::AgentNumber agent, std::string_view password) override;
  // After an accepted check on the same thread: the directory said the password must be changed
  // (DirectoryAnswer::MustChange), or the file that checked it says so.
  bool must_change(router::AgentNumber agent) override;
  // A code spent through the file (ldap-then-file, or the fallback) is replicated like any.
  bool spent_enrolment(router::AgentNumber agent,
                       char (&hash)[dataplane::kCredentialHashBytes]) override {
    return file_ != nullptr && file_->spent_enrolment(agent, hash);
  }
  // change_password is not overridden: the directory owns the passwords, so a desktop's
  // PasswordChange is answered PasswordChangeUnavailable (the agent changes it in the directory).

  const LdapCounters& counters() const { return directory_.counters(); }
  // Where directory fallbacks are recorded; null: nowhere. Set before the verifier starts.
  void set_audit(AuditLog* log) { audit_ = log; }

 private:
  LdapDirectory directory_;
  SignInBackend backend_;
  DirectoryFallback fallback_;
  dataplane::CredentialVerifier* file_;
  SignInBackoff* backoff_;
  AuditLog* audit_ = nullptr;
  // This thread's last check, for must_change() (AsyncVerifier asks on the thread that checked).
  struct Last {
    const LdapVerifier* verifier = nullptr;
    router::AgentNumber agent = 0;
    bool must_change = false;  // the directory said so
    bool by_file = false;      // the local file checked it
  };
  static thread_local Last last_;
};

}  // namespace acd::control
