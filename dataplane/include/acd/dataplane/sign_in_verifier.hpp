// Agent sign-in verification, off the routing core [GB/T 32315 4.1.1 a].
//
// CredentialVerifier is the interface (the control plane provides the argon2id one; tests use
// InMemoryCredentials). AsyncVerifier runs a verifier on a pool of worker threads: the dataplane
// submits jobs to one bounded queue and collects results from another, so a slow hash never stalls
// packet processing and a shift start's burst of sign-ins uses every core the routing does not.
// The password is wiped from every buffer as soon as it has been checked, and is never logged.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

#include "acd/dataplane/wire.hpp"
#include "acd/router/types.hpp"

namespace acd::dataplane {

// Where a sign-in came from: the IO stage's slot of the desktop's client (its registration) and
// the device it named. A verifier may rate-limit per source (CredentialStore does).
struct SignInSource {
  static constexpr std::uint32_t kUnknownSlot = 0xFFFFFFFF;
  std::uint32_t client_slot = kUnknownSlot;
  std::uint64_t device = 0;
};

// What one check found. Unavailable: the password could not be checked at all (the directory that
// holds it is down or timed out); the desktop is told so (DirectoryUnavailable), never that the
// password was wrong.
enum class VerifyOutcome : std::uint8_t { Accepted, Refused, Unavailable };

// What a password change found (CredentialVerifier::change_password).
enum class ChangeOutcome : std::uint8_t {
  Changed,      // old password right, new one stored; its hash is handed back for the log
  Policy,       // the new password breaks the policy (docs/security.md "Password policy")
  Refused,      // the old password is wrong, or a back-off is running
  Unavailable,  // this verifier cannot change passwords (a directory owns them) or storing failed
};

// Room for an argon2id hash string with its NUL (libsodium's crypto_pwhash_STRBYTES).
inline constexpr std::size_t kCredentialHashBytes = 128;

// What a CredentialChange log record does to the agent's stored credential.
enum class CredentialChangeKind : std::uint8_t {
  Password = 1,        // the agent's password is now the hash, final (no must-change flag)
  EnrolmentSpent = 2,  // the enrolment code with this hash was used: it never verifies again
};

class CredentialVerifier {
 public:
  virtual ~CredentialVerifier() = default;
  // What AsyncVerifier's workers call. By default verify_from() (Accepted or Refused); a backend
  // that can be unreachable (LdapVerifier) overrides it. Same threads and rules as verify().
  virtual VerifyOutcome check_from(router::AgentNumber agent, std::string_view password,
                                   const SignInSource& source) {
    return verify_from(agent, password, source) ? VerifyOutcome::Accepted
                                                : VerifyOutcome::Refused;
  }
  // verify() with the attempt's source; by default the source is not looked at. Same threads.
  virtual bool verify_from(router::AgentNumber agent, std::string_view password,
                           const SignInSource& source) {
    (void)source;
    return verify(agent, password);
  }
  // True if `password` is this agent's. May be slow. Called on the verifier's worker threads, by
  // several at once: an implementation must be safe for concurrent calls.
  virtual bool verify(router::AgentNumber agent, std::string_view password) = 0;
  // After an accepted verify: true if the agent is to replace the secret it used (an initial
  // password or an enrolment code). Same threads; by default false.
  virtual bool must_change(router::AgentNumber agent) {
    (void)agent;
    return false;
  }
  // Replaces the agent's password: `old_password` is checked as a sign-in's would be (it counts
  // towards the back-offs), `new_password` against the policy, then hashed and stored durably.
  // On Changed, `hash` holds the new hash string, NUL-terminated, for the sequenced log. Same
  // threads as verify(). By default Unavailable: the verifier cannot change passwords.
  virtual ChangeOutcome change_password(router::AgentNumber agent, std::string_view old_password,
                                        std::string_view new_password, const SignInSource& source,
                                        char (&hash)[kCredentialHashBytes]) {
    (void)agent, (void)old_password, (void)new_password, (void)source, (void)hash;
    return ChangeOutcome::Unavailable;
  }
  // After an accepted check: true if that sign-in spent a one-time enrolment code, with the code's
  // hash in `hash` (NUL-terminated), so that the pair's other node spends it too. Same threads;
  // by default false.
  virtual bool spent_enrolment(router::AgentNumber agent, char (&hash)[kCredentialHashBytes]) {
    (void)agent, (void)hash;
    return false;
  }
};

// Where a node that applies the sequenced log (a hot standby) stores the credential changes its
// primary made (RecordKind::CredentialChange): control/'s CredentialStore writes its own
// credential file. Called on the thread that applies the log; it may write a file (a standby
// serves no client meanwhile). Never given a password: only argon2id hash strings.
class CredentialSink {
 public:
  virtual ~CredentialSink() = default;
  virtual void apply_credential(router::AgentNumber agent, CredentialChangeKind kind,
                                std::string_view hash) = 0;
};

// Plain passwords in memory: for tests and demos only. set() before the verifier starts; verify()
// only reads, so concurrent calls are safe.
class InMemoryCredentials final : public CredentialVerifier {
 public:
  void set(router::AgentNumber agent, std::string password) {
    passwords_[agent] = std::move(password);
  }
  bool verify(router::AgentNumber agent, std::string_view password) override;

