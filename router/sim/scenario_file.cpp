// The scenario file: skills, queues, agent groups and call streams, in TOML (toml++).
#include "scenario_file.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include <toml++/toml.h>

namespace acd::sim_tool {

using namespace acd::router;

namespace {

// 'key', built without `"'" + std::string(key)`: GCC 12 reports a false -Wrestrict for that
// operator+ when inlined at -O3.
std::string quoted(std::string_view key) {
  std::string q;
  q.reserve(key.size() + 2);
  q += '\'';
  q += key;
  q += '\'';
  return q;
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  std::string error() const { return error_; }
  bool ok() const { return error_.empty(); }

  void fail(const toml::node* where, const std::string& what) {
    if (!error_.empty()) {
      return;
    }
    std::ostringstream s;
    s << path_;
    if (where != nullptr) {
      s << ":" << where->source().begin.line;
    }
    s << ": " << what;
    error_ = s.str();
  }

  // Only the listed keys are allowed in a table: a typo is an error, not a silent default.
  void only_keys(const toml::table& t, std::initializer_list<std::string_view> keys) {
    for (const auto& [key, node] : t) {
      if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
        fail(&node, "unknown key '" + std::string(key.str()) + "'");
      }
    }
  }

  double number(const toml::table& t, std::string_view key, double fallback, double lo, double hi) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return fallback;
    }
    std::optional<double> v = n->value<double>();
    if (!v) {
      fail(n, quoted(key) + " must be a number");
      return fallback;
    }
    if (*v < lo || *v > hi) {
      std::ostringstream s;
      s << "'" << key << "' must be between " << lo << " and " << hi;
      fail(n, s.str());
    }
    return *v;
  }

  std::string text(const toml::table& t, std::string_view key, const std::string& fallback) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return fallback;
    }
    std::optional<std::string> v = n->value<std::string>();
    if (!v) {
      fail(n, quoted(key) + " must be a string");
      return fallback;
    }
    return *v;
  }

  const std::string path_;
  std::string error_;
};

}  // namespace

