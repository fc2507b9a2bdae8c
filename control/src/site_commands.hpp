// `site status`: this site, its peers and the latest summary each peer sent of each queue, with
// its age on the engine's clock (docs/dr.md "Inter-site overflow"). Reads the published snapshot.
//
// Threads: the control thread only. Returns the status, usage for another action, or try_again
// before the first snapshot.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

Result<nlohmann::json> site_command(ControlContext& ctx, const std::string& action);

}  // namespace acd::control
