// Agents' passwords [GB/T 32315 4.1.1 a]: argon2id hashes (libsodium crypto_pwhash_str) in a
// credential file, verification with lockout after repeated failures.
//
// The file has one line per agent, "AGENT_ID HASH", and '#' comments; it is rewritten atomically
// (a temporary file renamed over it) with mode 0600. Passwords themselves are never stored, logged
// or echoed; buffers that held one are wiped.
//
// Thread-safety: verify() and locked() run on the verifier's worker threads
// (dataplane::AsyncVerifier), several at once: the store's tables are behind one mutex, held only
// for look-ups and bookkeeping, never during a hash. apply_credential() and restore_enrolment()
// run on the credential writer's thread (dataplane::CredentialWriter), one at a time, and may wait
// for the file's writers' lock; nothing here runs on the IO thread. load() and set_audit() are for
// start-up; the static functions are for acdctl and touch no store.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>
#include <map>
#include <string>
#include <string_view>

#include "acd/control/credential_file.hpp"
#include "acd/control/result.hpp"
#include "acd/control/sign_in_backoff.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"

namespace acd::control {

class AuditLog;  // audit_log.hpp

enum class HashStrength : std::uint8_t {
  Interactive,  // libsodium's interactive limits (64 MiB, ~0.1 s): for real passwords
  Minimal,      // the smallest libsodium allows: tests only
};

// The cost of an argon2id hash: passes over memory (opslimit) and memory (bytes). It applies to
// hashes written from now on; a stored hash keeps verifying with the parameters its own string
// records. The named levels and what each costs here are in docs/operations.md "Sign-in cost".
struct HashCost {
  std::uint64_t opslimit = 2;           // libsodium's OPSLIMIT_INTERACTIVE
  std::size_t memlimit = 64ull << 20;   // libsodium's MEMLIMIT_INTERACTIVE, bytes
  bool operator==(const HashCost&) const = default;

