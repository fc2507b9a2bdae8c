// Agent sign-in verification, off the routing core [GB/T 32315 4.1.1 a].
//
// CredentialVerifier is the interface (the control plane provides the argon2id one; tests use
// InMemoryCredentials). AsyncVerifier runs a verifier on its own thread: the dataplane submits jobs
// and collects results through two SPSC rings, so a slow hash never stalls packet processing. The
// password is wiped from every buffer as soon as it has been checked, and is never logged.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/dataplane/wire.hpp"
#include "acd/router/types.hpp"

namespace acd::dataplane {

class CredentialVerifier {
 public:
  virtual ~CredentialVerifier() = default;
  // True if `password` is this agent's. May be slow; called on the verifier thread only.
  virtual bool verify(router::AgentNumber agent, std::string_view password) = 0;
};

// Plain passwords in memory: for tests and demos only.
class InMemoryCredentials final : public CredentialVerifier {
 public:
  void set(router::AgentNumber agent, std::string password) {
    passwords_[agent] = std::move(password);
  }
  bool verify(router::AgentNumber agent, std::string_view password) override;

 private:
  std::map<router::AgentNumber, std::string> passwords_;
};

struct SignInJob {
  router::AgentNumber number = 0;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
  std::uint64_t device = 0;
  char password[wire::kPasswordBytes] = {};
};

struct SignInResult {
  router::AgentNumber number = 0;
  router::AgentIndex agent = 0;
  std::uint32_t client_slot = 0;
  std::uint64_t request_seq = 0;
  std::uint64_t device = 0;
  bool accepted = false;
};

// Overwrites memory so that the compiler cannot elide it.
void wipe(void* data, std::size_t bytes);

class AsyncVerifier {
 public:
  explicit AsyncVerifier(CredentialVerifier& verifier);
  ~AsyncVerifier();
  AsyncVerifier(const AsyncVerifier&) = delete;
  AsyncVerifier& operator=(const AsyncVerifier&) = delete;

  // Dataplane thread: false if the job ring is full (the job's password is wiped either way).
  bool submit(SignInJob& job);
  // Dataplane thread: results ready so far.
  template <typename OnResult>
  std::size_t collect(OnResult&& on_result) {
    return results_.consume_all(on_result);
  }

 private:
  void run();

  CredentialVerifier& verifier_;
  // Sign-ins waiting for (and back from) the verifier: a shift change's burst, then Overloaded.
  static constexpr std::size_t kRingEntries = 1024;
  boost::lockfree::spsc_queue<SignInJob, boost::lockfree::capacity<kRingEntries>> jobs_;
  boost::lockfree::spsc_queue<SignInResult, boost::lockfree::capacity<kRingEntries>> results_;
  // The destructor's store(release) pairs with the verifier thread's load(acquire).
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace acd::dataplane
