#pragma once
// `acdctl agent ...` helpers: which argon2id cost a new hash gets, and `acdctl agent import`'s
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

}  // namespace acd::acdctl
