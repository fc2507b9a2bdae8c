// Back-off after wrong passwords, shared by every way acdd checks a password (the credential file,
// CredentialStore; the bank's directory, LdapVerifier), so that an attempt refused during a
// back-off is never checked, whoever would have checked it (docs/operations.md "Wrong passwords").
//
// Two counts of consecutive wrong passwords: per (agent, source desktop) and per agent from all
// sources. Past its free failures each count imposes a delay that doubles with every further
// failure, up to its ceiling; during a delay the agent's sign-ins (from that source, or from all
// for the agent-wide one) are refused unchecked. A right password clears the agent-wide count and
// its own source's. The agent-wide ceiling is low: it is the longest a guesser elsewhere can keep
// the agent's real desktop waiting; a source's own ceiling is high.
//
// A directory counts wrong binds per account and locks the account itself past its threshold (AD's
// lockout threshold, ppolicy's pwdMaxFailure), a lock `acdctl agent unlock` cannot lift and that
// keeps the agent out of everything the directory guards. Delays only slow a guesser down, so for
// the directory's checks there is a budget too: at most `directory_max_failures` wrong binds of
// one agent within `directory_window_s`; beyond it the agent's sign-ins are refused without a bind
// until the oldest of them is older than the window, a right password is seen (the file's), or an
// operator unlocks the agent. Set below the directory's threshold, the directory never locks the
// account because of sign-ins through acdd.
//
// State: in memory only, on each node (a restart or a failover starts with no back-offs, as the
// credential file's always did); the counts are not replicated.
//
// Thread-safety: every member is safe from any thread (one mutex, held only for bookkeeping).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/router/types.hpp"

namespace acd::control {

class AuditLog;  // audit_log.hpp

struct LockoutPolicy {
  std::uint32_t free_failures = 3;          // per source: wrong passwords before its first delay
  std::uint64_t backoff_s = 2;              // the first delay (both counts); doubles per failure
  std::uint64_t max_backoff_s = 300;        // ceiling of one source's delay
  std::uint32_t agent_free_failures = 10;   // from all sources, before an agent-wide delay
  std::uint64_t agent_max_backoff_s = 30;   // ceiling of the agent-wide delay
  // The directory's budget ([signin.ldap] max_wrong_binds, wrong_bind_window_s): wrong binds of
  // one agent within the window before the directory is no longer asked (0: no budget). A window
  // of 0 never forgets a wrong bind (for a directory that never forgets one either).
  std::uint32_t directory_max_failures = 0;
  std::uint64_t directory_window_s = 1800;
};

// Sign-in outcomes since start, for the metrics endpoint (read with relaxed loads).
struct SignInCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> failed{0};     // wrong password or unknown agent (checked)
  std::atomic<std::uint64_t> delayed{0};    // refused unchecked: a back-off was running
  std::atomic<std::uint64_t> backoffs{0};   // back-offs imposed (per source or agent-wide)
  std::atomic<std::uint64_t> unlocks{0};    // back-offs lifted by an operator
  // Credential changes of the log not applied: an invalid hash string or an agent the file lacks.
  std::atomic<std::uint64_t> changes_refused{0};
  // Credential changes of the log left alone: the entry changed since (an administrator's reset).
  std::atomic<std::uint64_t> changes_kept{0};
  // Sign-ins refused without a bind because the agent's directory budget was spent (also in
  // `delayed`).
  std::atomic<std::uint64_t> directory_held{0};
};

class SignInBackoff {
 public:
  using Clock = std::function<std::uint64_t()>;  // seconds; injected so tests can move time

  explicit SignInBackoff(LockoutPolicy policy = {}, Clock clock = {});

  // Before a check: true when the attempt must be refused unchecked (a delay runs for the agent or
  // for this source; with `directory`, also when the agent's directory budget is spent). Counted
  // as delayed.
  bool refuse(router::AgentNumber agent, const dataplane::SignInSource& source,
              bool directory = false);
  // After a check: a right password (counted as accepted; clears the agent-wide count, this
  // source's and the directory budget), or a wrong one (counted as failed; books the delays, and
  // with `directory` a wrong bind against the budget; each delay imposed is counted and audited).
  void accepted(router::AgentNumber agent, const dataplane::SignInSource& source);
  void failed(router::AgentNumber agent, const dataplane::SignInSource& source,
              bool directory = false);
  // True while an agent-wide delay runs (every source refused), or its directory budget is spent.
  bool locked(router::AgentNumber agent);
  // Seconds until `source` may try `agent` again (0: now; a spent budget counts with a window).
  std::uint64_t wait_seconds(router::AgentNumber agent, const dataplane::SignInSource& source);
  // Lifts every back-off of `agent` (agent-wide, each source's, the directory budget) and clears
  // its counts; records agent.unlock in the audit log. Returns how many were running (0: none).
  std::size_t unlock(router::AgentNumber agent);

  SignInCounters& counters() { return counters_; }
  const SignInCounters& counters() const { return counters_; }
  // Where back-offs and unlocks are recorded; null: nowhere. Set before the verifiers start.
  void set_audit(AuditLog* log) { audit_ = log; }

 private:
  struct Backoff {
    std::uint32_t failures = 0;  // consecutive
    std::uint64_t until = 0;     // clock seconds; refused before
    std::uint64_t last = 0;      // clock seconds of the last failure, for pruning
  };
  using SourceKey = std::pair<router::AgentNumber, std::uint32_t>;  // agent, client slot
  bool held_now(router::AgentNumber agent, std::uint64_t now);  // the budget spent; mutex_ held
  void prune(std::uint64_t now);                                // mutex_ held
  void record(router::AgentNumber agent, const char* scope,
              const dataplane::SignInSource* source, std::uint32_t failures,
              std::uint64_t delay);  // mutex_ held

  LockoutPolicy policy_;
  Clock clock_;
  AuditLog* audit_ = nullptr;
  std::mutex mutex_;  // guards the tables
  std::map<router::AgentNumber, Backoff> agent_;
  std::map<SourceKey, Backoff> source_;
  std::map<router::AgentNumber, std::deque<std::uint64_t>> wrong_binds_;  // times, oldest first
  SignInCounters counters_;
};

}  // namespace acd::control
