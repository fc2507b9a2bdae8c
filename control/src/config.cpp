// acd.toml: parsing and checking. Every problem is collected (not just the first), each with the
// file, the line and what to do about it.
#include "acd/control/config.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <sched.h>
#include <sys/un.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "acd/control/credential_store.hpp"
#include "acd/dataplane/port.hpp"

namespace acd::control {

namespace {

using router::Media;
using router::OverflowAction;
using router::OverflowCondition;
using router::Policy;

// A number as a person writes it: whole numbers in full (16777216, not 1.67772e+07).
std::string plain(double v) {
  char text[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && v > -1e18 && v < 1e18) {
    std::snprintf(text, sizeof(text), "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(text, sizeof(text), "%.6g", v);
  }
  return text;
}

class Checker {
 public:
  explicit Checker(std::string source, std::vector<std::string>& errors)
      : source_(std::move(source)), errors_(errors) {}

  void error(const toml::node* where, const std::string& what) {
    std::ostringstream s;
    s << source_;
    if (where != nullptr && where->source().begin.line > 0) {
      s << ":" << where->source().begin.line;
    }
    s << ": " << what;
    errors_.push_back(s.str());
  }
  void error(const toml::table& t, std::string_view key, const std::string& what) {
    const toml::node* n = t.get(key);
    error(n != nullptr ? n : &t, what);
  }

  // Unknown keys are errors: a typo must not silently become a default.
  void only(const toml::table& t, std::initializer_list<std::string_view> keys,
            const std::string& where) {
    for (const auto& [key, node] : t) {
      if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
        std::string known;
        for (std::string_view k : keys) {
          known += (known.empty() ? "" : ", ") + std::string(k);
        }
        error(&node, "unknown key '" + std::string(key.str()) + "' in " + where +
                         "; known keys: " + known);
      }
    }
  }

  template <typename T>
  bool number(const toml::table& t, std::string_view key, T& out, double lo, double hi,
              double scale = 1.0) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    const std::optional<double> v = n->value<double>();
    if (!v) {
      error(n, "'" + std::string(key) + "' must be a number");
      return false;
    }
    if (*v < lo || *v > hi) {
      error(n, "'" + std::string(key) + "' = " + plain(*v) + " is out of range; use " + plain(lo) +
                   " to " + plain(hi));
      return false;
    }
    out = static_cast<T>(*v * scale + (scale > 1 ? 0.5 : 0.0));
    return true;
  }

  bool text(const toml::table& t, std::string_view key, std::string& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    std::optional<std::string> v = n->value<std::string>();
    if (!v) {
      error(n, "'" + std::string(key) + "' must be a string");
      return false;
    }
    out = *v;
    return true;
  }

  template <typename E, std::size_t N>
  bool choice(const toml::table& t, std::string_view key, E& out,
              const std::pair<std::string_view, E> (&options)[N]) {
    std::string v;
    if (!text(t, key, v)) {
      return false;
    }
    for (const auto& [name, value] : options) {
      if (name == v) {
        out = value;
        return true;
      }
    }
    std::string known;
    for (const auto& [name, value] : options) {
      known += (known.empty() ? "" : ", ") + std::string(name);
    }
    error(t, key, "'" + std::string(key) + "' = \"" + v + "\" is not one of: " + known);
    return false;
  }

  const std::string& source() const { return source_; }

  // Remembers where `key` of table `t` was set, under the dotted name `name`.
  void note_origin(const toml::table& t, std::string_view key, const std::string& name,
                   std::map<std::string, std::string>& origin) const {
    if (const toml::node* n = t.get(key); n != nullptr) {
      origin[name] = source_ + ":" + std::to_string(n->source().begin.line);
    }
  }