 private:
  std::map<router::AgentNumber, std::string> passwords_;
};

// A job for the pool: a sign-in's password check, or a signed-in agent's password change.
enum class VerifierTask : std::uint8_t { SignIn, PasswordChange };

struct SignInJob {
  VerifierTask task = VerifierTask::SignIn;
  router::AgentNumber number = 0;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
  std::uint64_t device = 0;
  char password[wire::kPasswordBytes] = {};      // a change's old password
  char new_password[wire::kPasswordBytes] = {};  // PasswordChange only
};

struct SignInResult {
  VerifierTask task = VerifierTask::SignIn;
  router::AgentNumber number = 0;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
  std::uint64_t device = 0;
  bool accepted = false;
  bool unavailable = false;  // not accepted because the password could not be checked
  bool must_change = false;  // accepted, and the agent is to change its password
  bool enrolment_spent = false;  // accepted with an enrolment code, now spent (hash: the code's)
  ChangeOutcome change = ChangeOutcome::Unavailable;  // PasswordChange: what happened
  char hash[kCredentialHashBytes] = {};  // the hash to log (changed password or spent code)
};

// Overwrites memory so that the compiler cannot elide it.
void wipe(void* data, std::size_t bytes);

// How the verifier pool is sized. acdd takes these from acd.toml [signin] (docs/operations.md).
struct VerifierPoolConfig {
  unsigned threads = 1;         // worker threads, at least 1
  std::size_t queue = 1024;     // sign-ins waiting for a worker, 1..65534; beyond: submit() fails
  std::vector<int> cpus;        // CPUs the workers may run on; empty: wherever the OS likes
  int nice = 0;                 // the workers' niceness (0..19): >0 yields to the routing threads
  // What one check is assumed to cost until the workers have timed some (retry_after_ms).
  std::uint32_t check_estimate_us = 5000;
};

// A pool of worker threads running one CredentialVerifier.
//
// Threads: submit() and collect() belong to ONE thread (the dataplane's IO thread); the workers
// take jobs from a bounded multi-consumer queue and put results on a multi-producer queue sized so
// that a worker never waits while the IO thread keeps collecting. Neither call blocks, allocates or
// makes a system call. Jobs are taken in submission order; results come back in completion order.
class AsyncVerifier {
 public:
  explicit AsyncVerifier(CredentialVerifier& verifier, VerifierPoolConfig config = {});
  ~AsyncVerifier();
  AsyncVerifier(const AsyncVerifier&) = delete;
  AsyncVerifier& operator=(const AsyncVerifier&) = delete;

  // IO thread: false if the job queue is full (`config.queue` sign-ins already wait): the caller
  // answers Overloaded and the desktop retries later. The job's passwords are wiped either way.
  bool submit(SignInJob& job);
  // IO thread: hands every result ready so far to `on_result`; returns how many.
  template <typename OnResult>
  std::size_t collect(OnResult&& on_result) {
    const std::size_t n = results_.consume_all(on_result);
    pending_ -= n;
    return n;
  }
  // IO thread, after a refused submit(): in how many milliseconds the refused desktop should
  // send its sign-in again (the Overloaded answer's hint, docs/protocol.md). Each refusal books
  // the next free turn: the turns start when the queue is down to half (the jobs waiting
  // beyond half the queue × the workers' mean check time ÷ threads) and follow one another a
  // check's time apart, so the
  // desktops a burst refused come back spread over the time the pool needs, not all at once.
  // `now_us`: the IO stage's clock. At least kMinRetryAfterMs, at most kMaxRetryAfterMs.
  static constexpr std::uint32_t kMinRetryAfterMs = 50;
  static constexpr std::uint32_t kMaxRetryAfterMs = 60'000;
  std::uint32_t retry_after_ms(std::uint64_t now_us);
  // The mean time of one check so far (µs), or the configured estimate before the first.
  std::uint64_t mean_check_us() const;
  // The pool's size as started (threads clamped to at least 1, queue to 1..65534).
  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }
  std::size_t queue_capacity() const { return capacity_; }

 private:
  void run();

  CredentialVerifier& verifier_;
  std::size_t capacity_;
  // Submitted and not yet collected (IO thread only): at most capacity_, so that neither queue
  // ever holds more than capacity_ entries and a worker's push of a result always finds room.
  std::size_t pending_ = 0;
  // retry_after_ms's last turn handed out (IO thread's clock, µs).
  std::uint64_t booked_until_us_ = 0;
  std::uint32_t check_estimate_us_;
  // Checks done and their total time, added by the workers (relaxed: a mean for a hint; each
  // worker's fetch_add pairs with nothing, the IO thread's loads may lag by a check).
  alignas(64) std::atomic<std::uint64_t> checks_done_{0};
  std::atomic<std::uint64_t> check_ns_total_{0};
  boost::lockfree::queue<SignInJob, boost::lockfree::fixed_sized<true>> jobs_;
  boost::lockfree::queue<SignInResult, boost::lockfree::fixed_sized<true>> results_;
  // The destructor's store(release) pairs with the workers' load(acquire).
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace acd::dataplane
