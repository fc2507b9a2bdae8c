#include "acd/control/control_server.hpp"

#include "acd/control/control_error.hpp"
#include "acd/control/reload.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "socket_io.hpp"
#include "steady_clock.hpp"

namespace acd::control {

namespace {

using nlohmann::json;

json fail(const std::string& error, ControlError code) {
  return json{{"ok", false}, {"error", error}, {"code", std::string(wire_name(code))}};
}
json ok(json result) {
  return json{{"ok", true}, {"result", std::move(result)}};
}

// A call's state as an operator says it: an answered call is "talking".
std::string call_state_name(router::CallState s) {
  return s == router::CallState::Active ? "talking" : std::string(router::to_string(s));
}

// Seconds from `from` to `to` (engine time), 0 if `to` is earlier.
double seconds_between(router::Micros from, router::Micros to) {
  return to > from ? static_cast<double>(to - from) / 1e6 : 0.0;
}

std::string state_name(router::AgentState s) {
  return std::string(router::to_string(s));
}

json agent_json(const AgentRow& a, router::Micros now) {
  json j{
      {"id", a.number},
      {"state", state_name(a.view.state)},
      {"in_state_s", a.view.state == router::AgentState::LoggedOut || now < a.view.state_since
                         ? json(nullptr)
                         : json(static_cast<double>(now - a.view.state_since) / 1e6)},
      {"device", a.view.device},
      {"load", {{"voice", a.view.load[0]}, {"chat", a.view.load[1]}, {"email", a.view.load[2]}}}};
  if (a.view.state == router::AgentState::NotReady) {
    j["reason"] = a.view.not_ready_reason;
  }
  if (a.view.pending_not_ready) {
    j["pending_not_ready"] = true;
  }
  return j;
}

json agent_stats_json(const AgentRow& a) {
  const auto& s = a.stats;
  json not_ready = json::object();
  for (std::size_t r = 0; r < s.not_ready_ms.size(); ++r) {
    if (s.not_ready_ms[r] != 0) {
      not_ready[std::to_string(r)] = s.not_ready_ms[r] / 1000.0;
    }
  }
  return json{{"id", a.number},
              {"offered", s.offered},
              {"answered", s.answered},
              {"no_answer", s.no_answer},
              {"transfers_out", s.transfers_out},
              {"outbound", s.outbound},
              {"talk_s", s.talk_ms / 1000.0},
              {"hold_s", s.hold_ms / 1000.0},
              {"wrap_up_s", s.wrap_up_ms / 1000.0},
              {"ready_s", s.ready_ms / 1000.0},
              {"not_ready_s", not_ready}};
}

json queue_json(const ApplianceConfig& cfg, std::size_t q, const QueueRow& row) {
  const auto& v = row.view;
  const auto& s = row.stats;
  const double offered = static_cast<double>(s.offered);
  return json{{"id", q},
              {"name", cfg.domain.queues[q].name},
              {"media", std::string(router::to_string(v.media))},
              {"policy", std::string(router::to_string(v.policy))},
              {"waiting", v.waiting},
              {"ready_agents", v.ready_agents},
              {"staffed", v.staffed},
              {"oldest_wait_s", static_cast<double>(v.oldest_wait) / 1e6},
              {"ewt_s", v.ewt_ms == router::kUnknownEwt ? json(nullptr) : json(v.ewt_ms / 1000.0)},
              {"offered", s.offered},
              {"answered", s.answered},
              {"abandoned", s.abandoned},
              {"overflowed", s.overflowed_out},
              {"asa_s", s.answered > 0 ? static_cast<double>(s.wait_answered_ms) / 1000.0 /
                                             static_cast<double>(s.answered)
                                       : 0.0},
              {"aht_s", s.handled > 0 ? static_cast<double>(s.handle_ms) / 1000.0 /
                                            static_cast<double>(s.handled)
                                      : 0.0},
              {"service_level",
               offered > 0 ? json(static_cast<double>(s.answered_in_sl) / offered) : json(nullptr)},
              {"sl_target", v.sl_target_permille / 1000.0},
              {"sl_threshold_s", v.sl_threshold_ms / 1000.0},
              {"longest_wait_s", static_cast<double>(s.longest_wait_ms) / 1000.0}};
}

// Agent ID (or queue name / index) to index; kNone if unknown.
router::AgentIndex agent_index(const ApplianceConfig& cfg, router::AgentNumber id) {
  for (std::size_t i = 0; i < cfg.domain.agents.size(); ++i) {
    if (cfg.domain.agents[i].number == id && !cfg.domain.agents[i].retired) {
      return static_cast<router::AgentIndex>(i);
    }
  }
  return router::kNone;
}

router::QueueIndex queue_index(const ApplianceConfig& cfg, const json& key) {
  if (key.is_number_unsigned() && key.get<std::uint64_t>() < cfg.domain.queues.size()) {
    const auto q = key.get<router::QueueIndex>();
    return cfg.domain.queues[q].retired ? router::kNone : q;
  }
  if (key.is_string()) {
    for (std::size_t q = 0; q < cfg.domain.queues.size(); ++q) {
      if (cfg.domain.queues[q].name == key.get<std::string>() && !cfg.domain.queues[q].retired) {
        return static_cast<router::QueueIndex>(q);
      }
    }
  }
  return router::kNone;
}

// Sends one command through the sequencer and waits (up to 2 s) for the routing core's reply.
// Null on success (`reply` filled), else the failure to return.
json submit_and_wait(ControlContext& ctx, dataplane::ControlRequest request,
                     dataplane::ControlReply& reply) {
  static std::uint64_t next_ticket = 1;  // control thread only
  request.ticket = next_ticket++;
  if (ctx.channel == nullptr || !ctx.channel->submit(request)) {
    return fail("the dataplane is not taking commands right now; try again",
                ControlError::TryAgain);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    while (ctx.channel->take_reply(reply)) {
      if (reply.ticket == request.ticket) {
        return json();
      }
      // else a late answer to an earlier command that had timed out
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return fail("no answer from the routing core within 2 s", ControlError::TryAgain);
}

// Waits (up to 1 s) until `published(board)` holds: the control thread's way to let the routing
// core publish what a command has just changed, so that the next command already sees it.
template <typename Published>
void await_snapshot(const SnapshotBoard& board, Published&& published) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline && !published(board)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A snapshot begun after `ns` (steady clock): read your writes.
void await_snapshot_after(const ControlContext& ctx, std::uint64_t ns) {
  await_snapshot(*ctx.board, [ns](const SnapshotBoard& b) { return b.published_ns() > ns; });
}

// Sends an engine event and reports its result.
json change(ControlContext& ctx, router::Event event, const std::string& done) {
  dataplane::ControlRequest request;
  request.event = event;
  dataplane::ControlReply reply;
  if (json failed = submit_and_wait(ctx, request, reply); !failed.is_null()) {
    return failed;
  }
  if (reply.result == dataplane::CommandResult::Overloaded) {
    return fail("the dataplane is not taking commands right now; try again",
                ControlError::TryAgain);
  }
  if (reply.result != dataplane::CommandResult::Done) {
    return fail(std::string(router::describe(reply.engine_status)) + " (" +
                    std::string(router::to_string(reply.engine_status)) + ")",
                ControlError::Refused);
  }
  if (ctx.board != nullptr) {
    await_snapshot_after(ctx, steady_ns());
  }
  return ok(json{{"done", done}});
}

router::SkillId skill_by_name(const ApplianceConfig& cfg, const std::string& name) {
  for (std::size_t s = 0; s < cfg.skill_names.size(); ++s) {
    if (cfg.skill_names[s] == name) {
      return static_cast<router::SkillId>(s);
    }
  }
  return router::kNoSkill;
}

std::string target_name(const ApplianceConfig& cfg, const router::Decision& d) {
  switch (d.action) {
    case router::OverflowAction::ToQueue:
      return d.target < cfg.domain.queues.size() ? cfg.domain.queues[d.target].name
                                                 : std::to_string(d.target);
    case router::OverflowAction::ToSite:
      return d.target < cfg.sites.size() ? cfg.sites[d.target] : std::to_string(d.target);
    case router::OverflowAction::ToIvr:
      return std::to_string(d.target);
    default:
      return "";
  }
}

// The route request a "route test" describes, or a usage failure.
json route_test_event(const ApplianceConfig& cfg, const json& request, router::Event& e) {
  e.type = router::EventType::RouteRequest;
  e.queue = queue_index(cfg, request.value("queue", json()));
  if (e.queue == router::kNone) {
    return fail("no such queue: give the name (or index) of a configured queue",
                ControlError::Usage);
  }
  e.media = cfg.domain.queues[e.queue].media;
  auto small = [&](const char* key, std::uint64_t max, std::uint8_t& out) -> bool {
    const json v = request.value(key, json(0));
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max) {
      return false;
    }
    out = v.get<std::uint8_t>();
    return true;
  };
  if (!small("priority", router::kPriorityLevels - 1, e.priority)) {
    return fail("priority must be 0.." + std::to_string(router::kPriorityLevels - 1),
                ControlError::Usage);
  }
  if (!small("tier", router::kTierCount - 1, e.tier)) {
    return fail("tier must be 0.." + std::to_string(router::kTierCount - 1), ControlError::Usage);
  }
  if (!small("verification", 255, e.verification)) {
    return fail("verification must be 0..255", ControlError::Usage);
  }
  const json call = request.value("call", json(0));
  if (!call.is_number_unsigned()) {
    return fail("call must be a call ID (a positive number)", ControlError::Usage);
  }
  e.call = call.get<router::CallId>();
  if (const std::string language = request.value("language", std::string()); !language.empty()) {
    e.language = skill_by_name(cfg, language);
    if (e.language == router::kNoSkill) {
      return fail("no skill is named '" + language + "'", ControlError::Usage);
    }
  }
  const json skills = request.value("skills", json::array());
  if (!skills.is_array() || skills.size() > router::kMaxCallSkills) {
    return fail("at most " + std::to_string(router::kMaxCallSkills) + " extra skills",
                ControlError::Usage);
  }
  for (const json& s : skills) {
    const router::SkillId id = skill_by_name(cfg, s.value("skill", std::string()));
    const json level = s.value("level", json(1));
    if (id == router::kNoSkill) {
      return fail("no skill is named '" + s.value("skill", std::string()) + "'",
                  ControlError::Usage);
    }
    if (!level.is_number_unsigned() || level.get<std::uint64_t>() < 1 ||
        level.get<std::uint64_t>() > router::kMaxProficiency) {
      return fail("a skill's level must be 1.." + std::to_string(router::kMaxProficiency),
                  ControlError::Usage);
    }
    e.skills[e.skill_count++] = {id, level.get<std::uint8_t>(), 0};
  }
  return json();
}

// What the engine would do with a call now: the preview's decisions, explained.
json route_test(ControlContext& ctx, const json& request) {
  const ApplianceConfig& cfg = *ctx.config;
  dataplane::ControlRequest r;
  if (json bad = route_test_event(cfg, request, r.event); !bad.is_null()) {
    return bad;
  }
  r.command = dataplane::PreviewRoute{};
  dataplane::ControlReply reply;
  if (json failed = submit_and_wait(ctx, r, reply); !failed.is_null()) {
    return failed;
  }
  if (reply.count == 0) {
    return fail("the routing core gave no answer for the preview", ControlError::Refused);
  }
  const Snapshot s = ctx.board->read();
  auto queue_name = [&](router::QueueIndex q) {
    return q < cfg.domain.queues.size() ? json(cfg.domain.queues[q].name) : json(nullptr);
  };
  json steps = json::array();
  json result{{"preview", true}, {"queue", queue_name(r.event.queue)}};
  for (std::uint8_t i = 0; i < reply.count; ++i) {
    const router::Decision& d = reply.decisions[i];
    json step{{"queue", queue_name(d.queue)}};
    switch (d.type) {
      case router::DecisionType::Offer:
        result["outcome"] = "offer";
        result["agent"] = d.number;
        step["agent"] = d.number;
        break;
      case router::DecisionType::Queued:
        result["outcome"] = "queued";
        result["position"] = d.position;
        result["ewt_s"] = d.ewt_ms == router::kUnknownEwt ? json(nullptr) : json(d.ewt_ms / 1000.0);
        step["position"] = d.position;
        break;
      case router::DecisionType::Overflowed:
        result["outcome"] = "overflow";
        step["action"] = std::string(router::to_string(d.action));
        step["target"] = target_name(cfg, d);
        if (d.status != router::Status::Ok) {
          step["reason"] = std::string(router::describe(d.status));
        }
        result["action"] = step["action"];
        result["target"] = step["target"];
        break;
      default:
        result["outcome"] = d.type == router::DecisionType::Rejected ? "rejected" : "refused";
        result["reason"] = std::string(router::describe(d.status));
        step["reason"] = result["reason"];
        break;
    }
    step["decision"] = d.type == router::DecisionType::Overflowed ? "overflow" : result["outcome"];
    if (d.queue < s.queues.size()) {
      step["ready_agents"] = s.queues[d.queue].view.ready_agents;
      step["waiting"] = s.queues[d.queue].view.waiting;
    }
    result["final_queue"] = queue_name(d.queue);
    steps.push_back(std::move(step));
  }
  result["steps"] = std::move(steps);
  if (reply.truncated) {
    result["truncated"] = true;
  }
  return ok(result);
}

// Why the routing core refused a structural reload, with names.
std::string refusal_text(const ApplianceConfig& merged, const router::Engine::TakeOverResult& r) {
  using Problem = router::Engine::TakeOverProblem;
  const auto& d = merged.domain;
  switch (r.problem) {
    case Problem::RetiredAgentSignedIn:
      return "agent " + std::to_string(d.agents[r.index].number) +
             " is signed in; sign them out first (acdctl agents logout " +
             std::to_string(d.agents[r.index].number) + ")";
    case Problem::RetiredQueueHasCalls:
      return "queue " + d.queues[r.index].name + " still holds " + std::to_string(r.calls) +
             " call(s); remove it once it is empty";
    case Problem::MediaChangeWithCalls:
      return "queue " + d.queues[r.index].name + " changes media but holds " +
             std::to_string(r.calls) + " call(s)";
    case Problem::PoolSizeChanged:
      return "max_calls differs (that needs a restart)";
    default:
      return "the new configuration does not extend the running one";
  }
}

// Applies a validated, merged configuration: parameters in place, or a new engine that takes over.
json apply_reload(ControlContext& ctx, const ConfigDiff& d, ApplianceConfig merged) {
  ctx.staged.push_back(std::move(merged));
  ApplianceConfig& next = ctx.staged.back();
  dataplane::ControlRequest r;
  r.config_tag = &next;
  dataplane::ControlReply reply;
  std::unique_ptr<dataplane::EngineSwap> swap;
  if (d.structural()) {
    // Built here, off the routing core: the allocation and indexing of a whole engine.
    swap = std::make_unique<dataplane::EngineSwap>();
    swap->engine = std::make_unique<router::Engine>(next.domain);
    for (const router::AgentConfig& a : next.domain.agents) {
      swap->agent_numbers.push_back(a.retired ? 0 : a.number);
    }
    r.command = dataplane::SwapEngine{swap.get()};
  } else {
    r.command = dataplane::Reconfigure{&next.domain};
  }
  if (json failed = submit_and_wait(ctx, r, reply); !failed.is_null()) {
    if (swap != nullptr) {
      ctx.abandoned.push_back(std::move(swap));  // the routing core may still take it
    }
    return failed;
  }
  std::string refused;
  if (swap != nullptr && !swap->result.ok()) {
    refused = refusal_text(next, swap->result);
  } else if (reply.result == dataplane::CommandResult::Overloaded) {
    ctx.staged.pop_back();
    return fail("the dataplane is not taking commands right now; try again",
                ControlError::TryAgain);
  } else if (reply.result != dataplane::CommandResult::Done) {
    refused = std::string(dataplane::describe(reply.result));
  }
  // `swap` (if any) now owns the engine that ran until now, or the unused new one if refused:
  // freed here, on the control thread, when it goes out of scope.
  if (!refused.empty()) {
    ctx.staged.pop_back();
    return fail("reload refused: " + refused + "; the running configuration is unchanged",
                ControlError::Refused);
  }
  ctx.config = &next;
  ++ctx.config_version;
  await_snapshot(*ctx.board,
                 [&next](const SnapshotBoard& b) { return b.published_config() == &next; });
  std::vector<std::string> all = d.structure;
  all.insert(all.end(), d.changes.begin(), d.changes.end());
  return ok(json{{"done", "reloaded: " + std::to_string(all.size()) + " change(s)"},
                 {"changes", all},
                 {"notes", d.notes}});
}

json route_command(ControlContext& ctx, const json& request) {
  if (request.value("action", std::string()) != "test") {
    return fail("route takes test", ControlError::Usage);
  }
  return route_test(ctx, request);
}

json config_command(ControlContext& ctx, const json& request, bool may_change) {
  const std::string action = request.value("action", std::string());
  if (request.contains("file") && !may_change) {
    // acdd runs as its own user (or root): it must not read files for callers who could not.
    return fail(
        "permission denied: naming a file needs root or the acd group ('acdctl config validate "
        "FILE' checks a file as you)",
        ControlError::PermissionDenied);
  }
  const std::string file = request.value("file", ctx.config_path);
  const ConfigResult loaded = file.empty()
                                  ? parse_config(embedded_default_config(), "<embedded default>")
                                  : load_config(file);
  if (!loaded.ok()) {
    std::string all;
    for (const std::string& e : loaded.errors) {
      all += (all.empty() ? "" : "\n") + e;
    }
    return fail(all + "\nthe running configuration is unchanged", ControlError::Refused);
  }
  if (action == "validate") {
    return ok(json{{"valid", true}});
  }
  const ConfigDiff d = diff_configs(*ctx.config, loaded.config);
  if (action == "diff" || (action == "reload" && request.value("dry_run", false))) {
    return ok(json{{"file", file.empty() ? std::string("<embedded default>") : file},
                   {"changes", d.changes},
                   {"structure", d.structure},
                   {"needs_restart", d.needs_restart},
                   {"notes", d.notes}});
  }
  if (action != "reload") {
    return fail("config takes validate, diff or reload", ControlError::Usage);
  }
  if (!may_change) {
    return fail("permission denied: reloading needs root or the acd group",
                ControlError::PermissionDenied);
  }
  if (!d.needs_restart.empty()) {
    std::string what;
    for (const std::string& w : d.needs_restart) {
      what += (what.empty() ? "" : ", ") + w;
    }
    return fail("these changes need a restart of acdd: " + what +
                    "; the running configuration is unchanged",
                ControlError::Refused);
  }
  if (d.empty()) {
    return ok(json{{"done", "no changes"}});
  }
  ApplianceConfig merged = merge_for_reload(*ctx.config, loaded.config);
  if (const auto problems = router::validate_config(merged.domain); !problems.empty()) {
    return fail("the merged configuration is not valid (" + problems.front() +
                    "); the running configuration is unchanged",
                ControlError::Refused);
  }
  return apply_reload(ctx, d, std::move(merged));
}

json execute_request(ControlContext& ctx, const json& request, bool may_change) {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return fail("a request is a JSON object with \"cmd\"", ControlError::Usage);
  }
  const std::string cmd = request["cmd"];
  const std::string action = request.value("action", std::string("list"));
  if (ctx.board == nullptr || !ctx.board->ready()) {
    return fail("the routing core has not published its state yet; try again",
                ControlError::TryAgain);
  }
  const ApplianceConfig& cfg = *ctx.config;  // the latest: for commands
  if (cmd == "config" || cmd == "route") {
    return cmd == "config" ? config_command(ctx, request, may_change) : route_command(ctx, request);
  }
  // Read commands: the snapshot, named by the configuration it was taken under.
  const Snapshot s = ctx.board->read();
  const ApplianceConfig& names = *s.config;
  auto shown_agent = [&](std::size_t a) {
    return a >= names.domain.agents.size() || !names.domain.agents[a].retired;
  };
  auto shown_queue = [&](std::size_t q) {
    return q >= names.domain.queues.size() || !names.domain.queues[q].retired;
  };
  if (cmd == "status") {
    json j{{"role", ctx.role},
           {"site", cfg.site},
           {"uptime_s", static_cast<double>(steady_ns() - ctx.started_ns) / 1e9},
           {"agents", std::count_if(names.domain.agents.begin(), names.domain.agents.end(),
                                    [](const router::AgentConfig& a) { return !a.retired; })},
           {"queues", std::count_if(names.domain.queues.begin(), names.domain.queues.end(),
                                    [](const router::QueueConfig& q) { return !q.retired; })},
           {"calls_in_engine", s.calls_in_engine},
           {"engine_events", s.counters.events},
           {"engine_refused", s.counters.refused_total()},
           {"engine_faults", s.counters.offer_violations},
           {"listen", ctx.listening.empty() ? cfg.dataplane.listen : ctx.listening},
           {"backend", ctx.backend.empty() ? cfg.dataplane.backend : ctx.backend},
           {"cores", cfg.dataplane.cores},
           {"config",
            {{"version", ctx.config_version},
             {"source", ctx.config_path.empty() ? "<embedded default>" : ctx.config_path}}}};
    const auto rates = ctx.rates.per_second();
    j["rates"] = {{"messages_per_s", rates[0]},
                  {"decisions_per_s", rates[1]},
                  {"engine_events_per_s", rates[2]}};
    json by_state = json::object();
    for (std::size_t i = 0; i < s.agents.size(); ++i) {
      if (shown_agent(i)) {
        const std::string state = state_name(s.agents[i].view.state);
        by_state[state] = by_state.value(state, 0) + 1;
      }
    }
    j["agents_by_state"] = by_state;
    json refused = json::object();  // by reason: only the reasons seen
    for (std::size_t st = 1; st < router::kStatusCount; ++st) {
      if (s.counters.refused[st] != 0) {
        refused[std::string(router::to_string(static_cast<router::Status>(st)))] =
            s.counters.refused[st];
      }
    }
    j["engine_refused_by_reason"] = refused;
    if (ctx.counters != nullptr) {
      json counters = json::object();
      for (std::size_t i = 0; i < dataplane::kCounterCount; ++i) {
        const auto c = static_cast<dataplane::Counter>(i);
        counters[std::string(dataplane::counter_name(c))] = ctx.counters->read(c);
      }
      j["dataplane"] = counters;
    }
    return ok(j);
  }
  if (cmd == "agents") {
    if (action == "list") {
      json list = json::array();
      for (std::size_t a = 0; a < s.agents.size(); ++a) {
        if (shown_agent(a)) {
          list.push_back(agent_json(s.agents[a], s.engine_time));
        }
      }
      return ok(list);
    }
    if (!request.contains("id") || !request["id"].is_number_unsigned()) {
      return fail("agents " + action + " needs an agent ID", ControlError::Usage);
    }
    const auto id = request["id"].get<router::AgentNumber>();
    const router::AgentIndex a = agent_index(cfg, id);
    if (a == router::kNone) {
      return fail("no agent has ID " + std::to_string(id), ControlError::Refused);
    }
    if (action == "show") {
      if (a >= s.agents.size()) {
        return fail("agent " + std::to_string(id) + " was just added; try again",
                    ControlError::TryAgain);
      }
      json j = agent_json(s.agents[a], s.engine_time);
      j["today"] = agent_stats_json(s.agents[a]);
      return ok(j);
    }
    if (action == "ready" || action == "logout") {
      if (!may_change) {
        return fail("permission denied: changing agents needs root or the acd group",
                    ControlError::PermissionDenied);
      }
      router::Event e;
      e.type = action == "ready" ? router::EventType::ForceReady : router::EventType::ForceLogout;
      e.agent = a;
      return change(
          ctx, e,
          "agent " + std::to_string(id) + (action == "ready" ? " is ready" : " is signed out"));
    }
    return fail("agents takes list, show ID, ready ID or logout ID", ControlError::Usage);
  }
  if (cmd == "queues") {
    if (action == "list") {
      json list = json::array();
      for (std::size_t q = 0; q < s.queues.size(); ++q) {
        if (shown_queue(q)) {
          list.push_back(queue_json(names, q, s.queues[q]));
        }
      }
      return ok(list);
    }
    if (action == "show") {
      const router::QueueIndex q = queue_index(names, request.value("id", json()));
      if (q == router::kNone || q >= s.queues.size()) {
        return fail("no such queue; give its name or index", ControlError::Refused);
      }
      return ok(queue_json(names, q, s.queues[q]));
    }
    return fail("queues takes list or show NAME", ControlError::Usage);
  }
  if (cmd == "calls") {
    json list = json::array();
    for (const CallRow& c : s.calls) {
      json j{{"id", c.id},
             {"state", call_state_name(c.view.state)},
             {"queue", c.view.queue < names.domain.queues.size()
                           ? json(names.domain.queues[c.view.queue].name)
                           : json(nullptr)},
             {"priority", c.view.priority},
             {"media", std::string(router::to_string(c.view.media))},
             {"in_state_s", seconds_between(c.view.state_since, s.engine_time)},
             {"total_s", seconds_between(c.view.arrived, s.engine_time)},
             {"outbound", c.view.outbound}};
      if (c.view.agent != router::kNone && c.view.agent < s.agents.size()) {
        j["agent"] = s.agents[c.view.agent].number;
      }
      if (action == "show" && request.value("id", std::uint64_t{0}) == c.id) {
        return ok(j);
      }
      if (action == "list") {
        list.push_back(std::move(j));
      }
    }
    if (action == "show") {
      return fail("no such call in the engine", ControlError::Refused);
    }
    return ok(list);
  }
  if (cmd == "stats") {
    const std::string what = request.value("what", std::string("queues"));
    json list = json::array();
    if (what == "agents") {
      for (std::size_t a = 0; a < s.agents.size(); ++a) {
        if (shown_agent(a)) {
          list.push_back(agent_stats_json(s.agents[a]));
        }
      }
    } else if (what == "queues") {
      for (std::size_t q = 0; q < s.queues.size(); ++q) {
        if (shown_queue(q)) {
          list.push_back(queue_json(names, q, s.queues[q]));
        }
      }
    } else {
      return fail("stats takes agents or queues", ControlError::Usage);
    }
    return ok(list);
  }
  return fail(
      "unknown command '" + cmd + "'; try status, agents, queues, calls, stats, route or config",
      ControlError::Usage);
}

}  // namespace

nlohmann::json execute(ControlContext& ctx, const nlohmann::json& request, bool may_change) {
  // A field of the wrong type (any local user may send requests) is a usage error, never a crash.
  try {
    return execute_request(ctx, request, may_change);
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("a field of the request has the wrong type (") + e.what() + ")",
                ControlError::Usage);
  }
}