 private:
  std::string source_;
  std::vector<std::string>& errors_;
};

constexpr std::pair<std::string_view, Policy> kPolicies[] = {
    {"longest_idle", Policy::LongestIdle},
    {"most_skilled", Policy::MostSkilled},
    {"round_robin", Policy::RoundRobin},
    {"fewest_calls", Policy::FewestCalls},
    {"least_talk_time", Policy::LeastTalkTime}};
constexpr std::pair<std::string_view, Media> kMedia[] = {
    {"voice", Media::Voice}, {"chat", Media::Chat}, {"email", Media::Email}, {"sms", Media::Sms}};
constexpr std::pair<std::string_view, OverflowAction> kActions[] = {
    {"queue", OverflowAction::ToQueue},
    {"site", OverflowAction::ToSite},
    {"ivr", OverflowAction::ToIvr},
    {"callback", OverflowAction::Callback},
    {"busy", OverflowAction::Busy}};
constexpr std::pair<std::string_view, OverflowCondition> kConditions[] = {
    {"wait", OverflowCondition::WaitAtLeast},
    {"queue_length", OverflowCondition::QueueLengthAtLeast},
    {"ewt", OverflowCondition::EwtAtLeast}};

// An overflow or max-wait target, resolved once every queue is known.
struct PendingTarget {
  std::size_t queue;
  int rule;  // index in overflow, or -1 for max wait
  OverflowAction action;
  std::string target;
  const toml::node* where;
};

void parse_dataplane(Checker& c, const toml::table& t, DataplaneSettings& d,
                     std::map<std::string, std::string>& origin) {
  for (const char* key : {"backend", "listen", "cores", "dpdk_args", "dpdk_port"}) {
    c.note_origin(t, key, std::string("dataplane.") + key, origin);
  }
  c.only(t,
         {"backend", "listen", "cores", "dpdk_args", "dpdk_port", "reply_cache_per_client",
          "max_clients"},
         "[dataplane]");
  if (c.text(t, "backend", d.backend) && d.backend != "uring" && d.backend != "dpdk") {
    c.error(t, "backend", "backend must be \"uring\" or \"dpdk\"");
  }
  if (c.text(t, "listen", d.listen)) {
    if (const std::string problem = check_endpoint(d.listen); !problem.empty()) {
      c.error(t, "listen", "dataplane.listen = \"" + d.listen + "\": " + problem);
    }
  }
  c.text(t, "dpdk_args", d.dpdk_args);
  c.number(t, "dpdk_port", d.dpdk_port, 0, 1023);
  c.number(t, "reply_cache_per_client", d.reply_cache_per_client, 16, 1 << 20);
  c.number(t, "max_clients", d.max_clients, 1, 65536);
  if (const toml::node* n = t.get("cores")) {
    const toml::array* a = n->as_array();
    if (a == nullptr || a->empty() || a->size() > 2) {
      c.error(n, "cores must be [CPU] or [IO_CPU, ROUTER_CPU]");
    } else {
      d.cores.clear();
      for (const toml::node& cpu : *a) {
        const std::optional<std::int64_t> v = cpu.value<std::int64_t>();
        if (!v || *v < -1 || *v > 4095) {
          c.error(&cpu, "a CPU is a number 0..4095 (or -1 for unpinned)");
        } else {
          d.cores.push_back(static_cast<int>(*v));
        }
      }
    }
  }
}

}  // namespace

