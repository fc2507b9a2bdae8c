// acd-sim's scenario files: the centre through acd::domain (the reader acdd uses for acd.toml),
// the simulation's own [simulation] and [[stream]] tables here, and the default streams of a
// centre without any.
#include "scenario_file.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "acd/domain/domain_file.hpp"
#include "acd/domain/toml_checker.hpp"

namespace acd::sim_tool {

namespace {

using domain::TomlChecker;
using router::sim::HandleDist;

constexpr std::pair<std::string_view, SlDefinition> kSlDefinitions[] = {
    {"offered", SlDefinition::Offered},
    {"answered_and_late_abandoned", SlDefinition::AnsweredAndLateAbandoned},
    {"excluding_short_abandons", SlDefinition::ExcludingShortAbandons}};

constexpr std::pair<std::string_view, HandleDist> kHandleDists[] = {
    {"exp", HandleDist::Exponential},
    {"lognormal", HandleDist::Lognormal},
    {"const", HandleDist::Constant}};

void read_simulation(const toml::table& t, TomlChecker& c, ScenarioFile& io) {
  router::sim::Scenario& s = io.scenario;
  if (const toml::node* old = t.get("wrap_up_s")) {
    c.error(
        old,
        "'wrap_up_s' is a queue's setting (its wrap-up time, as in acd.toml), which simulated "
        "agents use in full: set it on each [[queue]], or set after_call_work_s here for agents "
        "who finish sooner");
  }
  std::vector<std::string_view> keys{"duration_s",
                                     "warmup_s",
                                     "seed",
                                     "sl_threshold_s",
                                     "after_call_work_s",
                                     "days",
                                     "period_s",
                                     "busyness_shape",
                                     "sl_grace_s",
                                     "service_level",
                                     "report_interval_s",
                                     "staffing",
                                     "outage",
                                     "variant"};
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
  Plan& p = io.plan;
  bool planning = c.number(t, "days", p.days, 1, 100000);
  planning = c.number(t, "period_s", p.period_s, 1, 86400) || planning;
  planning = c.number(t, "busyness_shape", p.busyness_shape, 0, 1e6) || planning;
  planning = c.number(t, "sl_grace_s", p.sl_grace_s, 0, 86400) || planning;
  planning = c.choice(t, "service_level", p.sl, kSlDefinitions) || planning;
  planning = c.number(t, "report_interval_s", p.report_interval_s, 1, 86400) || planning;
  io.planning = io.planning || planning;
}

// Per-period lists: every one in the file has the same length, the number of periods.
struct Series {
  std::vector<const toml::node*> lists;  // each list given, for messages
  bool any() const { return !lists.empty(); }
};

// `key` as a number, or as a list of numbers (one per period) when `series` is not null.
bool number_or_list(const toml::table& t, std::string_view key, std::vector<double>& list,
                    double& single, double lo, double hi, TomlChecker& c, Series& series) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    return false;
  }
  const toml::array* a = n->as_array();
  if (a == nullptr) {
    return c.number(t, key, single, lo, hi);
  }
  series.lists.push_back(n);
  list.clear();
  if (a->empty()) {
    c.error(n, "'" + std::string(key) + "' is an empty list; give one value per period");
    return false;
  }
  for (const toml::node& v : *a) {
    const std::optional<double> x = v.value<double>();
    if (!x) {
      c.error(&v, "'" + std::string(key) + "' must be a list of numbers, one per period");
      return false;
    }
    if (*x < lo || *x > hi) {
      c.error(&v, "'" + std::string(key) + "' has " + domain::plain(*x) + ", out of range; use " +
                      domain::plain(lo) + " to " + domain::plain(hi));
      return false;
    }
    list.push_back(*x);
  }
  return true;
}

// The agents first_id .. first_id + count - 1 of the centre, as indices; each missing one is
// reported.
std::vector<router::AgentIndex> agent_range(const toml::table& t, const std::string& what,
                                            TomlChecker& c, const ScenarioFile& io) {
  std::vector<router::AgentIndex> out;
  std::uint32_t first = 0;
  std::uint32_t count = 1;
  if (!c.number(t, "first_id", first, 1, 4294967295.0)) {
    if (t.get("first_id") == nullptr) {
      c.error(&t, what + " needs 'first_id', the first agent's ID (and 'count', default 1)");
    }
    return out;
  }
  c.number(t, "count", count, 1, 1e6);
  std::unordered_map<router::AgentNumber, router::AgentIndex> index;
  const std::vector<router::AgentConfig>& agents = io.scenario.engine.agents;
  for (std::size_t a = 0; a < agents.size(); ++a) {
    index.emplace(agents[a].number, static_cast<router::AgentIndex>(a));
  }
  for (std::uint64_t id = first; id < static_cast<std::uint64_t>(first) + count; ++id) {
    const auto it = index.find(static_cast<router::AgentNumber>(id));
    if (it == index.end()) {
      c.error(t, "first_id",
              what + ": agent " + std::to_string(id) +
                  " is not in the centre; name agents of its [[agent]] or [[agent_group]] tables");
      return {};
    }
    out.push_back(it->second);
  }
  return out;
}

