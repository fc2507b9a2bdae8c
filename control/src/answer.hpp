// The one place a command's Result becomes the control socket's answer:
// {"ok": true, "result": ...} or {"ok": false, "error": MESSAGE, "code": NAME} (control_error.hpp
// names the codes).
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "acd/control/result.hpp"

namespace acd::control {

inline nlohmann::json answer(Result<nlohmann::json> result) {
  if (!result.ok()) {
    const Failure& f = result.failure();
    return nlohmann::json{
        {"ok", false}, {"error", f.message}, {"code", std::string(wire_name(f.code))}};
  }
  return nlohmann::json{{"ok", true}, {"result", std::move(result).value()}};
}

}  // namespace acd::control
