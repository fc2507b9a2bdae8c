// Agent sign-in verification, off the routing core [GB/T 32315 4.1.1 a].
//
// CredentialVerifier is the interface (the control plane provides the argon2id one; tests use
// InMemoryCredentials). AsyncVerifier runs a verifier on a pool of worker threads: the dataplane
// submits jobs to one bounded queue and collects results from another, so a slow hash never stalls
// packet processing and a shift start's burst of sign-ins uses every core the routing does not.
// The password is wiped from every buffer as soon as it has been checked, and is never logged.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

#include "acd/dataplane/doorbell.hpp"
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

// What a password change replaced: the first 16 bytes of BLAKE2b over the agent's argon2id hash
// string before the change (CredentialStore::digest). A CredentialChange record carries it, and a
// node applies the record only to an entry that still holds what it replaced (or already holds
// the new hash): an administrator's reset made since is never overwritten. All zero: unknown.
inline constexpr std::size_t kCredentialDigestBytes = 16;
using CredentialDigest = std::array<std::uint8_t, kCredentialDigestBytes>;

// True if `hash` is an argon2id string as libsodium writes it, checked strictly:
// "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" with M, T, P decimal without leading zeros, SALT and HASH
// in unpadded base64 (A-Z a-z 0-9 + /) of 8..64 and 16..64 bytes, shorter than
// kCredentialHashBytes in all. Pure; any thread.
bool valid_argon2id_string(std::string_view hash);

