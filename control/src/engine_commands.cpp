// What reaches the routing core through the sequencer: agent changes, route previews, reloads.
#include "engine_commands.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "acd/control/reload.hpp"
#include "acd/control/reload_record.hpp"
#include "acd/dataplane/input_log.hpp"
#include "names.hpp"
#include "steady_clock.hpp"

namespace acd::control {

using nlohmann::json;

// --- The round trip: request on the ControlChannel, reply, then a snapshot that shows it ---

namespace {

Failure not_taking_commands() {
  return Failure{ControlError::TryAgain,
                 "the dataplane is not taking commands right now; try again"};
}

// Sends one command through the sequencer and waits (up to 2 s) for the routing core's reply.
// On success `reply` is filled.
Result<void> submit_and_wait(ControlContext& ctx, dataplane::ControlRequest request,
                             dataplane::ControlReply& reply) {
  static std::uint64_t next_ticket = 1;  // control thread only
  request.ticket = next_ticket++;
  if (ctx.channel == nullptr || !ctx.channel->submit(request)) {
    return not_taking_commands();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    while (ctx.channel->take_reply(reply)) {
      if (reply.ticket == request.ticket) {
        return {};
      }
      // else a late answer to an earlier command that had timed out
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Failure{ControlError::TryAgain, "no answer from the routing core within 2 s"};
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

}  // namespace

// Sends an engine event and reports its result.
Result<json> change(ControlContext& ctx, router::Event event, const std::string& done) {
  dataplane::ControlRequest request;
  request.event = event;
  return send_command(ctx, request, done);
}

Result<json> send_command(ControlContext& ctx, const dataplane::ControlRequest& request,
                          const std::string& done) {
  dataplane::ControlReply reply;
  if (Result<void> sent = submit_and_wait(ctx, request, reply); !sent.ok()) {
    return sent.failure();
  }
  if (reply.result == dataplane::CommandResult::Overloaded) {
    return not_taking_commands();
  }
  if (reply.result != dataplane::CommandResult::Done) {
    return Failure{ControlError::Refused,
                   std::string(router::describe(reply.engine_status)) + " (" +
                       std::string(router::to_string(reply.engine_status)) + ")"};
  }
  if (ctx.board != nullptr) {
    await_snapshot_after(ctx, steady_ns());
  }
  return json{{"done", done}};
}

// --- route test ---

namespace {

// Where an overflow decision sends the call, by name.
std::string target_name(const ApplianceConfig& cfg, const router::Decision& d) {
  switch (d.action) {
    case router::OverflowAction::ToQueue:
      return d.target < cfg.domain.queues.size() ? cfg.domain.queues[d.target].name
                                                 : std::to_string(d.target);
    case router::OverflowAction::ToSite:
      return d.target < cfg.sites.size() ? cfg.sites[d.target] : std::to_string(d.target);
    case router::OverflowAction::ToIvr:
    case router::OverflowAction::Announcement:
      return std::to_string(d.target);
    case router::OverflowAction::CallbackKeepPlace:
      return d.target < cfg.domain.queues.size() ? cfg.domain.queues[d.target].name
                                                 : std::to_string(d.target);
    default:
      return "";
  }
}

// The route request a "route test" describes, or a usage failure.
Result<router::Event> route_test_event(const ApplianceConfig& cfg, const json& request) {
  router::Event e;
  e.type = router::EventType::RouteRequest;
  e.queue = queue_index(cfg, request.value("queue", json()));
  if (e.queue == router::kNone) {
    return Failure{ControlError::Usage,
                   "no such queue: give the name (or index) of a configured queue"};
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
    return Failure{ControlError::Usage,
                   "priority must be 0.." + std::to_string(router::kPriorityLevels - 1)};
  }
  if (!small("tier", router::kTierCount - 1, e.tier)) {
    return Failure{ControlError::Usage,
                   "tier must be 0.." + std::to_string(router::kTierCount - 1)};
  }
  if (!small("verification", 255, e.verification)) {
    return Failure{ControlError::Usage, "verification must be 0..255"};
  }
  const json call = request.value("call", json(0));
  if (!call.is_number_unsigned()) {
    return Failure{ControlError::Usage, "call must be a call ID (a positive number)"};
  }
  e.call = call.get<router::CallId>();
  if (const std::string language = request.value("language", std::string()); !language.empty()) {
    e.language = skill_by_name(cfg, language);
    if (e.language == router::kNoSkill) {
      return Failure{ControlError::Usage, "no skill is named '" + language + "'"};
    }
  }
  const json skills = request.value("skills", json::array());
  if (!skills.is_array() || skills.size() > router::kMaxCallSkills) {
    return Failure{ControlError::Usage,
                   "at most " + std::to_string(router::kMaxCallSkills) + " extra skills"};
  }
  for (const json& s : skills) {
    const router::SkillId id = skill_by_name(cfg, s.value("skill", std::string()));
    const json level = s.value("level", json(1));
    if (id == router::kNoSkill) {
      return Failure{ControlError::Usage,
                     "no skill is named '" + s.value("skill", std::string()) + "'"};
    }
    if (!level.is_number_unsigned() || level.get<std::uint64_t>() < 1 ||
        level.get<std::uint64_t>() > router::kMaxProficiency) {
      return Failure{ControlError::Usage,
                     "a skill's level must be 1.." + std::to_string(router::kMaxProficiency)};
    }
    e.skills[e.skill_count++] = {id, level.get<std::uint8_t>(), 0};
  }
  return e;
}

}  // namespace

// What the engine would do with a call now: the preview's decisions, explained.
Result<json> route_test(ControlContext& ctx, const json& request) {
  const ApplianceConfig& cfg = *ctx.config;
  Result<router::Event> event = route_test_event(cfg, request);
  if (!event.ok()) {
    return event.failure();
  }
  dataplane::ControlRequest r;
  r.event = std::move(event).value();
  r.command = dataplane::PreviewRoute{};
  dataplane::ControlReply reply;
  if (Result<void> sent = submit_and_wait(ctx, r, reply); !sent.ok()) {
    return sent.failure();
  }
  if (reply.count == 0) {
    return Failure{ControlError::Refused, "the routing core gave no answer for the preview"};
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
  return result;
}

// --- config validate, diff and reload ---

namespace {

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
Result<json> apply_reload(ControlContext& ctx, const ConfigDiff& d, ApplianceConfig merged) {
  // What the log carries, so that the standby and a journal replay install the same thing here.
  std::vector<std::uint8_t> payload =
      encode_reload(merged, d.structural() ? ReloadKind::EngineSwap : ReloadKind::InPlace);
  // A large one goes into the log in pieces (ConfigChunk records); past kMaxReloadBytes a node
  // image could no longer carry it to a standby.
  if (payload.size() > dataplane::kMaxReloadBytes) {
    return Failure{ControlError::Refused,
                   "reload refused: the configuration takes " + std::to_string(payload.size()) +
                       " bytes in the log, over its limit of " +
                       std::to_string(dataplane::kMaxReloadBytes) +
                       "; restart acdd with it instead"};
  }
  ctx.staged.push_back(std::move(merged));
  ApplianceConfig& next = ctx.staged.back();
  next.log_payload = std::move(payload);
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
  if (Result<void> sent = submit_and_wait(ctx, r, reply); !sent.ok()) {
    if (swap != nullptr) {
      ctx.abandoned.push_back(std::move(swap));  // the routing core may still take it
    }
    return sent.failure();
  }
  std::string refused;
  if (swap != nullptr && !swap->result.ok()) {
    refused = refusal_text(next, swap->result);
  } else if (reply.result == dataplane::CommandResult::Overloaded) {
    ctx.staged.pop_back();
    return not_taking_commands();
  } else if (reply.result != dataplane::CommandResult::Done) {
    refused = std::string(dataplane::describe(reply.result));
  }
  // `swap` (if any) now owns the engine that ran until now, or the unused new one if refused:
  // freed here, on the control thread, when it goes out of scope.
  if (!refused.empty()) {
    ctx.staged.pop_back();
    return Failure{ControlError::Refused,
                   "reload refused: " + refused + "; the running configuration is unchanged"};
  }
  ctx.config = &next;
  ++ctx.config_version;
  await_snapshot(*ctx.board,
                 [&next](const SnapshotBoard& b) { return b.published_config() == &next; });
  std::vector<std::string> all = d.structure;
  all.insert(all.end(), d.changes.begin(), d.changes.end());
  return json{{"done", "reloaded: " + std::to_string(all.size()) + " change(s)"},
              {"changes", all},
              {"notes", d.notes}};
}

}  // namespace

// Who may name a file or reload is decided before (commands.cpp's table of roles): acdd runs as its
// own user (or root) and must not read files for callers who could not.
Result<json> config_command(ControlContext& ctx, const json& request, const std::string& action) {
  const std::string file = request.value("file", ctx.config_path);
  const ConfigResult loaded = file.empty()
                                  ? parse_config(embedded_default_config(), "<embedded default>")
                                  : load_config(file);
  if (!loaded.ok()) {
    // The file's problems are a list (each with FILE:LINE); the command's one failure carries them
    // all, one a line.
    std::string all;
    for (const std::string& e : loaded.errors) {
      all += (all.empty() ? "" : "\n") + e;
    }
    return Failure{ControlError::Refused, all + "\nthe running configuration is unchanged"};
  }
  if (action == "validate") {
    return json{{"valid", true}};
  }
  const ConfigDiff d = diff_configs(*ctx.config, loaded.config);
  if (action == "diff" || (action == "reload" && request.value("dry_run", false))) {
    return json{{"file", file.empty() ? std::string("<embedded default>") : file},
                {"changes", d.changes},
                {"structure", d.structure},
                {"needs_restart", d.needs_restart},
                {"notes", d.notes}};
  }
  if (action != "reload") {
    return Failure{ControlError::Usage, "config takes validate, diff or reload"};
  }
  if (!d.needs_restart.empty()) {
    std::string what;
    for (const std::string& w : d.needs_restart) {
      what += (what.empty() ? "" : ", ") + w;
    }
    return Failure{ControlError::Refused, "these changes need a restart of acdd: " + what +
                                              "; the running configuration is unchanged"};
  }
  if (d.empty()) {
    return json{{"done", "no changes"}};
  }
  ApplianceConfig merged = merge_for_reload(*ctx.config, loaded.config);
  if (const auto problems = router::validate_config(merged.domain, merged.sites.size());
      !problems.empty()) {
    return Failure{ControlError::Refused, "the merged configuration is not valid (" +
                                              problems.front() +
                                              "); the running configuration is unchanged"};
  }
  return apply_reload(ctx, d, std::move(merged));
}

}  // namespace acd::control
