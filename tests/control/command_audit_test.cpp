// Which control-socket requests reach the audit log: every action of the table of roles that
// changes state, and none that only reads.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "acd/control/control_server.hpp"
#include "command_audit.hpp"  // control/src: internal to the control part

namespace acd::control {
namespace {

using nlohmann::json;

// The actions that only read. Everything else in the table of roles changes state and must be
// audited: a new state-changing action is caught here unless someone declares it read-only.
const std::set<std::pair<std::string, std::string>> kReadOnly = {
    {"status", "*"},    {"agents", "list"},  {"agents", "show"},    {"queues", "*"},
    {"calls", "*"},     {"stats", "*"},      {"route", "test"},     {"surge", "list"},
    {"surge", "status"}, {"service", "list"}, {"service", "status"}, {"config", "validate"},
    {"config", "diff"}, {"ha", "list"},      {"ha", "status"},      {"dr", "list"},
    {"dr", "status"},   {"dr", "history"},   {"client", "list"},    {"audit", "show"},
    {"audit", "list"},  {"site", "list"},    {"site", "status"},
};

TEST(CommandAudit, EveryStateChangingActionOfTheRoleTableIsAudited) {
  std::size_t changing = 0;
  std::set<std::pair<std::string, std::string>> seen;
  for (const CommandPermission& p : command_permissions()) {
    const std::pair<std::string, std::string> key{std::string(p.cmd), std::string(p.action)};
    seen.insert(key);
    const bool reads = kReadOnly.contains(key);
    // A "*" rule covers any action: try a few names.
    for (const std::string& action :
         p.action == "*" ? std::set<std::string>{"list", "show", "agents"}
                         : std::set<std::string>{std::string(p.action)}) {
      const json request{{"cmd", p.cmd}, {"action", action}, {"id", 1001u}};
      EXPECT_EQ(changes_state(request), !reads)
          << request.dump() << (reads ? " only reads, yet is audited as a change"
                                      : " changes state but is not audited");
    }
    changing += reads ? 0 : 1;
  }
  EXPECT_GE(changing, 15u) << "agents x4, config reload, ha, dr x4, surge x3, service x2";
  for (const auto& key : kReadOnly) {
    EXPECT_TRUE(seen.contains(key)) << key.first << " " << key.second
                                    << " is no longer in the table of roles";
  }
}

// A reload with --dry-run changes nothing; without, it does. A request without an action is its
// command's list/status. Malformed requests are not audited as changes (a refusal for permission
// still is, by audit_command).
TEST(CommandAudit, DryRunsAndMalformedRequestsAreNotChanges) {
  EXPECT_TRUE(changes_state({{"cmd", "config"}, {"action", "reload"}}));
  EXPECT_TRUE(changes_state({{"cmd", "config"}, {"action", "reload"}, {"dry_run", false}}));
  EXPECT_FALSE(changes_state({{"cmd", "config"}, {"action", "reload"}, {"dry_run", true}}));
  for (const char* cmd : {"agents", "surge", "service", "ha", "dr", "site"}) {
    EXPECT_FALSE(changes_state({{"cmd", cmd}})) << cmd;
  }
  EXPECT_FALSE(changes_state(json::array({1, 2})));
  EXPECT_FALSE(changes_state({{"cmd", 7}}));
  EXPECT_FALSE(changes_state({{"cmd", "agents"}, {"action", 5}}));
}

}  // namespace
}  // namespace acd::control
