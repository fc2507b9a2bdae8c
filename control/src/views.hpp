// The JSON views of a snapshot that the read commands answer with: agents, their statistics,
// queues, calls and the appliance's status. Rows are named by the configuration the snapshot was
// taken under; lists leave out the rows it retired. Pure functions: no I/O, no clock.
#pragma once

#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"

namespace acd::control {

// One agent: state, time in it (at engine time `now`), device, load.
nlohmann::json agent_json(const AgentRow& a, router::Micros now);
// One agent's statistics for today.
nlohmann::json agent_stats_json(const AgentRow& a);
// Queue `q` (named by `cfg`): state, statistics for today, service level.
nlohmann::json queue_json(const ApplianceConfig& cfg, std::size_t q, const QueueRow& row);
// One call of `s`: state, queue, times, the agent it is with.
nlohmann::json call_json(const Snapshot& s, const CallRow& c);

nlohmann::json agent_list_json(const Snapshot& s);
nlohmann::json agent_stats_list_json(const Snapshot& s);
nlohmann::json queue_list_json(const Snapshot& s);
nlohmann::json call_list_json(const Snapshot& s);

// The configured ACDP clients ([[clients]]): name, role, public key, networks (an empty list:
// anywhere). A pure function of the configuration.
nlohmann::json client_list_json(const ApplianceConfig& cfg);

// `status`: the appliance (from `ctx`: the running configuration, role, rates, dataplane
// counters) and the engine (from `s`); `now_ns` (steady clock) gives the uptime.
nlohmann::json status_json(const ControlContext& ctx, const Snapshot& s, std::uint64_t now_ns);

}  // namespace acd::control
