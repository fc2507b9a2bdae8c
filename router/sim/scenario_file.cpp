// acd-sim's scenario files: the centre through acd::domain (the reader acdd uses for acd.toml),
// the simulation's own [simulation] and [[stream]] tables here, and the default streams of a
// centre without any.
#include "scenario_file.hpp"

#include <algorithm>

#include "acd/domain/domain_file.hpp"
#include "acd/domain/toml_checker.hpp"

namespace acd::sim_tool {

namespace {

using domain::TomlChecker;
using router::sim::HandleDist;

constexpr std::pair<std::string_view, HandleDist> kHandleDists[] = {
    {"exp", HandleDist::Exponential},
    {"lognormal", HandleDist::Lognormal},
    {"const", HandleDist::Constant}};

void read_simulation(const toml::table& t, TomlChecker& c, ScenarioFile& io) {
  router::sim::Scenario& s = io.scenario;
  if (const toml::node* old = t.get("wrap_up_s")) {
    c.error(old,
            "'wrap_up_s' is a queue's setting (its wrap-up time, as in acd.toml), which simulated "
            "agents use in full: set it on each [[queue]], or set after_call_work_s here for agents "
            "who finish sooner");
  }
  std::vector<std::string_view> keys{"duration_s", "warmup_s", "seed", "sl_threshold_s",
                                     "after_call_work_s"};
  if (t.get("wrap_up_s") != nullptr) {
    keys.push_back("wrap_up_s");  // reported above
  }
  c.only(t, keys, "[simulation]");
  io.has_duration = c.number(t, "duration_s", s.duration_s, 1, 1e9) || io.has_duration;
  c.number(t, "warmup_s", s.warmup_s, 0, 1e9);
  c.number(t, "seed", s.seed, 0, 9e15);
  c.number(t, "sl_threshold_s", s.sl_threshold_s, 0.001, 86400);
  double work = 0;
  if (c.number(t, "after_call_work_s", work, 0, 86400)) {
    s.after_call_work_s = work;
  }
}

void read_stream(const toml::node& n, const toml::table& t, TomlChecker& c, ScenarioFile& io) {
  const router::EngineConfig& centre = io.scenario.engine;
  c.only(t,
         {"queue", "rate_per_s", "aht_s", "handle_dist", "handle_cv", "patience_s", "priority",
          "tier", "language", "skills"},
         "[[stream]]");
  router::sim::CallStream s;
  std::string queue;
  if (!c.text(t, "queue", queue)) {
    if (t.get("queue") == nullptr) {
      c.error(&n, "a [[stream]] needs 'queue', the name of the [[queue]] its calls arrive in");
    }
  } else {
    const auto it = std::find_if(centre.queues.begin(), centre.queues.end(),
                                 [&](const router::QueueConfig& q) { return q.name == queue; });
    if (it == centre.queues.end()) {
      c.error(t, "queue", "stream queue '" + queue + "' is not defined; name a [[queue]]");
    } else {
      s.queue = static_cast<router::QueueIndex>(it - centre.queues.begin());
      s.aht_s = it->expected_aht_ms / 1000.0;
    }
  }
  const std::string what = "stream into '" + queue + "'";
  c.number(t, "rate_per_s", s.arrival_rate_per_s, 0, 1e6);
  c.number(t, "aht_s", s.aht_s, 0.001, 86400);
  c.choice(t, "handle_dist", s.handle_dist, kHandleDists);
  c.number(t, "handle_cv", s.handle_cv, 0.01, 10);
  c.number(t, "patience_s", s.patience_s, 0, 86400);
  c.number(t, "priority", s.priority, 0, router::kPriorityLevels - 1);
  c.number(t, "tier", s.tier, 0, router::kTierCount - 1);
  std::string language;
  if (c.text(t, "language", language)) {
    s.language = domain::skill_id(io.skill_names, language);
    if (s.language == router::kNoSkill) {
      c.error(t, "language",
              what + ": language '" + language + "' is not a skill; add it to 'skills'");
    }
  }
  s.skills = domain::read_skill_levels(t, "skills", what, io.skill_names, c);
  if (s.skills.size() > router::kMaxCallSkills) {
    c.error(t, "skills", what + ": a call may require at most 4 extra skills");
  }
  io.scenario.streams.push_back(std::move(s));
}

// [simulation] and [[stream]] of `root`; the streams replace any read before.
void read_simulation_tables(const toml::table& root, TomlChecker& c, ScenarioFile& io) {
  if (const toml::node* n = root.get("simulation")) {
    if (const toml::table* t = n->as_table()) {
      read_simulation(*t, c, io);
    } else {
      c.error(n, "'simulation' must be a [simulation] table");
    }
  }
  if (const toml::node* n = root.get("stream")) {
    io.scenario.streams.clear();
    if (const toml::array* list = n->as_array()) {
      for (const toml::node& sn : *list) {
        if (const toml::table* t = sn.as_table()) {
          read_stream(sn, *t, c, io);
        } else {
          c.error(&sn, "[[stream]] must be a table");
        }
      }
    } else {
      c.error(n, "'stream' must be [[stream]] tables");
    }
  }
}

}  // namespace

std::vector<std::string> read_scenario(const std::string& text, const std::string& source,
                                       ScenarioFile& io) {
  std::vector<std::string> problems;
  const std::optional<toml::table> root = domain::parse_toml(text, source, problems);
  if (!root) {
    return problems;
  }
  TomlChecker c(source, problems);
  domain::DomainConfig d = domain::read_domain(*root, c, domain::Program::Simulator);
  io.scenario.engine = std::move(d.engine);
  io.skill_names = std::move(d.skill_names);
  io.scenario.streams.clear();
  read_simulation_tables(*root, c, io);
  return problems;
}

std::vector<std::string> read_streams(const std::string& text, const std::string& source,
                                      ScenarioFile& io) {
  std::vector<std::string> problems;
  const std::optional<toml::table> root = domain::parse_toml(text, source, problems);
  if (!root) {
    return problems;
  }
  TomlChecker c(source, problems);
  c.only(*root, {"simulation", "stream"}, "a streams file (the centre is in --config's file)");
  read_simulation_tables(*root, c, io);
  return problems;
}

std::vector<std::string> load_scenario(const std::string& path, ScenarioFile& io) {
  std::string text;
  if (std::string problem = domain::read_text_file(path, text); !problem.empty()) {
    return {std::move(problem)};
  }
  return read_scenario(text, path, io);
}

std::vector<std::string> load_streams(const std::string& path, ScenarioFile& io) {
  std::string text;
  if (std::string problem = domain::read_text_file(path, text); !problem.empty()) {
    return {std::move(problem)};
  }
  return read_streams(text, path, io);
}

std::vector<router::sim::CallStream> default_streams(const router::sim::Scenario& scenario,
                                                     const DefaultTraffic& traffic) {
  const router::EngineConfig& centre = scenario.engine;
  auto serves = [](const router::AgentConfig& a, const router::QueueConfig& q) {
    if (a.capacity[static_cast<int>(q.media)] == 0) {
      return false;
    }
    return std::all_of(q.skills.begin(), q.skills.end(), [&](const router::SkillRequirement& r) {
      return std::any_of(a.skills.begin(), a.skills.end(), [&](const router::SkillLevel& l) {
        return l.skill == r.skill && l.level >= r.min_level;
      });
    });
  };
  // Agents' capacity per queue, each agent's shared evenly among the queues it serves.
  std::vector<double> staffed(centre.queues.size(), 0.0);
  for (const router::AgentConfig& a : centre.agents) {
    std::vector<std::size_t> served;
    for (std::size_t q = 0; q < centre.queues.size(); ++q) {
      if (serves(a, centre.queues[q])) {
        served.push_back(q);
      }
    }
    for (const std::size_t q : served) {
      staffed[q] += a.capacity[static_cast<int>(centre.queues[q].media)] /
                    static_cast<double>(served.size());
    }
  }
  std::vector<router::sim::CallStream> streams;
  for (std::size_t q = 0; q < centre.queues.size(); ++q) {
    const router::QueueConfig& queue = centre.queues[q];
    router::sim::CallStream s;
    s.queue = static_cast<router::QueueIndex>(q);
    s.aht_s = traffic.aht_s > 0 ? traffic.aht_s : queue.expected_aht_ms / 1000.0;
    s.handle_dist = traffic.handle_dist;
    s.patience_s = traffic.patience_s;
    const double limit_s = queue.wrap_up_ms / 1000.0;
    const double work_s = scenario.after_call_work_s
                              ? std::min(*scenario.after_call_work_s, limit_s)
                              : limit_s;
    s.arrival_rate_per_s = traffic.arrival_rate_per_s > 0
                               ? traffic.arrival_rate_per_s
                               : traffic.occupancy * staffed[q] / (s.aht_s + work_s);
    streams.push_back(s);
  }
  return streams;
}

}  // namespace acd::sim_tool
