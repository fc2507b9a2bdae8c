#include "acd/control/credential_store.hpp"

#include "acd/control/audit_log.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace acd::control {

namespace {

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

CredentialStore::CredentialStore(LockoutPolicy policy, Clock clock)
    : backoff_(policy, std::move(clock)) {}

namespace {

// The file's identity as stat sees it. The modification time alone misses a rewrite within one
// tick of the kernel's coarse clock (a few milliseconds) that keeps the size, which an
// administrator's `agent passwd` right after one of our own writes does: every write goes
// through a new file renamed into place, so the inode number tells them apart.
CredentialStore::FileIdentity identity_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return {};
  }
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec,
          static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_dev)};
}

}  // namespace

void CredentialStore::reload_if_changed() {
  if (path_.empty()) {
    return;
  }
  if (identity_of(path_) != file_identity_) {
    const Result<void> loaded = load_unlocked(path_);  // on error the last good ones stay
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
  const std::lock_guard lock(mutex_);
  return load_unlocked(path);
}

Result<void> CredentialStore::load_unlocked(const std::string& path) {
  const FileIdentity identity = identity_of(path);
  Result<CredentialTable> read = read_credential_file(path, false);
  if (!read.ok()) {
    return read.failure();
  }
  hashes_ = std::move(read).value();
  path_ = path;
  file_identity_ = identity;
  return {};
}

bool CredentialStore::must_change(router::AgentNumber agent) {
  const std::lock_guard lock(mutex_);
  const auto it = hashes_.find(agent);
  return it != hashes_.end() && it->second.flag != CredentialFlag::None;
}

bool CredentialStore::spend_enrolment(router::AgentNumber agent, const std::string& hash) {
  auto same_code = [&](const CredentialTable& t, CredentialFlag flag) {
    const auto it = t.find(agent);
    return it != t.end() && it->second.hash == hash && it->second.flag == flag;
  };
  std::string path;
  {
    const std::lock_guard lock(mutex_);
    if (!same_code(hashes_, CredentialFlag::Enrolment)) {
      return false;  // another sign-in spent it first, or the entry changed meanwhile
    }
    hashes_[agent].flag = CredentialFlag::EnrolmentUsed;  // claimed: concurrent uses are refused
    path = path_;
  }
  std::string why;
  if (!path.empty()) {
    const CredentialFileLock writers(path);
    if (!writers.ok()) {
      why = writers.why();
    } else if (Result<CredentialTable> table = read_credential_file(path, false); !table.ok()) {
      why = table.failure().message;
    } else if (!same_code(table.value(), CredentialFlag::Enrolment)) {
      why = "the entry changed in the file";
    } else {
      table.value()[agent].flag = CredentialFlag::EnrolmentUsed;
      if (const Result<void> written = write_credential_file(path, table.value()); !written.ok()) {
        why = written.failure().message;
      }
    }
  }
  const std::lock_guard lock(mutex_);
  if (!why.empty()) {
    if (same_code(hashes_, CredentialFlag::EnrolmentUsed)) {
      hashes_[agent].flag = CredentialFlag::Enrolment;  // not spent after all: usable again
    }
  } else if (!path.empty() && path == path_) {
    file_identity_ = identity_of(path_);  // our own write: no reload for it
  }
  if (audit_ != nullptr) {
    (void)audit_->record(AuditRecord::make(
        AuditKind::CredentialsChanged, why.empty() ? AuditOutcome::Ok : AuditOutcome::Failed,
        "acdd", path,
        why.empty()
            ? nlohmann::json{{"agent", agent}, {"enrolment", "used"}}
            : nlohmann::json{{"agent", agent}, {"enrolment", "not recorded"}, {"error", why}}));
  }
  return why.empty();
}

bool CredentialStore::verify(router::AgentNumber agent, std::string_view password) {
  return verify_from(agent, password, dataplane::SignInSource{});
}

bool CredentialStore::verify_from(router::AgentNumber agent, std::string_view password,
                                  const dataplane::SignInSource& source) {
  if (!sodium_ready()) {
    return false;
  }
  if (backoff_.refuse(agent, source)) {
    return false;  // during a back-off nothing is checked
  }
  std::string stored;  // a copy: the hash runs without the mutex, a reload may replace hashes_
  bool enrolment = false;
  {
    const std::lock_guard lock(mutex_);
    reload_if_changed();
    if (auto it = hashes_.find(agent);
        it != hashes_.end() && it->second.flag != CredentialFlag::EnrolmentUsed) {
      stored = it->second.hash;
      enrolment = it->second.flag == CredentialFlag::Enrolment;
    }
  }
  const bool ok = !stored.empty() && verify_secret(stored, password);
  if (ok && enrolment && !spend_enrolment(agent, stored)) {
    backoff_.counters().failed.fetch_add(1, std::memory_order_relaxed);
    return false;  // spent by a concurrent sign-in, or not recorded: refused, no back-off
  }
  if (ok) {
    backoff_.accepted(agent, source);
    return true;
  }
  backoff_.failed(agent, source);
  return false;
}

Result<void> check_password_policy(router::AgentNumber agent, std::string_view old_password,
                                   std::string_view new_password) {
  if (new_password.size() < 8) {
    return Failure{ControlError::Usage, "a password needs at least 8 characters"};
  }
  if (new_password.size() > dataplane::wire::kPasswordBytes) {
    return Failure{ControlError::Usage, "a password has at most 64 bytes"};
  }
  bool letter = false;
  bool digit = false;
  bool other = false;
  for (const char ch : new_password) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return Failure{ControlError::Usage, "a password may not hold control characters"};
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      letter = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      other = true;  // punctuation, space, any non-ASCII byte
    }
  }
  if (static_cast<int>(letter) + static_cast<int>(digit) + static_cast<int>(other) < 2) {
    return Failure{ControlError::Usage,
                   "a password needs at least two of: letters, digits, other characters"};
  }
  if (new_password == old_password) {
    return Failure{ControlError::Usage, "the new password must differ from the old one"};
  }
  if (new_password.find(std::to_string(agent)) != std::string_view::npos) {
    return Failure{ControlError::Usage, "a password may not contain the agent's ID"};
  }
  return {};
}

