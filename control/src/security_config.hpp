// acd.toml's [security] and [[clients]] (config.hpp's SecuritySettings and ClientEntry), read by
// parse_config.
#pragma once

#include "acd/control/config.hpp"
#include "acd/domain/toml_checker.hpp"

namespace acd::control {

// Reads [security] and [[clients]] of `root` into `cfg`, reporting every problem through `c`.
void parse_security(domain::TomlChecker& c, const toml::table& root, ApplianceConfig& cfg);

}  // namespace acd::control
