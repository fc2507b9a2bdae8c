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

// ask() and unwrap acdd's answer: its "result" when it said ok, else a failure with acdd's "error"
// as the message and its "code" (control_error_from_wire) as the code, so that every command
// reports a refusal and picks its exit status the same way.
control::Result<nlohmann::json> ask_result(const std::string& socket_path,
                                           const nlohmann::json& request);
// The failure an answer that did not say ok stands for (as ask_result gives it).
control::Failure refusal_of(const nlohmann::json& answer);

// The same for a caller that must stay responsive (a live view): it gives up as soon as one of
// `watch` is readable — a key pressed, a signal arrived — returning no answer (nullopt), and after
// `timeout` (if given), failing with Unreachable ("acdd did not answer within ..."). Nothing is
// read from `watch`. A full accept backlog counts as "not answered" (it is retried until the
// timeout), never as a wait without end.
control::Result<std::optional<nlohmann::json>> ask_unless(
    const std::string& socket_path, const nlohmann::json& request, std::span<const int> watch,
    std::optional<std::chrono::milliseconds> timeout);

}  // namespace acd::acdctl
