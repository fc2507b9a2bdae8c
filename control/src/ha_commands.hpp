// `ha status` and `ha switchover`: the node's role in its pair, read from HaStatus (ha_node.hpp).
// Answered even before the routing core has published a snapshot (a standby's state is the
// operator's first question).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

// status: role, epoch, peer, sequence numbers, lag, hash checks,
// failovers, the last reason. switchover (the admin role, checked
// before: commands.cpp's table of roles): a primary with a synchronous standby
// stops taking requests, waits until the standby acknowledged everything, and steps down.
Result<nlohmann::json> ha_command(ControlContext& ctx, const std::string& action);

}  // namespace acd::control
