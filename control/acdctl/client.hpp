#pragma once
// The client side of acdd's control socket: one JSON line out, one JSON answer back, one
// connection per request (the protocol of control_server.hpp). Called from acdctl's main thread
// only; nothing here is shared between threads.
#include <chrono>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/result.hpp"

namespace acd::acdctl {

// One request, one answer (acdd's {"ok": ...} object, as it sent it); waits as long as acdd takes.
// Fails with Unreachable when acdd cannot be reached or sent something that is not JSON; the
// message says why (the socket path and errno, "cannot send the request", "acdd sent an answer
// that is not JSON").
control::Result<nlohmann::json> ask(const std::string& socket_path, const nlohmann::json& request);

// The same for a caller that must stay responsive (a live view): it gives up as soon as one of
// `watch` is readable — a key pressed, a signal arrived — returning no answer (nullopt), and after
// `timeout` (if given), failing with Unreachable ("acdd did not answer within ..."). Nothing is
// read from `watch`. A full accept backlog counts as "not answered" (it is retried until the
// timeout), never as a wait without end.
control::Result<std::optional<nlohmann::json>> ask_unless(
    const std::string& socket_path, const nlohmann::json& request, std::span<const int> watch,
    std::optional<std::chrono::milliseconds> timeout);

}  // namespace acd::acdctl
