// Surge mode and emergency diversion from the control socket: status from the snapshot, changes
// as engine inputs through the sequencer.
#include "surge_commands.hpp"

#include <cstdint>

#include "engine_commands.hpp"
#include "names.hpp"

namespace acd::control {

using nlohmann::json;

json surge_cause_json(std::uint16_t cause) {
  json out = json::array();
  const std::pair<std::uint16_t, const char*> bits[] = {{router::kSurgeByRate, "offered_per_min"},
                                                        {router::kSurgeByLength, "queue_length"},
                                                        {router::kSurgeByOldest, "oldest_wait"},
                                                        {router::kSurgeByEwt, "ewt"},
                                                        {router::kSurgeByForce, "forced"}};
  for (const auto& [bit, name] : bits) {
    if ((cause & bit) != 0) {
      out.push_back(name);
    }
  }
  return out;
}

namespace {

json ewt_json(std::uint32_t ewt_ms) {
  return ewt_ms == router::kUnknownEwt ? json(nullptr) : json(ewt_ms / 1000.0);
}

// In surge: whether the exit levels hold now (on thresholds), since when and for how long, and
// how much of the exit hold and of the minimum dwell remains (the queue leaves at the first
// evaluation after both are 0). Null when the queue is not in surge.
json surge_exit_json(const router::QueueView& v, router::Micros now) {
  if (!v.surge) {
    return nullptr;
  }
  auto seconds = [](router::Micros us) { return static_cast<double>(us) / 1e6; };
  auto left = [&](router::Micros from, std::uint32_t ms) {
    const router::Micros need = static_cast<router::Micros>(ms) * 1000;
    const router::Micros gone = now > from ? now - from : 0;
    return seconds(gone >= need ? 0 : need - gone);
  };
  json out{{"holding", v.surge_exit_holding},
           {"hold_s", seconds(static_cast<router::Micros>(v.surge_exit_hold_ms) * 1000)},
           {"dwell_left_s", left(v.surge_since, v.surge_min_dwell_ms)}};
  if (v.surge_exit_holding) {
    out["held_s"] = seconds(now > v.surge_exit_since ? now - v.surge_exit_since : 0);
    out["hold_left_s"] = left(v.surge_exit_since, v.surge_exit_hold_ms);
  } else {
    out["held_s"] = nullptr;
    out["hold_left_s"] = nullptr;
  }
  return out;
}

// Every queue with a surge plan (or the one asked for), as the snapshot shows it.
Result<json> surge_status(ControlContext& ctx, const json& request) {
  const Snapshot s = ctx.board->read();
  if (s.config == nullptr) {
    return Failure{ControlError::TryAgain, "acdd has not published its state yet; try again"};
  }
  const ApplianceConfig& cfg = *s.config;
  router::QueueIndex only = router::kNone;
  if (request.contains("queue")) {
    only = queue_index(cfg, request["queue"]);
    if (only == router::kNone) {
      return Failure{ControlError::Refused, "no such queue; give its name or index"};
    }
  }
  json queues = json::array();
  for (router::QueueIndex q = 0; q < s.queues.size() && q < cfg.domain.queues.size(); ++q) {
    const router::QueueConfig& qc = cfg.domain.queues[q];
    if (qc.retired || (only != router::kNone && q != only) ||
        (only == router::kNone && !router::has_surge_plan(qc))) {
      continue;
    }
    const QueueRow& row = s.queues[q];
    const router::QueueView& v = row.view;
    queues.push_back(json{
        {"queue", qc.name},
        {"plan", router::has_surge_plan(qc)},
        {"reserved", qc.reserved},
        {"surge", v.surge},
        {"force", std::string(router::to_string(v.surge_force))},
        {"since_s", v.surge_since > s.engine_time ? 0.0
                                                  : static_cast<double>(s.engine_time - v.surge_since) / 1e6},
        {"cause", v.surge ? surge_cause_json(v.surge_cause) : json::array()},
        {"offered_last_min", v.offered_last_min},
        {"waiting", v.waiting},
        {"oldest_wait_s", static_cast<double>(v.oldest_wait) / 1e6},
        {"ewt_s", ewt_json(v.ewt_ms)},
        {"entries", row.surge.entries},
        {"borrowed", row.surge.borrowed},
        {"overflowed", row.surge.surge_overflows},
        {"callbacks", row.surge.callbacks},
        {"diverted", row.surge.diverted},
        {"exit_hold", surge_exit_json(v, s.engine_time)},
    });
  }
  return json{{"site_force", std::string(router::to_string(s.site_surge_force))},
              {"queues", std::move(queues)}};
}

}  // namespace

Result<json> surge_command(ControlContext& ctx, const json& request, const std::string& action) {
  if (action == "status" || action == "list") {
    return surge_status(ctx, request);
  }
  router::SurgeForce force = router::SurgeForce::Auto;
  if (action == "enter") {
    force = router::SurgeForce::On;
  } else if (action == "exit") {
    force = router::SurgeForce::Off;
  } else if (action != "auto") {
    return Failure{ControlError::Usage, "surge takes status, enter, exit or auto [--queue Q]"};
  }
  router::Event e;
  e.type = router::EventType::SurgeControl;
  e.reason = static_cast<std::uint16_t>(force);
  std::string what = "the site";
  if (request.contains("queue")) {
    e.queue = queue_index(*ctx.config, request["queue"]);
    if (e.queue == router::kNone) {
      return Failure{ControlError::Refused, "no such queue; give its name or index"};
    }
    what = "queue " + ctx.config->domain.queues[e.queue].name;
    if (!router::has_surge_plan(ctx.config->domain.queues[e.queue])) {
      return Failure{ControlError::Refused,
                     what + " has no surge plan; give it a [queue.surge] table in acd.toml"};
    }
  }
  const std::string done = force == router::SurgeForce::On    ? what + ": surge forced on"
                           : force == router::SurgeForce::Off ? what + ": surge forced off"
                                                              : what + ": surge by thresholds";
  return change(ctx, e, done);
}

Result<json> service_command(ControlContext& ctx, const json& request, const std::string& action) {
  const ApplianceConfig& cfg = *ctx.config;
  if (action == "status" || action == "list") {
    const Snapshot s = ctx.board->read();
    json out = json::array();
    for (std::size_t i = 0; i < cfg.domain.services.size(); ++i) {
      const router::ServiceConfig& sc = cfg.domain.services[i];
      json queues = json::array();
      for (const router::QueueConfig& q : cfg.domain.queues) {
        for (const std::uint32_t d : q.services) {
          if (d == i && !q.retired) {
            queues.push_back(q.name);
          }
        }
      }
      json target = sc.target;
      if (sc.action == router::OverflowAction::ToQueue && sc.target < cfg.domain.queues.size()) {
        target = cfg.domain.queues[sc.target].name;
      } else if (sc.action == router::OverflowAction::ToSite && sc.target < cfg.sites.size()) {
        target = cfg.sites[sc.target];
      }
      out.push_back(json{{"service", sc.name},
                         {"down", i < 64 && ((s.services_down >> i) & 1u) != 0},
                         {"action", std::string(router::to_string(sc.action))},
                         {"target", target},
                         {"queues", queues}});
    }
    return out;
  }
  if (action != "down" && action != "up") {
    return Failure{ControlError::Usage, "service takes status, down NAME or up NAME"};
  }
  const std::string name = request.value("name", std::string());
  std::size_t index = cfg.domain.services.size();
  for (std::size_t i = 0; i < cfg.domain.services.size(); ++i) {
    if (cfg.domain.services[i].name == name) {
      index = i;
    }
  }
  if (index == cfg.domain.services.size()) {
    std::string known;
    for (const auto& sc : cfg.domain.services) {
      known += (known.empty() ? "" : ", ") + sc.name;
    }
    return Failure{ControlError::Refused,
                   "no service is named '" + name + "'" +
                       (known.empty() ? "; acd.toml defines no [[services]]"
                                      : "; the services are: " + known)};
  }
  router::Event e;
  e.type = router::EventType::ServiceControl;
  e.number = index;
  e.reason = action == "down" ? 1 : 0;
  return change(ctx, e,
                "service " + name + (action == "down" ? " marked down: its queues' calls are "
                                                        "diverted"
                                                      : " marked up: normal routing"));
}

}  // namespace acd::control