  static HashCost of(HashStrength strength);
  // "interactive" (2 passes, 64 MiB), "owasp" (2 passes, 19 MiB: the OWASP cheat sheet's
  // minimum for argon2id), "minimal" (1 pass, 8 KiB: tests only). Usage failure listing the names
  // otherwise.
  static Result<HashCost> named(std::string_view name);
  // Done, or a Usage failure saying which limit is out of range: opslimit 1..16, memlimit 8 KiB ..
  // 1 GiB (every worker thread needs memlimit bytes while it hashes).
  static Result<void> check(std::uint64_t opslimit, std::uint64_t memlimit_kib);
};
std::string to_string(const HashCost& cost);  // "opslimit=2 memlimit=64MiB"

// The back-off after wrong passwords (LockoutPolicy) and the sign-in counters (SignInCounters) are
// sign_in_backoff.hpp's, shared with the directory's checks (ldap_verifier.hpp).

// The password policy a desktop's PasswordChange is held to (docs/security.md "Password policy"):
// 8..64 bytes, no control characters, at least two of letters / digits / other characters, not
// the old password, and not containing the agent's ID. Done, or a Usage failure saying which rule
// the new password breaks (never echoing it). Pure; any thread.
Result<void> check_password_policy(router::AgentNumber agent, std::string_view old_password,
                                   std::string_view new_password);

class CredentialStore final : public dataplane::CredentialVerifier,
                              public dataplane::CredentialSink {
 public:
  using Clock = SignInBackoff::Clock;  // seconds; injected so tests can move time

  CredentialStore(LockoutPolicy policy = {}, Clock clock = {});

  // Reads a credential file. Fails with Refused, naming the file (and the line), when it cannot be
  // read or a line is malformed or repeats an agent; the store is unchanged then.
  // verify() reads the file again when it has changed since (a password set or an agent added with
  // 'acdctl agent passwd' takes effect without a restart); a broken file keeps the last good one.
  Result<void> load(const std::string& path);
  std::size_t size() {
    const std::lock_guard lock(mutex_);
    return hashes_.size();
  }

  // True for the right password of an agent with no back-off running for this source (or for the
  // agent as a whole). A wrong one counts towards both back-offs; a right one clears the agent's
  // and this source's. During a back-off the password is not even checked (refused).
  // An enrolment code is accepted once: the first right use marks the entry `enrolment-used` in
  // memory at once (a concurrent use of the same code is refused) and in the file (atomically,
  // under the writers' lock: it may wait for an `agent import`); if the file cannot be written the
  // mark is undone and the sign-in refused (the code stays usable).
  bool verify_from(router::AgentNumber agent, std::string_view password,
                   const dataplane::SignInSource& source) override;
  // verify_from with an unknown source (all such attempts share one source).
  bool verify(router::AgentNumber agent, std::string_view password) override;
  // True if the agent's entry is flagged must-change or enrolment (the desktop is told to have a
  // new password set). Verifier threads.
  bool must_change(router::AgentNumber agent) override;
  // A signed-in desktop's password change (verifier threads). The old secret is checked like a
  // sign-in (back-offs apply and count, whichever secret it is; the initial password, or the
  // enrolment code the agent signed in with, is accepted as the old one), the new one against
  // check_password_policy, then hashed at set_hash_cost's cost. Nothing is stored here: on Changed
  // `hash` holds the new hash and `replaced` the digest of the hash it replaces, and the change is
  // stored when its log record is applied (apply_credential), so that a change the log refuses
  // changes nothing. Refused: wrong old secret, back-off, no such agent; Policy; Unavailable: no
  // file loaded, hashing failed, or the entry changed while the old secret was checked.
  // Every refusal is recorded in the audit log (agent.password_change), never a password or hash;
  // a change is recorded once, by apply_credential when its log record is applied (with the
  // desktop it came from), so that a primary writes one record per change, as its standby does.
  dataplane::ChangeOutcome change_password(router::AgentNumber agent, std::string_view old_password,
                                           std::string_view new_password,
                                           const dataplane::SignInSource& source,
                                           char (&hash)[dataplane::kCredentialHashBytes],
                                           dataplane::CredentialDigest& replaced) override;
  // True when the agent's entry is a spent enrolment code (verify_from just spent it: a spent
  // code never verifies again), with its hash. Verifier threads.
  bool spent_enrolment(router::AgentNumber agent,
                       char (&hash)[dataplane::kCredentialHashBytes]) override;
  // A change of the sequenced log (this node's own or its primary's), on the credential writer's
  // thread, in log order. Refused (counted, audited, nothing changed) unless `hash` is a valid
  // argon2id string (checked strictly, and by libsodium's parser) for an agent of the file.
  // A Password sets the entry to `hash` with no flag only if the entry still holds the hash whose
  // digest is `replaces` (Stored), or holds `hash` already (Held); otherwise the entry was changed
  // since — an administrator's `agent passwd`, which is not logged — and is kept (Kept, counted,
  // audited). An EnrolmentSpent marks the entry enrolment-used if it still holds that code.
  // Written to the file atomically under the writers' lock; if the file cannot be written the
  // memory copy is changed anyway (Failed, audited: this node refuses the old secret until it
  // restarts). So a record applied twice, or replayed after a newer change, changes nothing.
  dataplane::ApplyOutcome apply_credential(router::AgentNumber agent,
                                           dataplane::CredentialChangeKind kind,
                                           std::string_view hash,
                                           const dataplane::CredentialDigest& replaces) override;
  // Undoes spend_enrolment's mark when the spend could not be logged: the entry holding the spent
  // code `hash` is usable again (file and memory). Credential writer's thread.
  void restore_enrolment(router::AgentNumber agent, std::string_view hash) override;
  // The digest of a stored hash string that a CredentialChange names as replaced. Pure.
  static dataplane::CredentialDigest digest(std::string_view hash);
  // The cost of hashes change_password writes (acd.toml [signin] cost). Before the verifier starts.
  void set_hash_cost(const HashCost& cost) { cost_ = cost; }
  // True while an agent-wide back-off runs (every source refused).
  bool locked(router::AgentNumber agent) { return backoff_.locked(agent); }
  // Seconds until `source` may try `agent` again (0: now).
  std::uint64_t wait_seconds(router::AgentNumber agent, const dataplane::SignInSource& source) {
    return backoff_.wait_seconds(agent, source);
  }
  // Lifts every back-off of `agent` (SignInBackoff::unlock). Any thread (`agents unlock`).
  std::size_t unlock(router::AgentNumber agent) { return backoff_.unlock(agent); }
  // The back-offs this store's checks go through; acdd hands the same to the directory's
  // verifier (LdapVerifier), so that one agent has one set of back-offs whoever checks it.
  SignInBackoff& backoff() { return backoff_; }
  const SignInCounters& counters() const { return backoff_.counters(); }
  // Where a lockout and a change of the credential file are recorded (never a password or a
  // hash); null (the default): nowhere. Set before the verifier thread starts.
  void set_audit(AuditLog* log) {
    audit_ = log;
    backoff_.set_audit(log);
  }

  // A generated enrolment code (generate_code) as "$acd-code$v=1$SALT$HASH": BLAKE2b-256 keyed
  // with a fresh random salt (dataplane::valid_code_hash_string). Microseconds, where argon2id
  // takes tens of ms: only for codes of kGeneratedCodeBits or more (docs/security.md "Generated
  // enrolment codes"). Empty if libsodium failed.
  static std::string code_hash(std::string_view code);
  // A new enrolment code of 20 characters of Crockford's base32 (0-9, A-Z without I L O U) from
  // the system's CSPRNG: 100 bits, dataplane::kGeneratedCodeBits.
  static std::string generate_code();
  // True if `secret` matches `stored`, an argon2id string or a generated code's hash; false for
  // anything else. Constant time in the secret for a code hash. Any thread.
  static bool verify_secret(const std::string& stored, std::string_view secret);

  // An argon2id hash string of the password (empty if libsodium failed, e.g. out of memory).
  static std::string hash(std::string_view password,
                          HashStrength strength = HashStrength::Interactive);
  static std::string hash(std::string_view password, const HashCost& cost);

  // Sets (or replaces) one agent's password in a credential file, creating it if needed. Fails
  // with Usage for agent 0 or a password under 8 characters, Refused when the file is malformed,
  // hashing fails or the file cannot be written; the file is unchanged then.
  static Result<void> set_password(const std::string& path, router::AgentNumber agent,
                                   std::string_view password,
                                   HashStrength strength = HashStrength::Interactive);
  static Result<void> set_password(const std::string& path, router::AgentNumber agent,
                                   std::string_view password, const HashCost& cost);

  // What tells one version of the credential file from another without reading it.
  struct FileIdentity {
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::int64_t size = -1;  // -1: no file
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    bool operator==(const FileIdentity&) const = default;
  };

 private:
  void reload_if_changed();  // mutex_ held
  Result<void> load_unlocked(const std::string& path);  // mutex_ held
  // The enrolment code `hash` of `agent` was right: spend it (see verify_from). mutex_ not held.
  bool spend_enrolment(router::AgentNumber agent, const std::string& hash);
  // Sets `agent`'s entry in the file (under the writers' lock) and in memory when `decide(current
  // entry or null)` says Stored; `outcome` is what it said. Empty: done (or not wanted); else why
  // the file could not be written (outcome Failed; memory then changed if `decide` allows it
  // there). mutex_ not held.
  std::string store_entry(
      router::AgentNumber agent, const CredentialEntry& entry,
      const std::function<dataplane::ApplyOutcome(const CredentialEntry*)>& decide,
      dataplane::ApplyOutcome& outcome);
  // A change this node checked (change_password), until its log record is applied: the desktop
  // it came from, for apply_credential's audit record. The oldest few are kept (a change the log
  // refused is never applied).
  struct OwnChange {
    std::string hash;
    dataplane::SignInSource source;
  };
  static constexpr std::size_t kOwnChangesKept = 64;
  HashCost cost_;
  std::mutex mutex_;  // guards everything below (and the file's reload)
  std::deque<OwnChange> own_changes_;
  AuditLog* audit_ = nullptr;
  std::string path_;
  FileIdentity file_identity_;  // of the file as it was read (or last written by us)
  CredentialTable hashes_;
  SignInBackoff backoff_;  // its own mutex; taken after mutex_ when both are
};

}  // namespace acd::control
