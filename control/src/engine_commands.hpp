// The commands that reach the routing core through the sequencer: engine events (agent ready or
// logout, a new day), route previews, and configuration reloads (with their validate and diff).
// Each sends its request on the ControlChannel, waits up to 2 s for the reply, then (for changes)
// up to 1 s for a snapshot that shows the change, so that the next command sees it.
//
// Threads: the control thread only (the channel's single producer and consumer on this side).
// Each returns the command's result or its Failure (result.hpp), which execute() turns into the
// socket's answer (answer.hpp); a request field of the wrong type throws nlohmann::json::exception,
// which execute() answers as a usage error.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

// Applies `event` (ForceReady, ForceLogout, NewDay) and answers {"done": done}; try_again when the
// dataplane does not take it or does not answer, refused with the engine's reason.
Result<nlohmann::json> change(ControlContext& ctx, router::Event event, const std::string& done);
// Any command (ControlRequest::command) through the sequencer, reported the same way.
Result<nlohmann::json> send_command(ControlContext& ctx, const dataplane::ControlRequest& request,
                                    const std::string& done);

// `route test`: what the engine would do now with the call `request` describes (queue, priority,
// tier, verification, language, skills, call), decision by decision; usage for a bad request.
// Nothing changes in the engine.
Result<nlohmann::json> route_test(ControlContext& ctx, const nlohmann::json& request);

// `config validate|diff|reload` (`action`) of `request`'s file (else acdd's own): checks it, then
// answers validity, the differences, or applies them (parameters in place, else a new engine the
// routing core swaps in). Naming a file or reloading needs the admin role, checked before
// (commands.cpp's table of roles); a reload that needs a restart, or that the routing core
// refuses, changes nothing.
Result<nlohmann::json> config_command(ControlContext& ctx, const nlohmann::json& request,
                                      const std::string& action);

}  // namespace acd::control