ConfigResult parse_config(const std::string& text, const std::string& source) {
  ConfigResult result;
  ApplianceConfig& cfg = result.config;
  Checker c(source, result.errors);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source << ":" << e.source().begin.line << ": " << e.description()
      << "; fix the TOML syntax";
    result.errors.push_back(s.str());
    return result;
  }
  c.only(root,
         {"site", "sites", "max_calls", "max_overflow_hops", "dataplane", "control", "metrics",
          "skills", "queue", "agent", "agent_group"},
         "the top level");
  c.text(root, "site", cfg.site);
  if (const toml::array* sites = root["sites"].as_array()) {
    for (const toml::node& s : *sites) {
      const std::optional<std::string> name = s.value<std::string>();
      if (!name) {
        c.error(&s, "sites must be a list of site names");
      } else {
        cfg.sites.push_back(*name);
      }
    }
  }
  cfg.domain.max_calls = 65536;
  c.number(root, "max_calls", cfg.domain.max_calls, 1, 1 << 24);
  c.number(root, "max_overflow_hops", cfg.domain.max_overflow_hops, 0, 16);
  if (const toml::table* t = root["dataplane"].as_table()) {
    parse_dataplane(c, *t, cfg.dataplane, cfg.origin);
  }
  if (const toml::table* t = root["control"].as_table()) {
    c.only(*t, {"socket", "credentials"}, "[control]");
    c.note_origin(*t, "socket", "control.socket", cfg.origin);
    c.note_origin(*t, "credentials", "control.credentials", cfg.origin);
    if (c.text(*t, "socket", cfg.control_socket)) {
      if (const std::string problem = check_socket_path(cfg.control_socket); !problem.empty()) {
        c.error(*t, "socket", "control.socket = \"" + cfg.control_socket + "\": " + problem);
      }
    }
    if (c.text(*t, "credentials", cfg.credentials) && cfg.credentials.empty()) {
      c.error(*t, "credentials", "control.credentials must name the credential file");
    }
  }
  if (const toml::table* t = root["metrics"].as_table()) {
    c.only(*t, {"listen"}, "[metrics]");
    c.note_origin(*t, "listen", "metrics.listen", cfg.origin);
    if (c.text(*t, "listen", cfg.metrics_listen)) {
      if (const std::string problem = check_endpoint(cfg.metrics_listen); !problem.empty()) {
        c.error(*t, "listen", "metrics.listen = \"" + cfg.metrics_listen + "\": " + problem);
      }
    }
  }

  // Skills.
  std::map<std::string, router::SkillId> skills;
  const toml::array* skill_list = root["skills"].as_array();
  if (skill_list == nullptr) {
    c.error(nullptr,
            "'skills' is missing; list the skill names, e.g. skills = [\"cards\", \"loans\"]");
  } else {
    for (const toml::node& n : *skill_list) {
      const std::optional<std::string> name = n.value<std::string>();
      if (!name || name->empty()) {
        c.error(&n, "each skill is a non-empty name");
      } else if (!skills.emplace(*name, static_cast<router::SkillId>(skills.size())).second) {
        c.error(&n, "skill '" + *name + "' is listed twice; remove one");
      } else {
        cfg.skill_names.push_back(*name);
      }
    }
  }
  cfg.domain.skill_count = static_cast<std::uint32_t>(std::max<std::size_t>(skills.size(), 1));
  auto skill_levels = [&](const toml::table& t, std::string_view key, const std::string& what) {
    std::vector<router::SkillRequirement> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return out;
    }
    const toml::table* levels = n->as_table();
    if (levels == nullptr) {
      c.error(n,
              what + ": '" + std::string(key) + "' must be a table of skill = proficiency (1..10)");
      return out;
    }
    for (const auto& [name, level] : *levels) {
      auto it = skills.find(std::string(name.str()));
      const std::optional<std::int64_t> v = level.value<std::int64_t>();
      if (it == skills.end()) {
        c.error(&level, what + ": skill '" + std::string(name.str()) +
                            "' is not defined; add it to 'skills'");
      } else if (!v || *v < 1 || *v > 10) {
        c.error(&level, what + ": proficiency of '" + std::string(name.str()) + "' must be 1..10");
      } else {
        out.push_back(router::SkillRequirement{it->second, static_cast<std::uint8_t>(*v), 0});
      }
    }
    return out;
  };

  // Queues.
  std::map<std::string, router::QueueIndex> queues;
  std::vector<PendingTarget> targets;
  std::vector<const toml::node*> queue_nodes;
  if (const toml::array* list = root["queue"].as_array()) {
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        c.error(&n, "[[queue]] must be a table");
        continue;
      }
      router::QueueConfig q;
      c.only(*t,
             {"name", "media", "skills", "policy", "sl_threshold_s", "sl_target", "ring_timeout_s",
              "wrap_up_s", "max_wait_s", "max_wait_action", "max_wait_target", "min_verification",
              "tier_priority_boost", "expected_aht_s", "priority_aging_s", "overflow"},
             "[[queue]]");
      if (!c.text(*t, "name", q.name) || q.name.empty()) {
        c.error(&n, "a [[queue]] needs a name");
      } else if (!queues.emplace(q.name, static_cast<router::QueueIndex>(cfg.domain.queues.size()))
                      .second) {
        c.error(*t, "name", "queue '" + q.name + "' is defined twice; rename one");
      }
      const std::string what = "queue '" + q.name + "'";
      c.choice(*t, "media", q.media, kMedia);
      c.choice(*t, "policy", q.policy, kPolicies);
      q.skills = skill_levels(*t, "skills", what);
      if (q.skills.empty() && t->get("skills") == nullptr) {
        c.error(&n, what + " needs 'skills', e.g. skills = { cards = 1 }");
      } else if (q.skills.size() > router::kMaxQueueSkills) {
        c.error(*t, "skills", what + " may require at most 4 skills");
      }
      c.number(*t, "sl_threshold_s", q.sl_threshold_ms, 0.001, 86400, 1000);
      double target = 0.8;
      if (c.number(*t, "sl_target", target, 0, 1)) {
        q.sl_target_permille = static_cast<std::uint16_t>(target * 1000 + 0.5);
      }
      c.number(*t, "ring_timeout_s", q.ring_timeout_ms, 0.001, 3600, 1000);
      c.number(*t, "wrap_up_s", q.wrap_up_ms, 0, 86400, 1000);
      c.number(*t, "max_wait_s", q.max_wait_ms, 0, 86400, 1000);
      c.number(*t, "expected_aht_s", q.expected_aht_ms, 0.001, 86400, 1000);
      c.number(*t, "priority_aging_s", q.priority_aging_ms, 0, 86400, 1000);
      c.number(*t, "min_verification", q.min_verification, 0, 255);
      if (const toml::node* boost = t->get("tier_priority_boost")) {
        const toml::array* a = boost->as_array();
        if (a == nullptr || a->size() != router::kTierCount) {
          c.error(boost, what + ": tier_priority_boost is four numbers, one per customer tier");
        } else {
          for (std::size_t i = 0; i < a->size(); ++i) {
            const std::optional<std::int64_t> v = (*a)[i].value<std::int64_t>();
            if (!v || *v < 0 || *v > 15) {
              c.error(&(*a)[i], what + ": a priority boost is 0..15");
            } else {
              q.tier_priority_boost[i] = static_cast<std::uint8_t>(*v);
            }
          }
        }
      }
      const auto index = cfg.domain.queues.size();
      if (t->get("max_wait_s") != nullptr) {
        OverflowAction action = OverflowAction::Busy;
        c.choice(*t, "max_wait_action", action, kActions);
        std::string target_name;
        c.text(*t, "max_wait_target", target_name);
        q.max_wait_action = action;
        targets.push_back({index, -1, action, target_name, t->get("max_wait_s")});
      }
      if (const toml::node* ov = t->get("overflow")) {
        const toml::array* rules = ov->as_array();
        if (rules == nullptr) {
          c.error(ov, what + ": overflow is a list of [[queue.overflow]] tables");
        } else {
          for (const toml::node& rn : *rules) {
            const toml::table* r = rn.as_table();
            if (r == nullptr) {
              c.error(&rn, what + ": each overflow rule is a table");
              continue;
            }
            c.only(*r, {"when", "threshold", "action", "target"}, "[[queue.overflow]]");
            router::OverflowRule rule;
            if (!c.choice(*r, "when", rule.when, kConditions)) {
              if (r->get("when") == nullptr) {
                c.error(&rn, what + ": an overflow rule needs 'when' (wait, queue_length or ewt)");
              }
            }
            const double scale = rule.when == OverflowCondition::QueueLengthAtLeast ? 1.0 : 1000.0;
            if (!c.number(*r, "threshold", rule.threshold,
                          rule.when == OverflowCondition::WaitAtLeast ? 0.001 : 0,
                          rule.when == OverflowCondition::QueueLengthAtLeast ? 1e6 : 86400,
                          scale) &&
                r->get("threshold") == nullptr) {
              c.error(&rn, what +
                               ": an overflow rule needs a 'threshold' (seconds, or calls for "
                               "queue_length)");
            }
            if (!c.choice(*r, "action", rule.action, kActions) && r->get("action") == nullptr) {
              c.error(&rn, what + ": an overflow rule needs an 'action'");
            }
            std::string target_name;
            c.text(*r, "target", target_name);
            targets.push_back(
                {index, static_cast<int>(q.overflow.size()), rule.action, target_name, &rn});
            q.overflow.push_back(rule);
          }
        }
      }
      queue_nodes.push_back(&n);
      cfg.domain.queues.push_back(std::move(q));
    }
  }
  if (cfg.domain.queues.empty()) {
    c.error(nullptr, "no [[queue]] is defined; a routing domain needs at least one queue");
  }

  // Overflow targets: queues by name, sites by name (not this one), IVR numbers.
  for (const PendingTarget& p : targets) {
    router::QueueConfig& q = cfg.domain.queues[p.queue];
    std::uint32_t resolved = 0;
    const std::string what = "queue '" + q.name + "'";
    switch (p.action) {
      case OverflowAction::ToQueue: {
        auto it = queues.find(p.target);
        if (it == queues.end()) {
          c.error(p.where, what + ": overflow target queue '" + p.target + "' is not defined");
        } else if (it->second == p.queue) {
          c.error(p.where, what + " overflows into itself; choose another queue");
        } else if (cfg.domain.queues[it->second].media != q.media) {
          c.error(p.where, what + ": overflow target '" + p.target + "' serves another media");
        }
        resolved = it == queues.end() ? 0 : it->second;
        break;
      }
      case OverflowAction::ToSite: {
        if (p.target == cfg.site) {
          c.error(p.where, what + " overflows to site '" + p.target +
                               "', which is this site; name another site from 'sites'");
        }
        auto it = std::find(cfg.sites.begin(), cfg.sites.end(), p.target);
        if (it == cfg.sites.end() && p.target != cfg.site) {
          c.error(p.where, what + ": site '" + p.target + "' is not in 'sites'; add it there");
        }
        resolved = static_cast<std::uint32_t>(it - cfg.sites.begin());
        break;
      }
      case OverflowAction::ToIvr: {
        char* end = nullptr;
        const unsigned long v = std::strtoul(p.target.c_str(), &end, 10);
        if (p.target.empty() || *end != '\0' || v > 0xFFFFFFFFul) {
          c.error(p.where,
                  what + ": an IVR target is the IVR application's number, e.g. target = \"9000\"");
        }
        resolved = static_cast<std::uint32_t>(v);
        break;
      }
      case OverflowAction::Callback:
      case OverflowAction::Busy:
        break;
    }
    if (p.rule < 0) {
      q.max_wait_target = resolved;
    } else {
      q.overflow[static_cast<std::size_t>(p.rule)].target = resolved;
    }
  }

  // Overflow chains must not loop (A -> B -> A): a call would bounce until max_overflow_hops.
  {
    const std::size_t n = cfg.domain.queues.size();
    std::vector<std::vector<router::QueueIndex>> next(n);
    for (std::size_t qi = 0; qi < n; ++qi) {
      const auto& q = cfg.domain.queues[qi];
      for (const auto& r : q.overflow) {
        if (r.action == OverflowAction::ToQueue && r.target < n && r.target != qi) {
          next[qi].push_back(r.target);
        }
      }
      if (q.max_wait_ms > 0 && q.max_wait_action == OverflowAction::ToQueue &&
          q.max_wait_target < n && q.max_wait_target != qi) {
        next[qi].push_back(q.max_wait_target);
      }
    }
    std::vector<int> state(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<router::QueueIndex> path;
    std::set<std::string> reported;
    std::function<void(router::QueueIndex)> visit = [&](router::QueueIndex qi) {
      state[qi] = 1;
      path.push_back(qi);
      for (router::QueueIndex to : next[qi]) {
        if (state[to] == 1) {
          std::string chain;
          auto from = std::find(path.begin(), path.end(), to);
          for (auto it = from; it != path.end(); ++it) {
            chain += cfg.domain.queues[*it].name + " -> ";
          }
          chain += cfg.domain.queues[to].name;
          if (reported.insert(chain).second) {
            c.error(queue_nodes[to], "overflow chain loops: " + chain +
                                         "; end the chain with a site, IVR, callback or busy");
          }
        } else if (state[to] == 0) {
          visit(to);
        }
      }
      path.pop_back();
      state[qi] = 2;
    };
    for (router::QueueIndex qi = 0; qi < n; ++qi) {
      if (state[qi] == 0) {
        visit(qi);
      }
    }
  }

  // Agents, one by one or in groups.
  std::set<router::AgentNumber> numbers;
  auto add_agent = [&](router::AgentNumber number,
                       const std::vector<router::SkillRequirement>& levels, std::uint8_t chats,
                       const toml::node* where) {
    if (number == 0 || !numbers.insert(number).second) {
      c.error(where, "agent ID " + std::to_string(number) +
                         (number == 0 ? " is reserved" : " is used twice") +
                         "; agent IDs are unique and not 0");
      return;
    }
    router::AgentConfig a;
    a.number = number;
    for (const auto& l : levels) {
      a.skills.push_back(router::SkillLevel{l.skill, l.min_level, 0});
    }
    a.capacity[static_cast<int>(Media::Chat)] = chats;
    a.capacity[static_cast<int>(Media::Email)] = chats > 0 ? 1 : 0;
    cfg.domain.agents.push_back(std::move(a));
  };
  if (const toml::array* list = root["agent"].as_array()) {
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        c.error(&n, "[[agent]] must be a table");
        continue;
      }
      c.only(*t, {"id", "name", "skills", "chat_capacity"}, "[[agent]]");
      router::AgentNumber number = 0;
      if (!c.number(*t, "id", number, 1, 9e15)) {
        if (t->get("id") == nullptr) {  // a bad value is reported already
          c.error(&n, "an [[agent]] needs an 'id' (the number the agent signs in with)");
        }
        continue;
      }
      std::uint8_t chats = 0;
      c.number(*t, "chat_capacity", chats, 0, 16);
      add_agent(number, skill_levels(*t, "skills", "agent " + std::to_string(number)), chats, &n);
    }
  }
  if (const toml::array* list = root["agent_group"].as_array()) {
    for (const toml::node& n : *list) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        c.error(&n, "[[agent_group]] must be a table");
        continue;
      }
      c.only(*t, {"first_id", "count", "skills", "chat_capacity"}, "[[agent_group]]");
      router::AgentNumber first = 0;
      std::uint32_t count = 0;
      const bool first_ok = c.number(*t, "first_id", first, 1, 9e15);
      const bool count_ok = c.number(*t, "count", count, 1, 2'000'000);
      if (!first_ok || !count_ok) {
        if (t->get("first_id") == nullptr || t->get("count") == nullptr) {
          c.error(&n, "an [[agent_group]] needs 'first_id' and 'count'");
        }
        continue;
      }
      std::uint8_t chats = 0;
      c.number(*t, "chat_capacity", chats, 0, 16);
      const auto levels = skill_levels(*t, "skills", "agent group from " + std::to_string(first));
      // IDs the group shares with agents defined before it: one message for the whole overlap.
      std::uint32_t reused = 0;
      router::AgentNumber reused_first = 0;
      router::AgentNumber reused_last = 0;
      for (std::uint32_t i = 0; i < count; ++i) {
        if (numbers.count(first + i) != 0) {
          reused_first = reused == 0 ? first + i : reused_first;
          reused_last = first + i;
          ++reused;
          continue;
        }
        add_agent(first + i, levels, chats, &n);
      }
      if (reused == 1) {
        c.error(&n, "agent group from " + std::to_string(first) + ": agent ID " +
                        std::to_string(reused_first) + " is defined already; agent IDs are unique");
      } else if (reused > 1) {
        c.error(&n, "agent group from " + std::to_string(first) + ": " + std::to_string(reused) +
                        " of its agent IDs (" + std::to_string(reused_first) + " to " +
                        std::to_string(reused_last) +
                        ") are defined already; agent IDs are unique, move first_id or count");
      }
    }
  }
  if (cfg.domain.agents.empty()) {
    c.error(nullptr, "no agents: add [[agent]] or [[agent_group]] tables");
  }
  // The engine's own checks, as a last net (they should all be caught above with a line).
  if (result.errors.empty()) {
    for (const std::string& problem : router::validate_config(cfg.domain)) {
      c.error(nullptr, problem);
    }
  }
  return result;
}

