// The bridge's metrics: Prometheus text (exposition format 0.0.4) for its small HTTP endpoint
// (`metrics = "IP:PORT"` in its file; docs/sip.md "Metrics" lists every family). Rendered from the
// Bridge core's counters and calls and the shell's connection counts, on the bridge's one thread,
// at each scrape. No call IDs, numbers or addresses are exposed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "acd/sip/bridge.hpp"

namespace acd::sip {

// What the shell (src/main.cpp) knows and the core does not: its two connections.
struct ShellCounters {
  std::uint64_t evapi_connects = 0;     // connections to Kamailio's evapi made
  std::uint64_t evapi_losses = 0;       // ... lost (each is followed by a reconnect)
  std::uint64_t acdp_sessions = 0;      // ACDP/2 sessions made with acdd (handshakes completed)
  std::uint64_t http_bad_requests = 0;  // scrapes that were not GET /metrics
  std::uint64_t http_timeouts = 0;      // metrics connections closed without a whole request
  bool evapi_up = false;
  bool acdp_session = false;
};

// The whole exposition.
std::string render_metrics(const Bridge& bridge, const ShellCounters& shell);

// The HTTP answer to one request's bytes (at most its first line is read): `GET /metrics` (with
// or without a query) gets 200 and `body`; another path 404; anything else 400. Always
// "Connection: close".
std::string http_answer(std::string_view request, std::string_view body);
// True when `request` holds a whole request head (an empty line ends it).
bool http_request_complete(std::string_view request);

}  // namespace acd::sip
