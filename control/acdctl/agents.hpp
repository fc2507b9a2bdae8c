#pragma once
// `acdctl agent ...` support: which argon2id cost a new hash gets, and `acdctl agent import`'s
// terminal side (progress, report). The work itself is the control library's
// (credential_store.hpp, credential_import.hpp). Runs on the calling thread.
#include <string>

#include "acd/control/credential_store.hpp"
#include "acd/control/result.hpp"

namespace acd::acdctl {

// The cost named by `level` if given; else that of `config_file`'s [signin] if given; else
// interactive. Usage failure for an unknown level or a configuration that does not parse.
control::Result<control::HashCost> hash_cost_of(const std::string& level,
                                                const std::string& config_file);

struct ImportCommand {
  std::string csv;          // the CSV file ("-": stdin)
  std::string credentials;  // the credential file to merge into
  std::string cost_level;   // --cost
  std::string config_file;  // --config
  // --temporary-cost: of must-change and enrolment rows' secrets: "import" (the default,
  // control::kTemporarySecretCost), "same" (--cost's), or a cost level.
  std::string temporary_cost_level = "import";
  bool remove_missing = false;
  bool dry_run = false;
  unsigned threads = 0;
  std::string codes_out;  // --codes-out: where generated enrolment codes go (created, mode 0600)
};
// `acdctl agent import`: parses, hashes with a progress bar on a terminal (a plain line every 10 %
// otherwise, on stderr), writes, and prints what changed. Returns acdctl's exit code: 0 done,
// 1 refused (file, memory), 2 usage (a bad line, a bad cost).
int run_agent_import(const ImportCommand& command);

}  // namespace acd::acdctl