std::string check_endpoint(const std::string& text) {
  dataplane::Endpoint endpoint;
  if (!dataplane::parse_endpoint(text, endpoint)) {
    return "an address is A.B.C.D:PORT with PORT 0..65535 (0: any free port), e.g. "
           "\"127.0.0.1:7070\"";
  }
  return {};
}

std::string check_socket_path(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return "the control socket is an absolute path, e.g. \"/run/acd/control.sock\"";
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return "longer than a Unix socket path may be (" +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
  }
  if (path.back() == '/') {
    return "names a directory; add the socket's file name";
  }
  return {};
}

std::string check_cpu(int cpu) {
  if (cpu == -1) {
    return {};
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(allowed), &allowed) != 0 ||
      !CPU_ISSET(static_cast<unsigned>(cpu), &allowed)) {
    return "CPU " + std::to_string(cpu) + " is not one this machine lets acdd use (it has " +
           std::to_string(CPU_COUNT(&allowed)) + "; -1 runs unpinned)";
  }
  return {};
}

std::string origin_of(const ApplianceConfig& cfg, const std::string& key) {
  const auto it = cfg.origin.find(key);
  return it == cfg.origin.end() ? key + " (default)" : it->second + ": " + key;
}

std::vector<std::string> check_startup(const ApplianceConfig& cfg, bool embedded_default) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& key, const std::string& what) {
    problems.push_back(origin_of(cfg, key) + ": " + what);
  };
  for (const int cpu : cfg.dataplane.cores) {
    if (const std::string p = check_cpu(cpu); !p.empty()) {
      problem("dataplane.cores", p);
    }
  }
  if (cfg.dataplane.cores.size() == 2 && cfg.dataplane.cores[0] >= 0 &&
      cfg.dataplane.cores[0] == cfg.dataplane.cores[1]) {
    problem("dataplane.cores", "the IO and routing cores must differ (or give one CPU)");
  }