void read_staffing(const toml::table& t, TomlChecker& c, ScenarioFile& io, Series& series) {
  c.only(t, {"first_id", "count", "signed_in"}, "[[simulation.staffing]]");
  StaffingPlan sp;
  sp.agents = agent_range(t, "[[simulation.staffing]]", c, io);
  const toml::node* n = t.get("signed_in");
  if (n == nullptr) {
    c.error(
        &t,
        "[[simulation.staffing]] needs 'signed_in', how many of its agents are in, one per period");
    return;
  }
  std::vector<double> list;
  double single = 0;
  if (!number_or_list(t, "signed_in", list, single, 0, 1e6, c, series)) {
    return;
  }
  if (list.empty()) {
    c.error(n, "'signed_in' must be a list, one number of agents per period");
    return;
  }
  for (const double x : list) {
    if (x != std::floor(x) || (!sp.agents.empty() && x > static_cast<double>(sp.agents.size()))) {
      c.error(n, "'signed_in' has " + domain::plain(x) + "; use whole numbers up to 'count' (" +
                     std::to_string(sp.agents.size()) + ")");
      return;
    }
    sp.signed_in.push_back(static_cast<std::uint32_t>(x));
  }
  io.plan.staffing.push_back(std::move(sp));
}

void read_outage(const toml::table& t, TomlChecker& c, ScenarioFile& io) {
  c.only(t, {"first_id", "count", "at_s", "until_s"}, "[[simulation.outage]]");
  Outage o;
  o.agents = agent_range(t, "[[simulation.outage]]", c, io);
  if (!c.number(t, "at_s", o.at_s, 0, 1e9) && t.get("at_s") == nullptr) {
    c.error(&t,
            "[[simulation.outage]] needs 'at_s', when its agents are lost (seconds into the day)");
  }
  if (c.number(t, "until_s", o.until_s, 0, 1e9) && o.until_s <= o.at_s) {
    c.error(t, "until_s", "'until_s' must be later than 'at_s' (or left out: lost all day)");
  }
  io.plan.outages.push_back(std::move(o));
}

void read_variant(const toml::table& t, TomlChecker& c, ScenarioFile& io) {
  c.only(t, {"name", "config"}, "[[simulation.variant]]");
  ScenarioFile::Variant v;
  v.where = c.where(t);
  if (!c.text(t, "name", v.name) && t.get("name") == nullptr) {
    c.error(&t, "[[simulation.variant]] needs 'name', how the comparison calls it");
  }
  if (!c.text(t, "config", v.config) && t.get("config") == nullptr) {
    c.error(&t, "[[simulation.variant]] needs 'config', the acd.toml of the centre to run");
  }
  for (const ScenarioFile::Variant& other : io.variants) {
    if (other.name == v.name && !v.name.empty()) {
      c.error(t, "name",
              "variant '" + v.name + "' is named twice (first at " + other.where +
                  "); give each its own name");
    }
  }
  io.variants.push_back(std::move(v));
}

void read_stream(const toml::node& n, const toml::table& t, TomlChecker& c, ScenarioFile& io,
                 Series& series) {
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
  StreamPeriods periods;
  number_or_list(t, "rate_per_s", periods.rate_per_s, s.arrival_rate_per_s, 0, 1e6, c, series);
  number_or_list(t, "aht_s", periods.aht_s, s.aht_s, 0.001, 86400, c, series);
  c.choice(t, "handle_dist", s.handle_dist, kHandleDists);
  c.number(t, "handle_cv", s.handle_cv, 0.01, 10);
  number_or_list(t, "patience_s", periods.patience_s, s.patience_s, 0, 86400, c, series);
  // The first period's values stand for the stream where a single value is read.
  if (!periods.rate_per_s.empty()) {
    s.arrival_rate_per_s = periods.rate_per_s.front();
  }
  if (!periods.aht_s.empty()) {
    s.aht_s = periods.aht_s.front();
  }
  if (!periods.patience_s.empty()) {
    s.patience_s = periods.patience_s.front();
  }
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
  io.plan.streams.push_back(std::move(periods));
}

