// Live reload of acd.toml: what a new file changes against the running configuration, and the
// configuration the running engine moves to.
//
// Queues, agents and skills are matched by name, ID and name — not by position — and keep their
// running indices, which are on the wire (switches address queues and skills by index, desktops
// their agent): new ones are appended, removed ones are retired (kept, empty, refusing calls) until
// a restart renumbers everything from the file. The differences fall into three kinds:
// - parameters (service-level targets, timeouts, overflow rules, verification, boosts, aging, hop
//   limit): applied in place between two inputs (Engine::reconfigure);
// - structure (skills, queues, their media, policy or skills, agents, their skills or capacity):
//   applied by building a new engine off the routing core that takes over the running one's state
//   between two inputs (Engine::take_over);
// - restart-only (the site and sites, max_calls, the dataplane, control and metrics endpoints):
//   refused with the list.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "acd/control/config.hpp"

namespace acd::control {

struct ConfigDiff {
  std::vector<std::string> changes;        // parameters
  std::vector<std::string> structure;      // structural, still live
  std::vector<std::string> needs_restart;  // refused by a reload
  std::vector<std::string> notes;          // index differences between the file and the engine
  bool structural() const { return !structure.empty(); }
  bool empty() const { return changes.empty() && structure.empty() && needs_restart.empty(); }
};

// `running` is the running configuration (retired entries included); `next` a freshly loaded file.
ConfigDiff diff_configs(const ApplianceConfig& running, const ApplianceConfig& next);

// The running configuration extended by `next`: running queues, agents and skills first, in their
// running order (those `next` drops marked retired), then the new ones; every reference (skill IDs,
// overflow targets) renumbered accordingly; everything else from `next`. It passes
// router::validate_config whenever `next` is valid.
ApplianceConfig merge_for_reload(const ApplianceConfig& running, const ApplianceConfig& next);

}  // namespace acd::control
