// Agents' passwords [GB/T 32315 4.1.1 a]: argon2id hashes (libsodium crypto_pwhash_str) in a
// credential file, verification with lockout after repeated failures.
//
// The file has one line per agent, "AGENT_ID HASH", and '#' comments; it is rewritten atomically
// (a temporary file renamed over it) with mode 0600. Passwords themselves are never stored, logged
// or echoed; buffers that held one are wiped.
//
// Thread-safety: verify() runs on the verifier thread (dataplane::AsyncVerifier); the rest is for
// start-up and for acdctl. Not shared between threads otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "acd/control/result.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"

namespace acd::control {

class AuditLog;  // audit_log.hpp

enum class HashStrength : std::uint8_t {
  Interactive,  // libsodium's interactive limits (64 MiB, ~0.1 s): for real passwords
  Minimal,      // the smallest libsodium allows: tests only
};

struct LockoutPolicy {
  std::uint32_t max_failures = 5;    // consecutive wrong passwords before the lock
  std::uint64_t lock_seconds = 900;  // how long the agent stays locked out
};

class CredentialStore final : public dataplane::CredentialVerifier {
 public:
  using Clock = std::function<std::uint64_t()>;  // seconds; injected so tests can move time

  CredentialStore(LockoutPolicy policy = {}, Clock clock = {});

  // Reads a credential file. Fails with Refused, naming the file (and the line), when it cannot be
  // read or a line is malformed or repeats an agent; the store is unchanged then.
  // verify() reads the file again when it has changed since (a password set or an agent added with
  // 'acdctl agent passwd' takes effect without a restart); a broken file keeps the last good one.
  Result<void> load(const std::string& path);
  std::size_t size() const { return hashes_.size(); }

  // True for the right password of an agent that is not locked out. A wrong one counts towards
  // the lockout; a right one resets the count. A locked agent is refused even with the right one.
  bool verify(router::AgentNumber agent, std::string_view password) override;
  bool locked(router::AgentNumber agent);
  // Where a lockout and a change of the credential file are recorded (never a password or a
  // hash); null (the default): nowhere. Set before the verifier thread starts.
  void set_audit(AuditLog* log) { audit_ = log; }

  // An argon2id hash string of the password (empty if libsodium failed, e.g. out of memory).
  static std::string hash(std::string_view password,
                          HashStrength strength = HashStrength::Interactive);

  // Sets (or replaces) one agent's password in a credential file, creating it if needed. Fails
  // with Usage for agent 0 or a password under 8 characters, Refused when the file is malformed,
  // hashing fails or the file cannot be written; the file is unchanged then.
  static Result<void> set_password(const std::string& path, router::AgentNumber agent,
                                   std::string_view password,
                                   HashStrength strength = HashStrength::Interactive);

 private:
  struct Failures {
    std::uint32_t count = 0;
    std::uint64_t locked_until = 0;
  };
  void reload_if_changed();
  LockoutPolicy policy_;
  AuditLog* audit_ = nullptr;
  Clock clock_;
  std::string path_;
  std::int64_t file_stamp_ = 0;  // modification time (ns) and size of what was read
  std::int64_t file_size_ = -1;
  std::map<router::AgentNumber, std::string> hashes_;
  std::map<router::AgentNumber, Failures> failures_;
};

}  // namespace acd::control