#ifndef ACD_WITH_DPDK
  if (cfg.dataplane.backend == "dpdk") {
    problem("dataplane.backend", "this acdd was built without DPDK (install libdpdk-dev, rebuild)");
  }
#endif
  if (cfg.dataplane.backend == "dpdk" && cfg.dataplane.dpdk_args.empty()) {
    problem("dataplane.dpdk_args", "the DPDK backend needs EAL arguments");
  }
  // The credential file: acdd refuses to start without it, except the embedded demo.
  const bool exists = access(cfg.credentials.c_str(), F_OK) == 0;
  if (exists || !embedded_default) {
    CredentialStore store;
    if (const std::string p = store.load(cfg.credentials); !p.empty()) {
      problem("control.credentials", p);
    }
  }
  return problems;
}

ConfigResult load_config(const std::string& path) {
  // A configuration is a regular file of modest size: not a device, a pipe or a directory.
  constexpr std::uintmax_t kMaxBytes = 64u << 20;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  ConfigResult r;
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    r.errors.push_back(path + ": not a regular file");
    return r;
  }
  if (!ec && std::filesystem::exists(status) && std::filesystem::file_size(path, ec) > kMaxBytes) {
    r.errors.push_back(path + ": larger than 64 MiB; is this the right file?");
    return r;
  }
  std::ifstream in(path);
  if (!in) {
    r.errors.push_back(path + ": cannot be read; check the path and its permissions");
    return r;
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace acd::control
