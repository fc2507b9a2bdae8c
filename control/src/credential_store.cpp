#include "acd/control/credential_store.hpp"

#include "acd/control/audit_log.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

namespace acd::control {

namespace {

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

std::uint64_t steady_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Parses "AGENT_ID HASH" lines; a failure names the line.
Result<void> parse(const std::string& path, std::istream& in,
                   std::map<router::AgentNumber, std::string>& out) {
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::istringstream fields(line);
    router::AgentNumber agent = 0;
    std::string hash;
    std::string extra;
    if (!(fields >> agent >> hash) || agent == 0 || (fields >> extra) ||
        hash.rfind("$argon2id$", 0) != 0) {
      return Failure{ControlError::Refused,
                     path + ":" + std::to_string(number) +
                         ": expected 'AGENT_ID $argon2id$...'; set passwords with 'acdctl agent "
                         "passwd ID'"};
    }
    if (!out.emplace(agent, hash).second) {
      return Failure{ControlError::Refused, path + ":" + std::to_string(number) + ": agent " +
                                                std::to_string(agent) + " is listed twice"};
    }
  }
  return {};
}

}  // namespace

CredentialStore::CredentialStore(LockoutPolicy policy, Clock clock)
    : policy_(policy), clock_(clock ? std::move(clock) : Clock(steady_seconds)) {}

namespace {

std::pair<std::int64_t, std::int64_t> stamp_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return {0, -1};
  }
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size)};
}

}  // namespace

void CredentialStore::reload_if_changed() {
  if (path_.empty()) {
    return;
  }
  const auto [stamp, size] = stamp_of(path_);
  if (stamp != file_stamp_ || size != file_size_) {
    const Result<void> loaded = load(path_);  // on error the last good credentials stay
    if (audit_ != nullptr) {
      (void)audit_->record(
          AuditRecord::make(AuditKind::CredentialsChanged,
                            loaded.ok() ? AuditOutcome::Ok : AuditOutcome::Refused, "acdd", path_,
                            loaded.ok() ? nlohmann::json{{"agents", hashes_.size()}}
                                        : nlohmann::json{{"error", loaded.failure().message},
                                                         {"kept_agents", hashes_.size()}}));
    }
  }
}

Result<void> CredentialStore::load(const std::string& path) {
  const auto [stamp, size] = stamp_of(path);
  std::ifstream in(path);
  if (!in) {
    return Failure{ControlError::Refused,
                   path +
                       ": cannot be read; create it with 'acdctl agent passwd ID --credentials " +
                       path + "'"};
  }
  std::map<router::AgentNumber, std::string> read;
  if (Result<void> parsed = parse(path, in, read); !parsed.ok()) {
    return parsed;
  }
  hashes_ = std::move(read);
  path_ = path;
  file_stamp_ = stamp;
  file_size_ = size;
  return {};
}

bool CredentialStore::locked(router::AgentNumber agent) {
  auto it = failures_.find(agent);
  return it != failures_.end() && it->second.locked_until > clock_();
}

bool CredentialStore::verify(router::AgentNumber agent, std::string_view password) {
  if (!sodium_ready() || locked(agent)) {
    return false;
  }
  reload_if_changed();
  auto it = hashes_.find(agent);
  // crypto_pwhash_str_verify needs a NUL-terminated password: copy, verify, wipe.
  std::vector<char> copy(password.begin(), password.end());
  copy.push_back('\0');
  const bool ok = it != hashes_.end() &&
                  crypto_pwhash_str_verify(it->second.c_str(), copy.data(), password.size()) == 0;
  sodium_memzero(copy.data(), copy.size());
  Failures& f = failures_[agent];
  if (ok) {
    f = Failures{};
    return true;
  }
  if (++f.count >= policy_.max_failures) {
    f.locked_until = clock_() + policy_.lock_seconds;
    if (audit_ != nullptr) {
      (void)audit_->record(AuditRecord::make(
          AuditKind::AgentLockout, AuditOutcome::Ok, "acdd", "agent=" + std::to_string(agent),
          nlohmann::json{{"failures", f.count}, {"lock_seconds", policy_.lock_seconds}}));
    }
    f.count = 0;
  }
  return false;
}

std::string CredentialStore::hash(std::string_view password, HashStrength strength) {
  if (!sodium_ready()) {
    return {};
  }
  char out[crypto_pwhash_STRBYTES];
  const bool minimal = strength == HashStrength::Minimal;
  const int rc = crypto_pwhash_str_alg(
      out, password.data(), password.size(),
      minimal ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE,
      minimal ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE,
      crypto_pwhash_ALG_ARGON2ID13);
  return rc == 0 ? std::string(out) : std::string();
}

Result<void> CredentialStore::set_password(const std::string& path, router::AgentNumber agent,
                                           std::string_view password, HashStrength strength) {
  if (agent == 0) {
    return Failure{ControlError::Usage, "agent ID 0 is reserved"};
  }
  if (password.size() < 8) {
    return Failure{ControlError::Usage, "a password needs at least 8 characters"};
  }
  std::map<router::AgentNumber, std::string> hashes;
  if (std::ifstream in(path); in) {
    if (Result<void> parsed = parse(path, in, hashes); !parsed.ok()) {
      return parsed;
    }
  }
  const std::string h = hash(password, strength);
  if (h.empty()) {
    return Failure{ControlError::Refused, "hashing failed (out of memory?)"};
  }
  hashes[agent] = h;
  const std::string tmp = path + ".tmp";
  const mode_t old_mask = umask(077);
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      umask(old_mask);
      return Failure{ControlError::Refused,
                     tmp + ": cannot be written; check the directory's permissions"};
    }
    out << "# acd agent credentials: AGENT_ID ARGON2ID_HASH. Edit with 'acdctl agent passwd ID'.\n";
    for (const auto& [id, hash_text] : hashes) {
      out << id << ' ' << hash_text << '\n';
    }
    if (!out.flush()) {
      umask(old_mask);
      return Failure{ControlError::Refused, tmp + ": write failed"};
    }
  }
  umask(old_mask);
  chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Failure{ControlError::Refused, path + ": cannot be replaced"};
  }
  return {};
}

}  // namespace acd::control