// Tables of arrays of tables: each entry of `key` to `read`.
template <typename F>
void each_table(const toml::table& root, std::string_view key, TomlChecker& c, F&& read) {
  const toml::node* n = root.get(key);
  if (n == nullptr) {
    return;
  }
  const std::string name =
      key == "stream" ? "[[stream]]" : "[[simulation." + std::string(key) + "]]";
  const toml::array* list = n->as_array();
  if (list == nullptr) {
    c.error(n, "'" + std::string(key) + "' must be " + name + " tables");
    return;
  }
  for (const toml::node& entry : *list) {
    if (const toml::table* t = entry.as_table()) {
      read(entry, *t);
    } else {
      c.error(&entry, name + " must be a table");
    }
  }
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
  Series series;
  if (root.get("stream") != nullptr) {
    io.scenario.streams.clear();
    io.plan.streams.clear();
    each_table(root, "stream", c, [&](const toml::node& n, const toml::table& t) {
      read_stream(n, t, c, io, series);
    });
  }
  // The schedule's tables live inside [simulation] ([[simulation.staffing]], ...): the top level
  // is the centre's, and acdd refuses [simulation] whole.
  static const toml::table kNone;
  const toml::node* sim_node = root.get("simulation");
  const toml::table& sim =
      sim_node != nullptr && sim_node->is_table() ? *sim_node->as_table() : kNone;
  const bool staffing = sim.get("staffing") != nullptr;
  const bool outages = sim.get("outage") != nullptr;
  const bool variants = sim.get("variant") != nullptr;
  if (staffing) {
    io.plan.staffing.clear();
  }
  if (outages) {
    io.plan.outages.clear();
  }
  if (variants) {
    io.variants.clear();
  }
  each_table(sim, "staffing", c,
             [&](const toml::node&, const toml::table& t) { read_staffing(t, c, io, series); });
  each_table(sim, "outage", c,
             [&](const toml::node&, const toml::table& t) { read_outage(t, c, io); });
  each_table(sim, "variant", c,
             [&](const toml::node&, const toml::table& t) { read_variant(t, c, io); });
  io.planning = io.planning || staffing || outages || variants || series.any();
  // Every per-period list has one value per period; the periods need their length.
  if (series.any()) {
    const std::size_t periods = series.lists.front()->as_array()->size();
    for (const toml::node* list : series.lists) {
      if (list->as_array()->size() != periods) {
        c.error(list, "this list has " + std::to_string(list->as_array()->size()) +
                          " values but the one at " + c.where(*series.lists.front()) + " has " +
                          std::to_string(periods) +
                          "; give every per-period list one value per "
                          "period");
      }
    }
    io.plan.periods = periods;
    if (io.plan.period_s <= 0) {
      c.error(series.lists.front(),
              "a list of values per period needs [simulation] period_s, the length of a period");
    } else if (!io.has_duration) {
      io.scenario.duration_s = io.plan.period_s * static_cast<double>(periods);
      io.has_duration = true;
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
  io.plan.streams.clear();
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

std::vector<std::string> read_simulation_of(const std::string& text, const std::string& source,
                                            ScenarioFile& io) {
  std::vector<std::string> problems;
  const std::optional<toml::table> root = domain::parse_toml(text, source, problems);
  if (!root) {
    return problems;
  }
  // Everything but the centre back to its defaults, then the file's simulation tables.
  const router::sim::Scenario defaults;
  io.scenario.streams.clear();
  io.scenario.after_call_work_s = defaults.after_call_work_s;
  io.scenario.sl_threshold_s = defaults.sl_threshold_s;
  io.scenario.duration_s = defaults.duration_s;
  io.scenario.warmup_s = defaults.warmup_s;
  io.scenario.seed = defaults.seed;
  io.has_duration = false;
  io.plan = Plan{};
  io.planning = false;
  io.variants.clear();
  TomlChecker c(source, problems);
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
      staffed[q] +=
          a.capacity[static_cast<int>(centre.queues[q].media)] / static_cast<double>(served.size());
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
    const double work_s =
        scenario.after_call_work_s ? std::min(*scenario.after_call_work_s, limit_s) : limit_s;
    s.arrival_rate_per_s = traffic.arrival_rate_per_s > 0
                               ? traffic.arrival_rate_per_s
                               : traffic.occupancy * staffed[q] / (s.aht_s + work_s);
    streams.push_back(s);
  }
  return streams;
}

}  // namespace acd::sim_tool
