// The two shapes of a control answer: {"ok": true, "result": ...} and
// {"ok": false, "error": MESSAGE, "code": NAME} (control_error.hpp names the codes).
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "acd/control/control_error.hpp"

namespace acd::control {

inline nlohmann::json fail(const std::string& error, ControlError code) {
  return nlohmann::json{{"ok", false}, {"error", error}, {"code", std::string(wire_name(code))}};
}

inline nlohmann::json ok(nlohmann::json result) {
  return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
}

}  // namespace acd::control