ControlServer::~ControlServer() {
  stop();
}

std::string ControlServer::start(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return path + ": socket path too long";
  }
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return std::string("socket: ") + std::strerror(errno);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (const auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    mkdir(path.substr(0, slash).c_str(),
          0755);  // /run/acd when not made by systemd; fine if it exists
  }
  unlink(path.c_str());  // a stale socket from a previous run
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 16) != 0) {
    const std::string error =
        path + ": " + std::strerror(errno) + "; check that its directory exists";
    close(fd_);
    fd_ = -1;
    return error;
  }
  // Everyone may connect (read-only for most); the group may change things.
  chmod(path.c_str(), 0666);
  path_ = path;
  thread_ = std::thread([this] { run(); });
  return {};
}

void ControlServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
    unlink(path_.c_str());
  }
}

void ControlServer::sample_rates() {
  const double now_s = static_cast<double>(steady_ns()) / 1e9;
  if (now_s - last_sample_s_ < 1.0 || ctx_.board == nullptr || !ctx_.board->ready()) {
    return;
  }
  last_sample_s_ = now_s;
  const Snapshot s = ctx_.board->read();
  RateMeter::Values v{0, 0, s.counters.events};
  if (ctx_.counters != nullptr) {
    v[0] = ctx_.counters->read(dataplane::Counter::rx_messages);
    v[1] = ctx_.counters->read(dataplane::Counter::decisions);
  }
  ctx_.rates.sample(now_s, v);
}