// A generated enrolment code's hash (docs/security.md "Generated enrolment codes"): BLAKE2b-256
// of the code keyed with a random 16-byte salt, "$acd-code$v=1$SALT$HASH" (unpadded base64 of 16
// and 32 bytes). Only for codes acdctl generated with kGeneratedCodeBits of entropy or more, whose
// brute force is infeasible without a slow hash; never for a password or a code a person chose.
inline constexpr std::string_view kCodeHashPrefix = "$acd-code$v=1$";
inline constexpr unsigned kGeneratedCodeBits = 100;
// True if `hash` is such a string, checked strictly as valid_argon2id_string checks its own. Pure.
bool valid_code_hash_string(std::string_view hash);
// A stored credential hash of either kind.
inline bool valid_credential_hash(std::string_view hash) {
  return valid_argon2id_string(hash) || valid_code_hash_string(hash);
}

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
  // On Changed, `hash` holds the new hash string, NUL-terminated, and `replaced` the digest of
  // the hash it replaces, for the sequenced log. Nothing is stored yet: the change is stored when
  // its log record is applied (CredentialSink), so that a change the log has no room for changes
  // nothing. Same threads as verify(). By default Unavailable: the verifier cannot change
  // passwords.
  virtual ChangeOutcome change_password(router::AgentNumber agent, std::string_view old_password,
                                        std::string_view new_password, const SignInSource& source,
                                        char (&hash)[kCredentialHashBytes],
                                        CredentialDigest& replaced) {
    (void)agent, (void)old_password, (void)new_password, (void)source, (void)hash, (void)replaced;
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

// The Linux scheduling policy of the sign-in threads (the verifier pool and the credential
// writer): acd.toml [signin] sched. Normal: SCHED_OTHER (with the pool's nice). Batch:
// SCHED_BATCH, never treated as interactive (no wake-up preemption of a running thread), nice
// still applies. Idle: SCHED_IDLE, runs only when nothing of another policy wants the CPU, nice
// ignored. Lowering needs no privilege.
enum class ThreadClass : std::uint8_t { Normal, Batch, Idle };
// Gives the calling thread `cls`: 0, or the errno the OS refused it with.
int apply_thread_class(ThreadClass cls);

// What applying one credential change did (CredentialSink::apply_credential).
enum class ApplyOutcome : std::uint8_t {
  Stored,   // the entry now holds it (memory and file)
  Held,     // the entry already held it: nothing to do (the record applied before, or replayed)
  Kept,     // the entry holds something newer than what the change replaced: left alone
  Refused,  // not a valid argon2id string, or an agent the credential file lacks
  Failed,   // stored in memory, but the file could not be written (audited)
};

// Where a node stores the credential changes of the sequenced log (RecordKind::CredentialChange),
// its own as its primary's: control/'s CredentialStore writes its own credential file. Called
// only by CredentialWriter's thread, one change at a time in log order: it may block on the file
// (the writers' lock, fsync). Never given a password: only argon2id hash strings.
class CredentialSink {
 public:
  virtual ~CredentialSink() = default;
  // Password: the entry becomes `hash` (no flag) if it holds what `replaces` names or already
  // holds `hash`; EnrolmentSpent: the entry holding the code `hash` is marked spent.
  virtual ApplyOutcome apply_credential(router::AgentNumber agent, CredentialChangeKind kind,
                                        std::string_view hash,
                                        const CredentialDigest& replaces) = 0;
  // Undoes a spend that could not be logged: the entry holding the spent code `hash` becomes
  // usable again (nothing else is touched). Local only, never logged.
  virtual void restore_enrolment(router::AgentNumber agent, std::string_view hash) = 0;
};

// One change for CredentialWriter.
struct CredentialWrite {
  enum class Action : std::uint8_t { Apply, RestoreEnrolment };
  Action action = Action::Apply;
  CredentialChangeKind kind = CredentialChangeKind::Password;
  router::AgentNumber number = 0;
  CredentialDigest replaces{};
  char hash[kCredentialHashBytes] = {};
  // Answered when done (a primary's PasswordChange): the request to answer.
  bool answer = false;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
};

struct CredentialWriteDone {
  ApplyOutcome outcome = ApplyOutcome::Stored;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
};

// Stores credential changes off the IO thread: one thread of its own calls the sink for each
// submitted change, in submission order (the log's order), so a slow file (an `agent import`
// holding the writers' lock, an fsync) never stalls routing.
//
// Threads: submit(), has_room() and collect() belong to ONE thread (the IO thread); wait_idle() to
// any thread. Neither submit() nor collect() blocks or allocates; submit() rings the writer's
// doorbell (one atomic increment, and a futex wake only when the writer sleeps); submit_waiting()
// waits (sleeping) only while the queue is full. An idle writer sleeps until a submit().
class CredentialWriter {
 public:
  // `sched`: the writer thread's scheduling policy (acd.toml [signin] sched, as the pool's).
  explicit CredentialWriter(CredentialSink& sink, std::size_t capacity = 1024,
                            ThreadClass sched = ThreadClass::Normal);
  ~CredentialWriter();
  CredentialWriter(const CredentialWriter&) = delete;
  CredentialWriter& operator=(const CredentialWriter&) = delete;

  // Room for one more new change (and its answer) now? New changes fill at most half the queue;
  // the other half is for what must not be refused (submit_waiting).
  bool has_room() const { return in_flight() < capacity_ / 2 && answers_pending_ < capacity_; }
  // False, nothing queued, if the queue is full.
  bool submit(const CredentialWrite& write);
  // For a change that must not be dropped (a record already in the log, replayed; the undoing of
  // a spend the log had no room for): queued in the half kept for them, waiting (sleeping) only
  // if the whole queue is full.
  void submit_waiting(const CredentialWrite& write);
  // Hands every finished change that asked for an answer to `on_done`; returns how many.
  template <typename OnDone>
  std::size_t collect(OnDone&& on_done) {
    const std::size_t n = done_.consume_all(on_done);
    answers_pending_ -= n;
    return n;
  }
  // Until every change submitted so far has been stored (tests, shutdown). Any thread.
  void wait_idle() const;
  // Changes stored since start by outcome (relaxed; any thread).
  std::uint64_t count(ApplyOutcome outcome) const {
    return outcomes_[static_cast<std::size_t>(outcome)].load(std::memory_order_relaxed);
  }

 private:
  void run();
  std::uint64_t in_flight() const {
    return submitted_.load(std::memory_order_relaxed) - finished_.load(std::memory_order_acquire);
  }

  CredentialSink& sink_;
  std::size_t capacity_;
  std::size_t answers_pending_ = 0;  // asked for an answer, not yet collected (IO thread only)
  // Submitted (IO thread) and finished (the writer): the writer's store(release) of finished_
  // pairs with has_room's and wait_idle's load(acquire).
  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> finished_{0};
  std::array<std::atomic<std::uint64_t>, 5> outcomes_{};
  boost::lockfree::queue<CredentialWrite, boost::lockfree::fixed_sized<true>> writes_;
  boost::lockfree::queue<CredentialWriteDone, boost::lockfree::fixed_sized<true>> done_;
  Doorbell bell_;  // submit() and the destructor ring it; the idle writer sleeps on it
  std::atomic<bool> stop_{false};  // the destructor's store(release), run()'s load(acquire)
  std::thread thread_;
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

// What submit() takes. The passwords are copied into a buffer the pool owns (never into the
// queue's own nodes, which keep what passed through them) and wiped there after the check.
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
  CredentialDigest replaced{};           // PasswordChange: what the new hash replaces
};

// Overwrites memory so that the compiler cannot elide it.
void wipe(void* data, std::size_t bytes);

// How the verifier pool is sized. acdd takes these from acd.toml [signin] (docs/operations.md).
struct VerifierPoolConfig {
  unsigned threads = 1;         // worker threads, at least 1
  std::size_t queue = 1024;     // sign-ins waiting for a worker, 1..65534; beyond: submit() fails
  std::vector<int> cpus;        // CPUs the workers may run on; empty: wherever the OS likes
  int nice = 0;                 // the workers' niceness (0..19): >0 yields to the routing threads
  ThreadClass sched = ThreadClass::Normal;  // the workers' scheduling policy
  // What one check is assumed to cost until the workers have timed some (retry_after_ms).
  std::uint32_t check_estimate_us = 5000;
};

// A pool of worker threads running one CredentialVerifier.
//
// Threads: submit() and collect() belong to ONE thread (the dataplane's IO thread); the workers
// take jobs from a bounded multi-consumer queue and put results on a multi-producer queue sized so
// that a worker never waits while the IO thread keeps collecting. Neither call blocks or
// allocates; submit() rings the workers' doorbell (one atomic increment, and a futex wake only
// when a worker sleeps), collect() makes no system call. Idle workers sleep until a submit().
// Jobs are taken in submission order; results come back in completion order.
class AsyncVerifier {
 public:
  explicit AsyncVerifier(CredentialVerifier& verifier, VerifierPoolConfig config = {});
  ~AsyncVerifier();
  AsyncVerifier(const AsyncVerifier&) = delete;
  AsyncVerifier& operator=(const AsyncVerifier&) = delete;

  // IO thread: false if the job queue is full (`config.queue` sign-ins already wait): the caller
  // answers Overloaded and the desktop retries later. The job's passwords are wiped either way;
  // the pool's copy is wiped as soon as the check is done.
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
  // A job as queued: no password, only the index of the secrets_ entry that holds them.
  struct QueuedJob {
    VerifierTask task = VerifierTask::SignIn;
    router::AgentNumber number = 0;
    router::AgentIndex agent = 0;
    std::uint32_t client_slot = 0;
    std::uint64_t request_seq = 0;
    std::uint64_t device = 0;
    std::uint32_t secret = 0;
  };
  struct Secret {
    char password[wire::kPasswordBytes];
    char new_password[wire::kPasswordBytes];
  };
  void run();

  CredentialVerifier& verifier_;
  std::size_t capacity_;
  // One entry per job that may wait or run; the IO thread takes a free one (free_) for each
  // submitted job, the worker wipes it after the check and gives it back.
  std::unique_ptr<Secret[]> secrets_;
  boost::lockfree::queue<std::uint32_t, boost::lockfree::fixed_sized<true>> free_;
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
  boost::lockfree::queue<QueuedJob, boost::lockfree::fixed_sized<true>> jobs_;
  boost::lockfree::queue<SignInResult, boost::lockfree::fixed_sized<true>> results_;
  Doorbell bell_;  // submit() and the destructor ring it; idle workers sleep on it
  // The destructor's store(release) pairs with the workers' load(acquire).
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace acd::dataplane