std::string CredentialStore::store_entry(
    router::AgentNumber agent, const CredentialEntry& entry,
    const std::function<dataplane::ApplyOutcome(const CredentialEntry*)>& decide,
    dataplane::ApplyOutcome& outcome) {
  using dataplane::ApplyOutcome;
  std::string path;
  {
    const std::lock_guard lock(mutex_);
    path = path_;
  }
  std::string why;
  if (path.empty()) {
    why = "no credential file is loaded";
  } else {
    const CredentialFileLock writers(path);
    Result<CredentialTable> table =
        writers.ok() ? read_credential_file(path, false)
                     : Result<CredentialTable>(Failure{ControlError::Refused, writers.why()});
    if (!table.ok()) {
      why = table.failure().message;
    } else {
      const auto it = table.value().find(agent);
      outcome = decide(it == table.value().end() ? nullptr : &it->second);
      if (outcome != ApplyOutcome::Stored) {
        return {};
      }
      table.value()[agent] = entry;
      if (const Result<void> written = write_credential_file(path, table.value()); !written.ok()) {
        why = written.failure().message;
      } else {
        const std::lock_guard lock(mutex_);
        hashes_[agent] = entry;
        if (path == path_) {
          file_identity_ = identity_of(path_);  // our own write: no reload for it
        }
        return {};
      }
    }
  }
  // The file is out of reach: memory alone, as the memory copy allows.
  const std::lock_guard lock(mutex_);
  const auto it = hashes_.find(agent);
  outcome = decide(it == hashes_.end() ? nullptr : &it->second);
  if (outcome == ApplyOutcome::Stored) {
    hashes_[agent] = entry;
    outcome = ApplyOutcome::Failed;
  }
  return why;
}