namespace {

// Root and members of the `acd` group may change things; everyone else may read.
bool may_change_as(int client, gid_t acd_gid) {
  ucred peer{};
  socklen_t len = sizeof(peer);
  if (getsockopt(client, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    return false;
  }
  if (peer.uid == 0 || (acd_gid != static_cast<gid_t>(-1) && peer.gid == acd_gid)) {
    return true;
  }
  if (acd_gid == static_cast<gid_t>(-1)) {
    return false;
  }
  const passwd* pw = getpwuid(peer.uid);
  int count = 64;
  gid_t groups[64];
  if (pw == nullptr || getgrouplist(pw->pw_name, peer.gid, groups, &count) < 0) {
    return false;
  }
  return std::find(groups, groups + count, acd_gid) != groups + count;
}

}  // namespace

// One thread, many clients: requests are read as they come (no client can hold the socket by
// connecting and staying silent: it gets 2 s), and executed one at a time, in arrival order of
// their last byte. Housekeeping (rates, local midnight, SIGHUP) runs every 100 ms whatever the
// load.
void ControlServer::run() {
  const group* acd_group = getgrnam("acd");
  const gid_t acd_gid = acd_group != nullptr ? acd_group->gr_gid : static_cast<gid_t>(-1);
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd = -1;
    bool may_change = false;
    Clock::time_point deadline;
    std::string request;
  };
  constexpr std::size_t kMaxClients = 32;
  constexpr std::size_t kMaxRequest = 65536;
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  auto last_housekeeping = Clock::now();
  while (!stop_.load()) {
    fds.assign(1, pollfd{fd_, POLLIN, 0});
    for (const Client& c : clients) {
      fds.push_back(pollfd{c.fd, POLLIN, 0});
    }
    poll(fds.data(), fds.size(), 100);
    const auto now = Clock::now();
    for (std::size_t i = 1; i < fds.size(); ++i) {
      Client& c = clients[i - 1];
      bool complete = false;
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[4096];
        ssize_t n = 0;
        while (c.request.size() <= kMaxRequest && (n = read(c.fd, buf, sizeof(buf))) > 0) {
          c.request.append(buf, static_cast<std::size_t>(n));
        }
        complete = c.request.find('\n') != std::string::npos || c.request.size() > kMaxRequest ||
                   n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      if (!complete && now < c.deadline) {
        continue;
      }
      // Answer on a blocking socket with a send timeout: a client that stops reading is dropped.
      fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) & ~O_NONBLOCK);
      timeval two_seconds{2, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof(two_seconds));
      json answer;
      if (!complete) {
        answer = fail("no complete request within 2 s", ControlError::Usage);
      } else {
        const json request = json::parse(c.request, nullptr, false);
        answer = request.is_discarded() ? fail("the request is not valid JSON", ControlError::Usage)
                                        : execute(ctx_, request, c.may_change);
      }
      write_all(c.fd, answer.dump() + "\n");
      close(c.fd);
      c.fd = -1;
    }
    clients.erase(
        std::remove_if(clients.begin(), clients.end(), [](const Client& c) { return c.fd < 0; }),
        clients.end());
    if ((fds[0].revents & POLLIN) != 0) {
      const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client >= 0 && clients.size() >= kMaxClients) {
        write_all(
            client,
            fail("too many control clients at once; try again", ControlError::TryAgain).dump() +
                "\n");
        close(client);
      } else if (client >= 0) {
        clients.push_back(
            Client{client, may_change_as(client, acd_gid), now + std::chrono::seconds(2), {}});
      }
    }
    if (now - last_housekeeping >= std::chrono::milliseconds(100)) {
      last_housekeeping = now;
      housekeeping();
    }
  }
  for (const Client& c : clients) {
    close(c.fd);
  }
}

void ControlServer::housekeeping() {
  sample_rates();
  new_day_pending_ = day_.crossed(std::time(nullptr)) || new_day_pending_;
  if (new_day_pending_) {
    router::Event e;
    e.type = router::EventType::NewDay;
    const json answer = change(ctx_, e, "a new day");
    new_day_pending_ = !answer.value("ok", false);  // retried at the next round
    std::fprintf(stderr, "acdd: local midnight: today's statistics start again%s\n",
                 new_day_pending_ ? " (the routing core is busy; retrying)" : "");
  }
  if (reload_.exchange(false)) {
    const json answer = execute(ctx_, json{{"cmd", "config"}, {"action", "reload"}}, true);
    std::fprintf(stderr, "acdd: SIGHUP: %s\n",
                 answer.value("ok", false) ? answer["result"].dump().c_str()
                                           : answer.value("error", std::string("failed")).c_str());
  }
}

}  // namespace acd::control
