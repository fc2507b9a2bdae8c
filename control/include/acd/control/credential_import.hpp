// Bulk provisioning of agents' credentials: `acdctl agent import FILE` (docs/operations.md "Bulk
// provisioning"). A CSV of "ID,SECRET,FLAG" rows is checked whole (every bad line named, nothing
// written), hashed on every core, merged into the credential file and written atomically.
//
// CSV: one agent per line; an optional header line "id,secret,flag"; '#' comment lines and empty
// lines are skipped. Fields may be double-quoted ("" inside for a quote), so a secret may hold a
// comma. ID: the agent's ID, 1 and up. SECRET: 8..63 bytes, no NUL (it must fit a sign-in).
// FLAG: empty or "no" (a password), "must-change" or "yes" (an initial password to replace),
// "enrolment" (a one-time enrolment code). SECRET "*" with FLAG enrolment: acdctl generates the
// code (CredentialStore::generate_code, 100 bits) and stores it with the fast code hash (docs/
// security.md "Generated enrolment codes"); every secret given in the CSV is hashed with argon2id.
//
// Thread-safety: import_credentials starts its own worker threads and joins them before it
// returns; `progress` is called on the calling thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "acd/control/credential_file.hpp"
#include "acd/control/credential_store.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

struct ImportRow {
  router::AgentNumber agent = 0;
  std::string secret;  // wiped by import_credentials once hashed
  CredentialFlag flag = CredentialFlag::None;
  int line = 0;           // in the CSV, for messages
  bool generate = false;  // "*": a new enrolment code is generated (then `secret` holds it)
};

// Parses the CSV. Usage failure listing every bad line ("NAME:LINE: why", the first 20 and how
// many more) when any is bad, including an agent listed twice (both lines named).
Result<std::vector<ImportRow>> parse_import_csv(std::istream& in, const std::string& name);

// The cost `acdctl agent import` gives temporary secrets by default (--temporary-cost): argon2id,
// 1 pass over 8 MiB. Such a hash stands only until the agent's first sign-in, which must replace
// the secret; the new password is hashed at [signin]'s cost (docs/security.md "Temporary
// secrets at the import's cost").
inline constexpr HashCost kTemporarySecretCost{1, std::size_t{8} << 20};

struct ImportOptions {
  HashCost cost;                // of the new hashes of passwords (flag none)
  // Of the new hashes of secrets the agent must replace at its first sign-in: rows flagged
  // must-change, and enrolment codes given in the CSV. Unset: `cost`.
  std::optional<HashCost> temporary_cost;
  bool remove_missing = false;  // agents in the file but not in the CSV are removed
  bool dry_run = false;         // compute the report, write nothing
  unsigned threads = 0;         // hashing threads; 0: every CPU this process may use
  // Called about ten times a second, and once at the end, with rows done and rows in all.
  std::function<void(std::size_t done, std::size_t total)> progress;
};

struct ImportReport {
  std::vector<router::AgentNumber> added;      // not in the file before
  std::vector<router::AgentNumber> changed;    // another secret or flag (or an outdated cost)
  std::vector<router::AgentNumber> unchanged;  // the same secret and flag at the same cost
  std::vector<router::AgentNumber> removed;    // remove_missing only
  // The codes generated for "*" rows, by agent, for the caller to hand out (and then wipe).
  std::vector<std::pair<router::AgentNumber, std::string>> codes;
};

// Merges `rows` into the credential file `path` (created if missing). Holds the writers' lock from
// reading to writing. An agent whose secret and flag are unchanged keeps its hash (checked by
// verifying the new secret against it, at its own cost), unless that hash's cost differs from the
// row's: `options.temporary_cost` (if set) for a must-change or enrolment row, else
// `options.cost`. Refused when the file is malformed, hashing fails (memory) or the file cannot
// be written; the file is unchanged then. Every secret in `rows` is wiped, success or not.
Result<ImportReport> import_credentials(const std::string& path, std::vector<ImportRow>& rows,
                                        const ImportOptions& options);

}  // namespace acd::control
