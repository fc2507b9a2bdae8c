// The JSON views of a snapshot: agents, agent statistics, queues, calls and status.
#include "views.hpp"

#include <algorithm>
#include <string>

#include "acd/control/ha_node.hpp"
#include "acd/control/keys.hpp"

namespace acd::control {

namespace {

using nlohmann::json;

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

// Whether row `a` (or `q`) of a snapshot is shown: not retired by the configuration it names.
bool shown_agent(const Snapshot& s, std::size_t a) {
  const auto& agents = s.config->domain.agents;
  return a >= agents.size() || !agents[a].retired;
}
bool shown_queue(const Snapshot& s, std::size_t q) {
  const auto& queues = s.config->domain.queues;
  return q >= queues.size() || !queues[q].retired;
}

// The shown agents of `s`, each as `view` gives it.
template <typename View>
json shown_agents_as(const Snapshot& s, View view) {
  json list = json::array();
  for (std::size_t a = 0; a < s.agents.size(); ++a) {
    if (shown_agent(s, a)) {
      list.push_back(view(s.agents[a]));
    }
  }
  return list;
}

}  // namespace

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

json call_json(const Snapshot& s, const CallRow& c) {
  const ApplianceConfig& names = *s.config;
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
  return j;
}

json agent_list_json(const Snapshot& s) {
  return shown_agents_as(s, [&s](const AgentRow& a) { return agent_json(a, s.engine_time); });
}

json agent_stats_list_json(const Snapshot& s) {
  return shown_agents_as(s, agent_stats_json);
}

json queue_list_json(const Snapshot& s) {
  json list = json::array();
  for (std::size_t q = 0; q < s.queues.size(); ++q) {
    if (shown_queue(s, q)) {
      list.push_back(queue_json(*s.config, q, s.queues[q]));
    }
  }
  return list;
}

json call_list_json(const Snapshot& s) {
  json list = json::array();
  for (const CallRow& c : s.calls) {
    list.push_back(call_json(s, c));
  }
  return list;
}

json status_json(const ControlContext& ctx, const Snapshot& s, std::uint64_t now_ns) {
  const ApplianceConfig& cfg = *ctx.config;  // the running configuration
  const ApplianceConfig& names = *s.config;  // the one the snapshot was taken under
  // A member of a pair says its role in it (primary, standby, ...); a single node is "active".
  const HaRole ha_role = ctx.ha != nullptr ? ctx.ha->role.load() : HaRole::Single;
  json j{{"role", ha_role == HaRole::Single ? ctx.role : std::string(to_string(ha_role))},
         {"site", cfg.site},
         {"uptime_s", static_cast<double>(now_ns - ctx.started_ns) / 1e9},
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
    if (shown_agent(s, i)) {
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
  return j;
}

nlohmann::json client_list_json(const ApplianceConfig& cfg) {
  nlohmann::json list = nlohmann::json::array();
  for (const ClientEntry& c : cfg.clients) {
    nlohmann::json networks = nlohmann::json::array();
    for (const Ipv4Network& n : c.networks) {
      networks.push_back(to_string(n));
    }
    list.push_back({{"name", c.name},
                    {"role", client_role_name(c.role)},
                    {"public_key", key_to_base64(c.public_key)},
                    {"networks", networks}});
  }
  return list;
}

}  // namespace acd::control