dataplane::CredentialDigest CredentialStore::digest(std::string_view hash) {
  dataplane::CredentialDigest out{};
  if (sodium_ready()) {
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(hash.data()),
                       hash.size(), nullptr, 0);
  }
  return out;
}

dataplane::ChangeOutcome CredentialStore::change_password(
    router::AgentNumber agent, std::string_view old_password, std::string_view new_password,
    const dataplane::SignInSource& source, char (&hash)[dataplane::kCredentialHashBytes],
    dataplane::CredentialDigest& replaced) {
  using dataplane::ChangeOutcome;
  auto audit = [&](AuditOutcome outcome, const std::string& why) {
    if (audit_ != nullptr) {
      nlohmann::json detail{{"device", source.device}};
      if (source.client_slot != dataplane::SignInSource::kUnknownSlot) {
        detail["client_slot"] = source.client_slot;
      }
      if (!why.empty()) {
        detail["error"] = why;
      }
      (void)audit_->record(AuditRecord::make(AuditKind::AgentPasswordChange, outcome, "acdd",
                                             "agent=" + std::to_string(agent), std::move(detail)));
    }
  };
  if (const Result<void> policy = check_password_policy(agent, old_password, new_password);
      !policy.ok()) {
    audit(AuditOutcome::Refused, policy.failure().message);
    return ChangeOutcome::Policy;
  }
  // The old secret: checked as a sign-in would check it (back-offs counted), except that the
  // enrolment code the agent signed in with still counts as its old secret once spent.
  std::string stored;
  std::string before;  // the entry's hash when the check began: what the change replaces
  bool ok = false;
  {
    const std::lock_guard lock(mutex_);
    reload_if_changed();
    if (const auto it = hashes_.find(agent); it != hashes_.end()) {
      before = it->second.hash;
      if (it->second.flag == CredentialFlag::EnrolmentUsed) {
        stored = it->second.hash;
        // The same gate as every other attempt: during a back-off nothing is checked.
        if (backoff_.refuse(agent, source)) {
          audit(AuditOutcome::Refused, "a back-off is running");
          return ChangeOutcome::Refused;
        }
      }
    }
  }
  if (!stored.empty()) {
    if (!sodium_ready()) {
      audit(AuditOutcome::Failed, "libsodium is not available");
      return ChangeOutcome::Unavailable;
    }
    ok = verify_secret(stored, old_password);
    if (!ok) {
      // Counted like a wrong sign-in: the same back-offs apply.
      (void)verify_from(agent, old_password, source);
    }
  } else {
    ok = verify_from(agent, old_password, source);
  }
  if (!ok) {
    audit(AuditOutcome::Refused, "wrong old password, or a back-off is running");
    return ChangeOutcome::Refused;
  }
  {
    const std::lock_guard lock(mutex_);
    const auto it = hashes_.find(agent);
    if (it == hashes_.end() || it->second.hash != before) {
      audit(AuditOutcome::Failed, "the agent's credential changed meanwhile; nothing changed");
      return ChangeOutcome::Unavailable;
    }
  }
  const std::string h = CredentialStore::hash(new_password, cost_);
  if (h.empty() || h.size() >= dataplane::kCredentialHashBytes) {
    audit(AuditOutcome::Failed, "hashing failed (out of memory?)");
    return ChangeOutcome::Unavailable;
  }
  std::copy(h.begin(), h.end(), hash);
  hash[h.size()] = '\0';
  replaced = digest(before);
  // No record yet: the change is recorded once, when its log record is applied (apply_credential),
  // as on a standby; the desktop it came from is kept for that record.
  {
    const std::lock_guard lock(mutex_);
    if (own_changes_.size() >= kOwnChangesKept) {
      own_changes_.pop_front();  // checked but never logged (the log had no room): forgotten
    }
    own_changes_.push_back(OwnChange{h, source});
  }
  return ChangeOutcome::Changed;
}

