// `surge status|enter|exit|auto [queue]` and `service status|down|up NAME`: surge mode and
// emergency diversion (docs/surge.md). The changes are engine inputs (SurgeControl,
// ServiceControl) sent through the sequencer like `agents ready`, so the log carries them and a
// standby or a replay switches at the same point; the status reads the published snapshot.
//
// Threads: the control thread only. Each returns the command's result or its Failure: usage for
// a bad request, refused with the engine's reason (no surge plan), try_again when the dataplane
// does not take the input.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

// `request`: {"queue": name or index} (absent: the whole site).
Result<nlohmann::json> surge_command(ControlContext& ctx, const nlohmann::json& request,
                                     const std::string& action);
// `request`: {"name": service name} for down and up.
Result<nlohmann::json> service_command(ControlContext& ctx, const nlohmann::json& request,
                                       const std::string& action);

// What a queue's surge cause bits (router::kSurgeBy*) say, by metric name.
nlohmann::json surge_cause_json(std::uint16_t cause);

}  // namespace acd::control