std::string load_scenario(const std::string& path, sim::Scenario& out) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << path << ":" << e.source().begin.line << ": " << e.description();
    return s.str();
  }
  Reader r(path);
  r.only_keys(root, {"simulation", "skills", "queue", "agents", "stream"});

  if (const toml::table* sim = root["simulation"].as_table()) {
    r.only_keys(*sim, {"duration_s", "warmup_s", "seed", "sl_threshold_s", "wrap_up_s"});
    out.duration_s = r.number(*sim, "duration_s", out.duration_s, 1, 1e9);
    out.warmup_s = r.number(*sim, "warmup_s", out.warmup_s, 0, out.duration_s);
    out.seed = static_cast<std::uint64_t>(r.number(*sim, "seed", 1, 0, 9e15));
    out.sl_threshold_s = r.number(*sim, "sl_threshold_s", out.sl_threshold_s, 0, 1e6);
    out.wrap_up_s = r.number(*sim, "wrap_up_s", 0, 0, 1e5);
  }

  std::map<std::string, SkillId> skills;
  const toml::array* skill_list = root["skills"].as_array();
  if (skill_list == nullptr) {
    r.fail(nullptr, "'skills' (a list of skill names) is missing");
    return r.error();
  }
  for (const toml::node& n : *skill_list) {
    std::optional<std::string> name = n.value<std::string>();
    if (!name || !skills.emplace(*name, static_cast<SkillId>(skills.size())).second) {
      r.fail(&n, "each skill must be a distinct name");
    }
  }
  out.engine = EngineConfig{};
  out.engine.skill_count = static_cast<std::uint32_t>(std::max<std::size_t>(skills.size(), 1));

  auto skill_of = [&](const toml::node* where, const std::string& name) -> SkillId {
    auto it = skills.find(name);
    if (it == skills.end()) {
      r.fail(where, "skill '" + name + "' is not in 'skills'");
      return 0;
    }
    return it->second;
  };
  // Skill requirements: { name = minimum proficiency, ... }
  auto requirements = [&](const toml::table& t, std::string_view key) {
    std::vector<SkillRequirement> reqs;
    if (const toml::table* req = t[key].as_table()) {
      for (const auto& [name, level] : *req) {
        const double v = level.value<double>().value_or(-1);
        if (v < 1 || v > 10) {
          r.fail(&level, "proficiency of '" + std::string(name.str()) + "' must be 1..10");
        }
        reqs.push_back(SkillRequirement{skill_of(&level, std::string(name.str())),
                                        static_cast<std::uint8_t>(v), 0});
      }
    } else if (t.get(key) != nullptr) {
      r.fail(t.get(key), quoted(key) + " must be a table of skill = proficiency");
    }
    return reqs;
  };

  std::map<std::string, QueueIndex> queues;
  if (const toml::array* list = root["queue"].as_array()) {
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        r.fail(&n, "[[queue]] must be a table");
        continue;
      }
      r.only_keys(*t, {"name", "skills", "policy", "media", "sl_threshold_s", "wrap_up_s",
                       "max_wait_s", "max_wait_action", "priority_aging_s", "ring_timeout_s"});
      QueueConfig q;
      q.name = r.text(*t, "name", "");
      if (q.name.empty() ||
          !queues.emplace(q.name, static_cast<QueueIndex>(queues.size())).second) {
        r.fail(&n, "each queue needs a distinct 'name'");
      }
      q.skills = requirements(*t, "skills");
      const std::string policy = r.text(*t, "policy", "longest_idle");
      bool known = false;
      for (int p = 0; p <= static_cast<int>(Policy::LeastTalkTime); ++p) {
        if (to_string(static_cast<Policy>(p)) == policy) {
          q.policy = static_cast<Policy>(p);
          known = true;
        }
      }
      if (!known) {
        r.fail(t->get("policy"),
               "policy must be longest_idle, most_skilled, round_robin, "
               "fewest_calls or least_talk_time");
      }
      const std::string media = r.text(*t, "media", "voice");
      known = false;
      for (int m = 0; m < kMediaCount; ++m) {
        if (to_string(static_cast<Media>(m)) == media) {
          q.media = static_cast<Media>(m);
          known = true;
        }
      }
      if (!known) {
        r.fail(t->get("media"), "media must be voice, chat, email or sms");
      }
      q.sl_threshold_ms = static_cast<std::uint32_t>(
          r.number(*t, "sl_threshold_s", out.sl_threshold_s, 0.001, 1e6) * 1000);
      q.ring_timeout_ms =
          static_cast<std::uint32_t>(r.number(*t, "ring_timeout_s", 20, 0.001, 1e6) * 1000);
      q.priority_aging_ms =
          static_cast<std::uint32_t>(r.number(*t, "priority_aging_s", 60, 0, 1e6) * 1000);
      q.max_wait_ms = static_cast<std::uint32_t>(r.number(*t, "max_wait_s", 0, 0, 1e6) * 1000);
      const std::string action = r.text(*t, "max_wait_action", "busy");
      known = false;
      for (int a = 1; a <= static_cast<int>(OverflowAction::Busy); ++a) {
        if (to_string(static_cast<OverflowAction>(a)) == action) {
          q.max_wait_action = static_cast<OverflowAction>(a);
          known = true;
        }
      }
      if (!known) {
        r.fail(t->get("max_wait_action"), "max_wait_action must be site, ivr, callback or busy");
      }
      const double wrap = r.number(*t, "wrap_up_s", out.wrap_up_s, 0, 1e5);
      q.wrap_up_ms = wrap > 0 ? static_cast<std::uint32_t>(wrap * 1000) + 3'600'000 : 0;
      out.engine.queues.push_back(q);
    }
  }

  if (const toml::array* list = root["agents"].as_array()) {
    AgentNumber next_number = 1000;
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        r.fail(&n, "[[agents]] must be a table");
        continue;
      }
      r.only_keys(*t, {"count", "skills", "chat_capacity"});
      const int count = static_cast<int>(r.number(*t, "count", 1, 1, 2'000'000));
      const int chats = static_cast<int>(r.number(*t, "chat_capacity", 0, 0, 16));
      std::vector<SkillLevel> levels;
      for (const SkillRequirement& req : requirements(*t, "skills")) {
        levels.push_back(SkillLevel{req.skill, req.min_level, 0});
      }
      for (int i = 0; i < count; ++i) {
        AgentConfig a;
        a.number = next_number++;
        a.skills = levels;
        a.capacity[static_cast<int>(Media::Chat)] = static_cast<std::uint8_t>(chats);
        out.engine.agents.push_back(a);
      }
    }
  }

  out.streams.clear();
  double load = 0;
  if (const toml::array* list = root["stream"].as_array()) {
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        r.fail(&n, "[[stream]] must be a table");
        continue;
      }
      r.only_keys(*t, {"queue", "rate_per_s", "aht_s", "handle_dist", "handle_cv", "patience_s",
                       "priority", "tier", "language", "skills"});
      sim::CallStream s;
      const std::string queue = r.text(*t, "queue", "");
      auto it = queues.find(queue);
      if (it == queues.end()) {
        r.fail(&n, "stream queue '" + queue + "' is not a [[queue]] name");
      } else {
        s.queue = it->second;
      }
      s.arrival_rate_per_s = r.number(*t, "rate_per_s", 1, 0, 1e6);
      s.aht_s = r.number(*t, "aht_s", 180, 0.001, 1e6);
      const std::string dist = r.text(*t, "handle_dist", "exp");
      if (dist == "exp") {
        s.handle_dist = sim::HandleDist::Exponential;
      } else if (dist == "lognormal") {
        s.handle_dist = sim::HandleDist::Lognormal;
      } else if (dist == "const") {
        s.handle_dist = sim::HandleDist::Constant;
      } else {
        r.fail(t->get("handle_dist"), "handle_dist must be exp, lognormal or const");
      }
      s.handle_cv = r.number(*t, "handle_cv", 1.0, 0.01, 10);
      s.patience_s = r.number(*t, "patience_s", 0, 0, 1e6);
      s.priority = static_cast<std::uint8_t>(r.number(*t, "priority", 0, 0, kPriorityLevels - 1));
      s.tier = static_cast<std::uint8_t>(r.number(*t, "tier", 0, 0, kTierCount - 1));
      const std::string language = r.text(*t, "language", "");
      if (!language.empty()) {
        s.language = skill_of(t->get("language"), language);
      }
      s.skills = requirements(*t, "skills");
      if (s.skills.size() > kMaxCallSkills) {
        r.fail(t->get("skills"), "a stream may require at most 4 extra skills");
      }
      load += s.arrival_rate_per_s * (s.aht_s + out.wrap_up_s);
      out.streams.push_back(s);
    }
  }
  if (!r.ok()) {
    return r.error();
  }
  if (out.streams.empty()) {
    return path + ": at least one [[stream]] is needed";
  }
  double rate = 0;
  for (const auto& s : out.streams) {
    rate += s.arrival_rate_per_s;
  }
  out.engine.max_calls =
      static_cast<std::uint32_t>(std::min(1e7, std::max(1024.0, 4 * load + rate * 3600)));
  std::vector<std::string> problems = validate_config(out.engine);
  if (!problems.empty()) {
    return path + ": " + problems.front();
  }
  return {};
}

}  // namespace acd::sim_tool