bool CredentialStore::spent_enrolment(router::AgentNumber agent,
                                      char (&hash)[dataplane::kCredentialHashBytes]) {
  const std::lock_guard lock(mutex_);
  const auto it = hashes_.find(agent);
  if (it == hashes_.end() || it->second.flag != CredentialFlag::EnrolmentUsed ||
      it->second.hash.size() >= dataplane::kCredentialHashBytes) {
    return false;
  }
  std::copy(it->second.hash.begin(), it->second.hash.end(), hash);
  hash[it->second.hash.size()] = '\0';
  return true;
}

dataplane::ApplyOutcome CredentialStore::apply_credential(
    router::AgentNumber agent, dataplane::CredentialChangeKind kind, std::string_view hash,
    const dataplane::CredentialDigest& replaces) {
  using dataplane::ApplyOutcome;
  const std::string h(hash);
  const bool password = kind == dataplane::CredentialChangeKind::Password;
  ApplyOutcome outcome = ApplyOutcome::Refused;
  std::string why;
  // A password is argon2id (also by libsodium's own parser: -1 is "not a hash string it knows");
  // a spent enrolment code may be a generated code's hash.
  const bool valid =
      (dataplane::valid_argon2id_string(h) && sodium_ready() &&
       crypto_pwhash_str_needs_rehash(h.c_str(), crypto_pwhash_OPSLIMIT_MIN,
                                      crypto_pwhash_MEMLIMIT_MIN) != -1) ||
      (!password && dataplane::valid_code_hash_string(h));
  if (!valid) {
    why = "not a valid argon2id hash string";
  } else if (password) {
    const bool known = replaces != dataplane::CredentialDigest{};
    why = store_entry(
        agent, CredentialEntry{h, CredentialFlag::None},
        [&](const CredentialEntry* e) {
          if (e == nullptr) {
            return ApplyOutcome::Refused;
          }
          if (e->hash == h && e->flag == CredentialFlag::None) {
            return ApplyOutcome::Held;
          }
          return known && digest(e->hash) == replaces ? ApplyOutcome::Stored : ApplyOutcome::Kept;
        },
        outcome);
  } else {
    // Only the code it names: a password set meanwhile on this node stays.
    why = store_entry(
        agent, CredentialEntry{h, CredentialFlag::EnrolmentUsed},
        [&](const CredentialEntry* e) {
          if (e == nullptr) {
            return ApplyOutcome::Refused;
          }
          if (e->hash != h) {
            return ApplyOutcome::Kept;
          }
          return e->flag == CredentialFlag::Enrolment ? ApplyOutcome::Stored : ApplyOutcome::Held;
        },
        outcome);
  }
  if (outcome == ApplyOutcome::Refused && why.empty()) {
    why = "agent " + std::to_string(agent) + " is not in the credential file";
  }
  if (outcome == ApplyOutcome::Refused) {
    backoff_.counters().changes_refused.fetch_add(1, std::memory_order_relaxed);
  } else if (outcome == ApplyOutcome::Kept) {
    backoff_.counters().changes_kept.fetch_add(1, std::memory_order_relaxed);
  }
  // This node's own change (change_password made the hash): the record names its desktop.
  std::optional<dataplane::SignInSource> own;
  if (password) {
    const std::lock_guard lock(mutex_);
    const auto it = std::find_if(own_changes_.begin(), own_changes_.end(),
                                 [&](const OwnChange& c) { return c.hash == h; });
    if (it != own_changes_.end()) {
      own = it->source;
      own_changes_.erase(it);
    }
  }
  if (audit_ != nullptr && outcome != ApplyOutcome::Held) {
    nlohmann::json detail{{"logged", true}, {"change", password ? "password" : "enrolment used"}};
    if (own) {
      detail["device"] = own->device;
      if (own->client_slot != dataplane::SignInSource::kUnknownSlot) {
        detail["client_slot"] = own->client_slot;
      }
    }
    if (outcome == ApplyOutcome::Kept) {
      detail["kept"] = "the entry changed since the change was made (a newer credential)";
    }
    if (!why.empty()) {
      detail["error"] = why;
    }
    (void)audit_->record(
        AuditRecord::make(AuditKind::AgentPasswordChange,
                          outcome == ApplyOutcome::Stored    ? AuditOutcome::Ok
                          : outcome == ApplyOutcome::Kept    ? AuditOutcome::Refused
                          : outcome == ApplyOutcome::Refused ? AuditOutcome::Refused
                                                             : AuditOutcome::Failed,
                          "acdd", "agent=" + std::to_string(agent), std::move(detail)));
  }
  return outcome;
}

