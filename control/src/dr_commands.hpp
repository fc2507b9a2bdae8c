// `dr status | history | failover | switchover | switchback`: disaster recovery between sites,
// read from and asked through DrStatus (ha_node.hpp). Answered before the routing core has
// published a snapshot (a DR follower's state is the operator's first question).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

// status: this site, its DR role, the peer site, the RPO (records and seconds behind), sequence
// numbers. history: the DR events since acdd started (the audit log keeps them for good).
// failover (DR node; the admin role, checked before: commands.cpp's table of roles): take over
// with what was replicated, refused while the active primary is heard; the answer names the last
// applied seq and the estimated loss. switchover (active primary): stop admitting, wait for RPO 0,
// hand the epoch to the DR node. drill (DR node): a sandbox copy of the follower's engine routes
// one synthetic call; the answer says whether the state hash matched the active site's last one,
// the copy was exact, which agent took the call and in how long; the follower, its log and the
// wire are untouched. switchback: a switchover run by a node that took over, back to
// the site it took over from. The control thread waits for the IO thread's answer, at most
// `timeout_ms` (request field, default 10000 ms; a switchover under load drains first).
Result<nlohmann::json> dr_command(ControlContext& ctx, const std::string& action,
                                  const nlohmann::json& request);

}  // namespace acd::control
