// The command table {name -> handler} and execute(), every request's one entry point.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acd/control/audit_log.hpp"
#include "acd/control/control_server.hpp"
#include "acd/control/credential_store.hpp"
#include "acd/control/operator_role.hpp"
#include "acd/control/reload_record.hpp"
#include "acd/control/result.hpp"
#include "answer.hpp"
#include "dr_commands.hpp"
#include "engine_commands.hpp"
#include "ha_commands.hpp"
#include "names.hpp"
#include "site_commands.hpp"
#include "surge_commands.hpp"
#include "steady_clock.hpp"
#include "views.hpp"

namespace acd::control {

namespace {

using nlohmann::json;
using Answer = Result<json>;  // what every handler returns; answer() makes the socket's shape

// One request, as the handlers see it.
struct Request {
  const json& body;
  std::string action;  // "list" when the request names none
};

// The entry of `table` called `name`, or null.
template <typename Table>
auto find_named(const Table& table, std::string_view name) -> decltype(std::begin(table)) {
  const auto it = std::find_if(std::begin(table), std::end(table),
                               [name](const auto& entry) { return entry.name == name; });
  return it == std::end(table) ? nullptr : it;
}

// "a, b or c".
std::string one_of(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  }
  return text;
}

// --- agents: list, or an action on one agent ---

struct AgentAction {
  std::string_view name;
  Answer (*run)(ControlContext& ctx, const Snapshot& s, router::AgentIndex a,
                router::AgentNumber id);
};

Answer show_agent(ControlContext&, const Snapshot& s, router::AgentIndex a,
                  router::AgentNumber id) {
  if (a >= s.agents.size()) {
    return Failure{ControlError::TryAgain,
                   "agent " + std::to_string(id) + " was just added; try again"};
  }
  json j = agent_json(s.agents[a], s.engine_time);
  j["today"] = agent_stats_json(s.agents[a]);
  return j;
}

// Sends the engine `type` (ForceReady or ForceLogout) for agent `a`.
Answer force(ControlContext& ctx, router::EventType type, router::AgentIndex a, std::string done) {
  router::Event e;
  e.type = type;
  e.agent = a;
  return change(ctx, e, done);
}

Answer make_ready(ControlContext& ctx, const Snapshot&, router::AgentIndex a,
                  router::AgentNumber id) {
  return force(ctx, router::EventType::ForceReady, a, "agent " + std::to_string(id) + " is ready");
}

Answer sign_out(ControlContext& ctx, const Snapshot&, router::AgentIndex a,
                router::AgentNumber id) {
  return force(ctx, router::EventType::ForceLogout, a,
               "agent " + std::to_string(id) + " is signed out");
}

// Ends the agent's session tokens on both nodes (a TokenRevoke through the sequenced log): its
// desktops sign in with the password again. Done even when tokens are off (harmless).
Result<void> end_tokens(ControlContext& ctx, router::AgentNumber id) {
  router::Event e;
  e.number = id;
  dataplane::ControlRequest request;
  request.event = e;
  request.command = dataplane::RevokeTokens{};
  Result<json> done = send_command(ctx, request, "tokens revoked");
  if (!done.ok()) {
    return done.failure();
  }
  return {};
}

Answer revoke_tokens(ControlContext& ctx, const Snapshot&, router::AgentIndex,
                     router::AgentNumber id) {
  if (Result<void> r = end_tokens(ctx, id); !r.ok()) {
    return r.failure();
  }
  return json{
      {"agent", id},
      {"message", "agent " + std::to_string(id) +
                      "'s session tokens are revoked: its next sign-in needs the password"}};
}

Answer lift_backoffs(ControlContext& ctx, const Snapshot&, router::AgentIndex,
                     router::AgentNumber id);

// Lifts the agent's sign-in back-offs (the credential store records agent.unlock), and ends its
// session tokens: an operator who had to step in wants the password asked for again.
Answer unlock(ControlContext& ctx, const Snapshot& snapshot, router::AgentIndex a,
              router::AgentNumber id) {
  Answer answer = lift_backoffs(ctx, snapshot, a, id);
  if (answer.ok()) {
    // A standby takes no commands: its primary's revocation reaches it through the log.
    const Result<void> ended = end_tokens(ctx, id);
    answer.value()["tokens_revoked"] = ended.ok();
    if (!ended.ok()) {
      answer.value()["tokens"] = ended.failure().message;
    }
  }
  return answer;
}

Answer lift_backoffs(ControlContext& ctx, const Snapshot&, router::AgentIndex,
                     router::AgentNumber id) {
  if (ctx.credentials == nullptr) {
    return Failure{ControlError::Refused,
                   "this acdd checks demo passwords (no credential file, no directory): nothing "
                   "to unlock"};
  }
  const std::size_t running = ctx.credentials->unlock(id);
  return json{{"agent", id},
              {"backoffs_lifted", running},
              {"message", running == 0 ? "agent " + std::to_string(id) +
                                             " had no sign-in delay running; its counts are cleared"
                                       : "agent " + std::to_string(id) + " may sign in again"}};
}

constexpr AgentAction kAgentActions[] = {
    {"show", show_agent},
    {"ready", make_ready},
    {"logout", sign_out},
    {"unlock", unlock},
    {"revoke-tokens", revoke_tokens},
};

std::string agents_usage() {
  std::vector<std::string> forms{"list"};
  for (const AgentAction& action : kAgentActions) {
    forms.push_back(std::string(action.name) + " ID");
  }
  return "agents takes " + one_of(forms);
}

// The agent is found (by ID, in the running configuration) before the action is: a bad ID is
// answered as such whatever the action.
Answer agents(ControlContext& ctx, const Request& r) {
  const Snapshot s = ctx.board->read();
  if (r.action == "list") {
    return agent_list_json(s);
  }
  if (!r.body.contains("id") || !r.body["id"].is_number_unsigned()) {
    return Failure{ControlError::Usage, "agents " + r.action + " needs an agent ID"};
  }
  const auto id = r.body["id"].get<router::AgentNumber>();
  const router::AgentIndex a = agent_index(*ctx.config, id);
  if (a == router::kNone) {
    return Failure{ControlError::Refused, "no agent has ID " + std::to_string(id)};
  }
  const AgentAction* action = find_named(kAgentActions, r.action);
  if (action == nullptr) {
    return Failure{ControlError::Usage, agents_usage()};
  }
  return action->run(ctx, s, a, id);
}

// --- the other read commands ---

Answer status(ControlContext& ctx, const Request&) {
  const Snapshot s = ctx.board->read();
  return status_json(ctx, s, steady_ns());
}

Answer queues(ControlContext& ctx, const Request& r) {
  const Snapshot s = ctx.board->read();
  if (r.action == "list") {
    return queue_list_json(s);
  }
  if (r.action == "show") {
    const ApplianceConfig& names = *s.config;
    const router::QueueIndex q = queue_index(names, r.body.value("id", json()));
    if (q == router::kNone || q >= s.queues.size()) {
      return Failure{ControlError::Refused, "no such queue; give its name or index"};
    }
    return queue_json(names, q, s.queues[q]);
  }
  return Failure{ControlError::Usage, "queues takes list or show NAME"};
}

// `show` compares each call with the request's ID in turn; an action other than list or show
// gets an empty list.
Answer calls(ControlContext& ctx, const Request& r) {
  const Snapshot s = ctx.board->read();
  if (r.action == "show") {
    for (const CallRow& c : s.calls) {
      if (r.body.value("id", std::uint64_t{0}) == c.id) {
        return call_json(s, c);
      }
    }
    return Failure{ControlError::Refused, "no such call in the engine"};
  }
  return r.action == "list" ? call_list_json(s) : json::array();
}

Answer stats(ControlContext& ctx, const Request& r) {
  const Snapshot s = ctx.board->read();
  const std::string what = r.body.value("what", std::string("queues"));
  if (what == "agents") {
    return agent_stats_list_json(s);
  }
  if (what == "queues") {
    return queue_list_json(s);
  }
  return Failure{ControlError::Usage, "stats takes agents or queues"};
}

// --- the commands that reach the routing core (engine_commands.hpp) ---

Answer route(ControlContext& ctx, const Request& r) {
  if (r.action != "test") {
    return Failure{ControlError::Usage, "route takes test"};
  }
  return route_test(ctx, r.body);
}

Answer config(ControlContext& ctx, const Request& r) {
  return config_command(ctx, r.body, r.action);
}

Answer surge(ControlContext& ctx, const Request& r) {
  return surge_command(ctx, r.body, r.action);
}

Answer service(ControlContext& ctx, const Request& r) {
  return service_command(ctx, r.body, r.action);
}

Answer site(ControlContext& ctx, const Request& r) {
  return site_command(ctx, r.action);
}

Answer ha(ControlContext& ctx, const Request& r) {
  return ha_command(ctx, r.action);
}

Answer dr(ControlContext& ctx, const Request& r) {
  return dr_command(ctx, r.action, r.body);
}

Answer client(ControlContext& ctx, const Request&) {
  return client_list_json(*ctx.config);
}

// --- the audit log (audit_log.hpp) ---

// show [since: ISO-8601 UTC] [last: N]: the records, oldest first.
Answer audit(ControlContext& ctx, const Request& r) {
  if (r.action != "show" && r.action != "list") {
    return Failure{ControlError::Usage, "audit takes show (acdctl audit verify reads the files)"};
  }
  if (ctx.audit == nullptr) {
    return Failure{ControlError::Refused, "acdd keeps no audit log: set [audit] dir in acd.toml"};
  }
  std::optional<std::int64_t> since;
  if (r.body.contains("since")) {
    since = parse_audit_time(r.body["since"].get<std::string>());
    if (!since) {
      return Failure{ControlError::Usage,
                     "since is a UTC time like 2026-11-29T21:00:00Z or a date like 2026-11-29"};
    }
  }
  std::optional<std::size_t> last;
  if (r.body.contains("last")) {
    last = r.body["last"].get<std::size_t>();
  }
  return read_audit_records(ctx.audit->dir(), since, last);
}

// --- the table ---

struct Command {
  std::string_view name;
  Answer (*handler)(ControlContext& ctx, const Request& request);
};

// In the order the unknown-command answer lists them.
constexpr Command kCommands[] = {
    {"status", status}, {"agents", agents}, {"queues", queues}, {"calls", calls},
    {"stats", stats},   {"route", route},   {"config", config}, {"ha", ha},
    {"client", client}, {"audit", audit},   {"dr", dr},
    {"surge", surge},   {"service", service}, {"site", site},
};

// --- who may do what: the one table of roles (control/DESIGN.md "Operator roles" says why) ---

constexpr std::string_view kAnyAction = "*";  // the command reads whatever its action

using Permission = CommandPermission;

using enum OperatorRole;
// One rule a line.
// clang-format off
constexpr Permission kPermissions[] = {
    {"status", kAnyAction, Viewer, Viewer},
    {"agents", "list", Viewer, Viewer},
    {"agents", "show", Viewer, Viewer},
    {"agents", "ready", Operator, Operator},
    {"agents", "logout", Operator, Operator},
    {"agents", "unlock", Operator, Operator},
    {"agents", "revoke-tokens", Operator, Operator},
    {"queues", kAnyAction, Viewer, Viewer},
    {"calls", kAnyAction, Viewer, Viewer},
    {"stats", kAnyAction, Viewer, Viewer},
    {"route", "test", Operator, Operator},
    {"surge", "list", Viewer, Viewer},  // a request without an action: status
    {"surge", "status", Viewer, Viewer},
    {"surge", "enter", Operator, Operator},
    {"surge", "exit", Operator, Operator},
    {"surge", "auto", Operator, Operator},
    {"service", "list", Viewer, Viewer},
    {"service", "status", Viewer, Viewer},
    {"service", "down", Operator, Operator},
    {"service", "up", Operator, Operator},
    {"config", "validate", Viewer, Admin},
    {"config", "diff", Viewer, Admin},
    {"config", "reload", Admin, Admin},
    {"ha", "list", Viewer, Viewer},  // a request without an action: status
    {"ha", "status", Viewer, Viewer},
    {"ha", "switchover", Admin, Admin},
    {"dr", "list", Viewer, Viewer},  // a request without an action: status
    {"dr", "status", Viewer, Viewer},
    {"dr", "history", Viewer, Viewer},
    // Moving the centre between sites: for those who answer for it.
    {"dr", "failover", Admin, Admin},
    {"dr", "switchover", Admin, Admin},
    {"dr", "switchback", Admin, Admin},
    {"dr", "drill", Admin, Admin},
    {"client", "list", Operator, Operator},
    // The record of what operators did and who signed in: for those who answer for the centre.
    {"audit", "show", Admin, Admin},
    {"audit", "list", Admin, Admin},
    {"site", "list", Viewer, Viewer},  // a request without an action: status
    {"site", "status", Viewer, Viewer},
};
// clang-format on

// Done when `caller` may run the request, else PermissionDenied naming the role it needs and the
// one the caller has; an action the table does not list is a usage error (so no handler ever runs
// an action nobody decided a role for).
Result<void> permitted(const ControlContext& ctx, const std::string& cmd, const Request& r,
                       OperatorRole caller) {
  const Permission* rule = nullptr;
  std::vector<std::string> actions;
  for (const Permission& p : kPermissions) {
    if (p.cmd == cmd && (p.action == kAnyAction || p.action == r.action)) {
      rule = &p;
      break;
    }
    if (p.cmd == cmd) {
      actions.emplace_back(p.action);
    }
  }
  if (rule == nullptr) {
    if (cmd == "agents") {
      return Failure{ControlError::Usage, agents_usage()};
    }
    return Failure{ControlError::Usage, cmd + " takes " + one_of(actions)};
  }
  const bool names_file = r.body.contains("file");
  const OperatorRole needs = names_file ? rule->needs_with_file : rule->needs;
  if (caller >= needs) {
    return {};
  }
  const OperatorGroups groups =
      ctx.config != nullptr ? ctx.config->operator_groups : OperatorGroups{};
  // As acdctl says it: the action when the request names one ("agents ready", "client list").
  std::string what = cmd + (r.body.contains("action") ? " " + r.action : "");
  what += names_file && needs != rule->needs ? " FILE" : "";
  const std::string you =
      caller == None ? "you have no role" : "you are " + std::string(role_name(caller));
  std::string message = "permission denied: '" + what + "' needs the " +
                        std::string(role_name(needs)) + " role (" + who_holds(needs, groups) +
                        "); " + you;
  if (names_file && needs != rule->needs) {
    message +=
        " (acdd reads the file as itself; 'acdctl config validate FILE' checks a file as you)";
  }
  return Failure{ControlError::PermissionDenied, message};
}

Failure unknown_command(const std::string& cmd) {
  std::vector<std::string> names;
  for (const Command& command : kCommands) {
    names.emplace_back(command.name);
  }
  return Failure{ControlError::Usage, "unknown command '" + cmd + "'; try " + one_of(names)};
}

Answer execute_request(ControlContext& ctx, const json& request, OperatorRole caller) {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return Failure{ControlError::Usage, "a request is a JSON object with \"cmd\""};
  }
  const std::string cmd = request["cmd"];
  const Request r{request, request.value("action", std::string("list"))};
  const Command* command = find_named(kCommands, cmd);
  if (command == nullptr) {
    return unknown_command(cmd);
  }
  if (const Result<void> allowed = permitted(ctx, cmd, r, caller); !allowed.ok()) {
    return allowed.failure();
  }
  if (cmd == "ha" || cmd == "dr") {
    return command->handler(ctx, r);  // a node's role is known before its first snapshot
  }
  if (cmd == "audit") {
    return audit(ctx, r);  // the files, not the routing core's state
  }
  if (ctx.board == nullptr || !ctx.board->ready()) {
    return Failure{ControlError::TryAgain,
                   "the routing core has not published its state yet; try again"};
  }
  return command->handler(ctx, r);
}

}  // namespace

std::span<const CommandPermission> command_permissions() {
  return kPermissions;
}

nlohmann::json execute(ControlContext& ctx, const nlohmann::json& request, OperatorRole caller) {
  if (ctx.follower != nullptr && ctx.follower->applied() != ctx.follower_adopted) {
    // A reload replayed from the log (this node followed a primary or its journal): it is the
    // running configuration now, as on the node that reloaded.
    ctx.follower_adopted = ctx.follower->applied();
    ctx.config = ctx.follower->latest();
    ++ctx.config_version;
  }
  // A field of the wrong type (any local user may send requests) is a usage error, never a crash.
  try {
    return answer(execute_request(ctx, request, caller));
  } catch (const nlohmann::json::exception& e) {
    return answer(
        Failure{ControlError::Usage,
                std::string("a field of the request has the wrong type (") + e.what() + ")"});
  }
}

}  // namespace acd::control
