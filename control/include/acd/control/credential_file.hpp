// The credential file (/var/lib/acd/credentials by default): one line per agent, "AGENT_ID HASH [FLAG]", and '#'
// comments. HASH is an argon2id string (libsodium crypto_pwhash_str); FLAG, when present, is
// `must-change` (an initial password the agent is to replace), `enrolment` (a one-time
// enrolment code) or `enrolment-used` (that code, spent). acdd verifies both like a password and
// tells the desktop, in the sign-in's Ack, that the agent must change it (with a PasswordChange,
// docs/protocol.md; docs/operations.md "Bulk provisioning" says what the flags mean and what not).
//
// Writing is atomic: a temporary file in the same directory, fsync, rename over the old one, fsync
// of the directory; the old file's mode and owner are kept (a new file is 0600). Writers serialise
// on an advisory lock on "FILE.lock", so an import and a passwd at the same time lose nothing.
//
// Thread-safety: pure functions over files; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "acd/control/result.hpp"
#include "acd/router/types.hpp"

namespace acd::control {

enum class CredentialFlag : std::uint8_t {
  None,
  MustChange,  // "must-change": an initial password
  Enrolment,   // "enrolment": a one-time enrolment code
  // "enrolment-used": the code's one sign-in is done; it never verifies again (the agent needs a
  // password: acdctl agent passwd). Written by acdd when the code is first accepted.
  EnrolmentUsed,
};
std::string_view credential_flag_name(CredentialFlag flag);  // "" for None

struct CredentialEntry {
  std::string hash;  // $argon2id$...
  CredentialFlag flag = CredentialFlag::None;
  bool operator==(const CredentialEntry&) const = default;
};
using CredentialTable = std::map<router::AgentNumber, CredentialEntry>;

// Reads `path`. A missing file is an empty table when `missing_ok`, else Refused. A malformed line
// or an agent listed twice: Refused naming "PATH:LINE".
Result<CredentialTable> read_credential_file(const std::string& path, bool missing_ok);

// Replaces `path` with `table`, atomically (see above). Refused, naming the file, when it cannot
// be written; `path` is unchanged then.
Result<void> write_credential_file(const std::string& path, const CredentialTable& table);

// Holds the writers' lock on "PATH.lock" while alive. ok() false (with why()) if it could not be
// taken: the caller must not write then.
class CredentialFileLock {
 public:
  explicit CredentialFileLock(const std::string& path);
  ~CredentialFileLock();
  CredentialFileLock(const CredentialFileLock&) = delete;
  CredentialFileLock& operator=(const CredentialFileLock&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::string& why() const { return why_; }

 private:
  int fd_ = -1;
  std::string why_;
};

}  // namespace acd::control