void CredentialStore::restore_enrolment(router::AgentNumber agent, std::string_view hash) {
  using dataplane::ApplyOutcome;
  const std::string h(hash);
  ApplyOutcome outcome = ApplyOutcome::Kept;
  const std::string why = store_entry(
      agent, CredentialEntry{h, CredentialFlag::Enrolment},
      [&](const CredentialEntry* e) {
        return e != nullptr && e->hash == h && e->flag == CredentialFlag::EnrolmentUsed
                   ? ApplyOutcome::Stored
                   : ApplyOutcome::Kept;
      },
      outcome);
  if (audit_ != nullptr && outcome != ApplyOutcome::Kept) {
    nlohmann::json detail{{"agent", agent},
                          {"enrolment", "usable again (the spend was not logged)"}};
    if (!why.empty()) {
      detail["error"] = why;
    }
    std::string path;
    {
      const std::lock_guard lock(mutex_);
      path = path_;
    }
    (void)audit_->record(AuditRecord::make(AuditKind::CredentialsChanged,
                                           why.empty() ? AuditOutcome::Ok : AuditOutcome::Failed,
                                           "acdd", path, std::move(detail)));
  }
}

HashCost HashCost::of(HashStrength strength) {
  if (strength == HashStrength::Minimal) {
    return HashCost{crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
  }
  return HashCost{crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

Result<HashCost> HashCost::named(std::string_view name) {
  if (name == "interactive") {
    return of(HashStrength::Interactive);
  }
  if (name == "owasp") {
    return HashCost{2, std::size_t{19} << 20};
  }
  if (name == "minimal") {
    return of(HashStrength::Minimal);
  }
  return Failure{ControlError::Usage,
                 "\"" + std::string(name) +
                     "\" is not a cost level: interactive (2 passes, 64 MiB), owasp (2 passes, "
                     "19 MiB) or minimal (1 pass, 8 KiB, tests only); or give opslimit and "
                     "memlimit_kib"};
}

Result<void> HashCost::check(std::uint64_t opslimit, std::uint64_t memlimit_kib) {
  if (opslimit < 1 || opslimit > 16) {
    return Failure{ControlError::Usage, "opslimit = " + std::to_string(opslimit) +
                                            " is out of range: argon2id passes, 1..16"};
  }
  if (memlimit_kib < 8 || memlimit_kib > (1u << 20)) {
    return Failure{ControlError::Usage,
                   "memlimit_kib = " + std::to_string(memlimit_kib) +
                       " is out of range: 8 (8 KiB) .. 1048576 (1 GiB); each verifier thread "
                       "needs this much memory while it hashes"};
  }
  return {};
}

std::string to_string(const HashCost& cost) {
  const std::size_t kib = cost.memlimit >> 10;
  return "opslimit=" + std::to_string(cost.opslimit) + " memlimit=" +
         (kib % 1024 == 0 ? std::to_string(kib >> 10) + "MiB" : std::to_string(kib) + "KiB");
}

namespace {

constexpr std::size_t kCodeSaltBytes = 16;
constexpr std::size_t kCodeDigestBytes = 32;
constexpr std::size_t kGeneratedCodeChars = 20;  // × 5 bits = dataplane::kGeneratedCodeBits
static_assert(kGeneratedCodeChars * 5 >= dataplane::kGeneratedCodeBits);

std::string base64(const unsigned char* bytes, std::size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, n, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

}  // namespace

std::string CredentialStore::code_hash(std::string_view code) {
  if (!sodium_ready()) {
    return {};
  }
  unsigned char salt[kCodeSaltBytes];
  randombytes_buf(salt, sizeof(salt));
  unsigned char digest[kCodeDigestBytes];
  crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char*>(code.data()),
                     code.size(), salt, sizeof(salt));
  return std::string(dataplane::kCodeHashPrefix) + base64(salt, sizeof(salt)) + "$" +
         base64(digest, sizeof(digest));
}

std::string CredentialStore::generate_code() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford's base32
  std::string code(kGeneratedCodeChars, '0');
  if (!sodium_ready()) {
    return {};
  }
  for (char& c : code) {
    c = kAlphabet[randombytes_uniform(32)];
  }
  return code;
}

bool CredentialStore::verify_secret(const std::string& stored, std::string_view secret) {
  if (!sodium_ready()) {
    return false;
  }
  if (dataplane::valid_code_hash_string(stored)) {
    const std::size_t salt_at = dataplane::kCodeHashPrefix.size();
    const std::size_t digest_at = stored.find('$', salt_at) + 1;
    unsigned char salt[kCodeSaltBytes];
    unsigned char digest[kCodeDigestBytes];
    std::size_t salt_n = 0;
    std::size_t digest_n = 0;
    if (sodium_base642bin(salt, sizeof(salt), stored.data() + salt_at, digest_at - 1 - salt_at,
                          nullptr, &salt_n, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        sodium_base642bin(digest, sizeof(digest), stored.data() + digest_at,
                          stored.size() - digest_at, nullptr, &digest_n, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        salt_n != sizeof(salt) || digest_n != sizeof(digest)) {
      return false;
    }
    unsigned char got[kCodeDigestBytes];
    crypto_generichash(got, sizeof(got), reinterpret_cast<const unsigned char*>(secret.data()),
                       secret.size(), salt, sizeof(salt));
    return sodium_memcmp(got, digest, sizeof(got)) == 0;
  }
  // crypto_pwhash_str_verify needs a NUL-terminated password: copy, verify, wipe.
  std::vector<char> copy(secret.begin(), secret.end());
  copy.push_back('\0');
  const bool ok = crypto_pwhash_str_verify(stored.c_str(), copy.data(), secret.size()) == 0;
  sodium_memzero(copy.data(), copy.size());
  return ok;
}

std::string CredentialStore::hash(std::string_view password, HashStrength strength) {
  return hash(password, HashCost::of(strength));
}

std::string CredentialStore::hash(std::string_view password, const HashCost& cost) {
  if (!sodium_ready()) {
    return {};
  }
  char out[crypto_pwhash_STRBYTES];
  const int rc =
      crypto_pwhash_str_alg(out, password.data(), password.size(), cost.opslimit, cost.memlimit,
                            crypto_pwhash_ALG_ARGON2ID13);
  return rc == 0 ? std::string(out) : std::string();
}

Result<void> CredentialStore::set_password(const std::string& path, router::AgentNumber agent,
                                           std::string_view password, HashStrength strength) {
  return set_password(path, agent, password, HashCost::of(strength));
}

Result<void> CredentialStore::set_password(const std::string& path, router::AgentNumber agent,
                                           std::string_view password, const HashCost& cost) {
  if (agent == 0) {
    return Failure{ControlError::Usage, "agent ID 0 is reserved"};
  }
  if (password.size() < 8) {
    return Failure{ControlError::Usage, "a password needs at least 8 characters"};
  }
  const CredentialFileLock lock(path);
  if (!lock.ok()) {
    return Failure{ControlError::Refused, lock.why()};
  }
  Result<CredentialTable> table = read_credential_file(path, true);
  if (!table.ok()) {
    return table.failure();
  }
  const std::string h = hash(password, cost);
  if (h.empty()) {
    return Failure{ControlError::Refused, "hashing failed (out of memory?)"};
  }
  table.value()[agent] = CredentialEntry{h, CredentialFlag::None};  // a password set by hand is final
  return write_credential_file(path, table.value());
}

}  // namespace acd::control
