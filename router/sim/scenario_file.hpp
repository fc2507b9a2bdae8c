// Reads a multi-skill simulation scenario from a TOML file (format in docs/simulator.md).
#pragma once

#include <string>

#include "acd/router/simulator.hpp"

namespace acd::sim_tool {

// Fills `out` from the file. On error returns a message naming the file, the line and the fix,
// and leaves `out` unspecified.
[[nodiscard]] std::string load_scenario(const std::string& path, router::sim::Scenario& out);

}  // namespace acd::sim_tool
