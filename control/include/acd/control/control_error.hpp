// The control socket's error vocabulary, shared by acdd and acdctl: acdd answers a request it does
// not carry out with {"ok": false, "error": MESSAGE, "code": NAME}; acdctl prints the message and
// exits with the code's status. docs/operations.md has the table an operator reads.
//
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace acd::control {

// name, wire name, acdctl exit status, meaning. Exit status 0 is success; none of these is 0.
#define ACD_CONTROL_ERROR_LIST(X)                                                              \
  X(Refused, "refused", 1, "acd refused the request; the message says why")                    \
  X(Usage, "usage", 2, "the command line or the request is malformed; nothing was done")       \
  X(Unreachable, "unreachable", 3, "acdd's control socket cannot be reached (is it running?)") \
  X(PermissionDenied, "permission_denied", 4,                                                  \
    "the caller's operator role is below the one the command needs (the message names both)")  \
  X(TryAgain, "try_again", 5, "acdd is busy or not ready yet; the same request may succeed later")

enum class ControlError : std::uint8_t {
#define ACD_X(name, wire, status, meaning) name,
  ACD_CONTROL_ERROR_LIST(ACD_X)
#undef ACD_X
};

// The name on the wire ("try_again").
constexpr std::string_view wire_name(ControlError e) {
  switch (e) {
#define ACD_X(name, wire, status, meaning) \
  case ControlError::name:                 \
    return wire;
    ACD_CONTROL_ERROR_LIST(ACD_X)
#undef ACD_X
  }
  return "refused";
}

// acdctl's exit status for the error.
constexpr int exit_status(ControlError e) {
  switch (e) {
#define ACD_X(name, wire, status, meaning) \
  case ControlError::name:                 \
    return status;
    ACD_CONTROL_ERROR_LIST(ACD_X)
#undef ACD_X
  }
  return 1;
}

// The error a wire name stands for; an unknown name (a newer acdd) is a refusal.
constexpr ControlError control_error_from_wire(std::string_view name) {
#define ACD_X(n, wire, status, meaning) \
  if (name == wire) {                   \
    return ControlError::n;             \
  }
  ACD_CONTROL_ERROR_LIST(ACD_X)
#undef ACD_X
  return ControlError::Refused;
}

}  // namespace acd::control
