// The routing domain's tables: skills, queues with their overflow rules, agents, the sites overflow
// may name; resolved by name and checked, every problem collected with its line.
#include "acd/domain/domain_file.hpp"

#include "acd/router/event.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>

namespace acd::domain {

namespace {

using router::Media;
using router::OverflowAction;
using router::OverflowCondition;
using router::Policy;

constexpr std::pair<std::string_view, Policy> kPolicies[] = {
    {"longest_idle", Policy::LongestIdle},
    {"most_skilled", Policy::MostSkilled},
    {"round_robin", Policy::RoundRobin},
    {"fewest_calls", Policy::FewestCalls},
    {"least_talk_time", Policy::LeastTalkTime},
    {"least_needed", Policy::LeastNeeded}};
constexpr std::pair<std::string_view, router::CallSelection> kSelections[] = {
    {"aged_priority", router::CallSelection::AgedPriority},
    {"greatest_need", router::CallSelection::GreatestNeed},
    {"queue_ratio", router::CallSelection::QueueRatio},
    {"weighted_wait", router::CallSelection::WeightedWait}};
constexpr std::pair<std::string_view, Media> kMedia[] = {
    {"voice", Media::Voice}, {"chat", Media::Chat}, {"email", Media::Email}, {"sms", Media::Sms}};
constexpr std::pair<std::string_view, OverflowAction> kActions[] = {
    {"queue", OverflowAction::ToQueue},
    {"site", OverflowAction::ToSite},
    {"sites", OverflowAction::ToSite},  // the accepting site with the least EWT (no target)
    {"ivr", OverflowAction::ToIvr},
    {"callback", OverflowAction::Callback},
    {"busy", OverflowAction::Busy},
    {"announcement", OverflowAction::Announcement},
    {"callback_keep_place", OverflowAction::CallbackKeepPlace}};
// A surge step: borrow, or leave like an overflow. In a surge plan "callback" keeps the caller's
// place (they are called back when their turn comes).
enum class StepKind { Borrow, Leave };
constexpr std::pair<std::string_view, OverflowAction> kSurgeActions[] = {
    {"queue", OverflowAction::ToQueue},
    {"site", OverflowAction::ToSite},
    {"sites", OverflowAction::ToSite},
    {"ivr", OverflowAction::ToIvr},
    {"callback", OverflowAction::CallbackKeepPlace},
    {"announcement", OverflowAction::Announcement},
    {"busy", OverflowAction::Busy}};
// A service's diversion while it is down.
constexpr std::pair<std::string_view, OverflowAction> kDiversions[] = {
    {"announcement", OverflowAction::Announcement},
    {"queue", OverflowAction::ToQueue},
    {"site", OverflowAction::ToSite},
    {"ivr", OverflowAction::ToIvr},
    {"callback", OverflowAction::Callback},
    {"busy", OverflowAction::Busy}};
constexpr std::pair<std::string_view, OverflowCondition> kConditions[] = {
    {"wait", OverflowCondition::WaitAtLeast},
    {"queue_length", OverflowCondition::QueueLengthAtLeast},
    {"ewt", OverflowCondition::EwtAtLeast}};

// Every top-level key a file may have, and whose it is.
enum class Owner { Domain, Appliance, Simulation };
constexpr std::pair<std::string_view, Owner> kTopLevel[] = {
    {"site", Owner::Domain},         {"sites", Owner::Domain},
    {"max_calls", Owner::Domain},    {"max_overflow_hops", Owner::Domain},
    {"dataplane", Owner::Appliance}, {"control", Owner::Appliance},
    {"metrics", Owner::Appliance},   {"ha", Owner::Appliance},
    {"journal", Owner::Appliance},   {"audit", Owner::Appliance},
    {"signin", Owner::Appliance},
    {"skills", Owner::Domain},
    {"queue", Owner::Domain},        {"agent", Owner::Domain},
    {"agent_group", Owner::Domain},  {"simulation", Owner::Simulation},
    {"stream", Owner::Simulation},   {"security", Owner::Appliance},
    {"clients", Owner::Appliance},   {"surge", Owner::Domain},
    {"services", Owner::Domain},     {"max_site_hops", Owner::Domain},
    {"history", Owner::Appliance},   {"call_selection", Owner::Domain}};

// The target of action = "sites" until it is resolved (no site can be named so: '*').
constexpr std::string_view kAnySiteName = "*";

// An overflow, max-wait, surge-step or service target, resolved once every queue is known.
struct PendingTarget {
  std::size_t queue;  // the service's index for a service's diversion
  int rule;  // index in overflow, -1 for max wait, -2 - i for surge step i, -100 a service
  OverflowAction action;
  std::string target;
  const toml::node* where;
};

class DomainReader {
 public:
  DomainReader(const toml::table& root, TomlChecker& c, Program program)
      : root_(root), c_(c), program_(program) {}

  DomainConfig read() {
    const std::size_t problems_before = c_.count();
    top_level_keys();
    d_.engine.max_calls = kDefaultMaxCalls;
    // This site: `site = "bj"`, or a [site] table (its name here; the appliance reads the rest:
    // the site's role in disaster recovery).
    std::optional<std::uint8_t> own_number;
    if (const toml::table* t = root_["site"].as_table()) {
      if (c_.text(*t, "name", d_.site) && d_.site.empty()) {
        c_.error(*t, "name", "site.name names this site, e.g. \"bj\"");
      } else if (t->get("name") == nullptr) {
        c_.error(t, "[site] needs a name, e.g. name = \"bj\"");
      }
      own_number = site_number(*t);
      c_.number(*t, "summary_max_age_s", d_.engine.site_summary_max_age_ms, 0.001, 3600, 1000.0);
    } else {
      c_.text(root_, "site", d_.site);
    }
    std::vector<std::optional<std::uint8_t>> numbers;
    std::vector<const toml::node*> number_at;  // where each site's number is (or its entry)
    // The other sites: `sites = ["sh"]`, or [[sites]] tables (their names here; the appliance
    // reads the rest), never both forms in one list.
    if (const toml::node* n = root_.get("sites")) {
      const toml::array* sites = n->as_array();
      if (sites == nullptr) {
        c_.error(n, "sites must be a list of site names, e.g. sites = [\"bj\"]");
      } else {
        for (const toml::node& s : *sites) {
          if (const toml::table* entry = s.as_table()) {
            std::string name;
            if (entry->get("name") == nullptr) {
              c_.error(entry, "a [[sites]] entry needs a name, e.g. name = \"sh\"");
            } else if (c_.text(*entry, "name", name) &&
                       std::find(d_.sites.begin(), d_.sites.end(), name) == d_.sites.end()) {
              // (a site given twice is [[sites]]'s reader's to report)
              d_.sites.push_back(name);
              numbers.push_back(site_number(*entry));
              number_at.push_back(entry->get("number") != nullptr ? entry->get("number") : &s);
            }
            continue;
          }
          const std::optional<std::string> name = s.value<std::string>();
          if (!name) {
            c_.error(&s, "sites must be a list of site names");
          } else {
            d_.sites.push_back(*name);
            numbers.push_back(std::nullopt);
            number_at.push_back(&s);
          }
        }
      }
    }
    number_sites(own_number, numbers, number_at);
    follow_active_identity();
    c_.number(root_, "max_site_hops", d_.engine.max_site_hops, 0, router::kMaxSiteNumber);
    c_.number(root_, "max_calls", d_.engine.max_calls, 1, 1 << 24);
    c_.number(root_, "max_overflow_hops", d_.engine.max_overflow_hops, 0, 16);
    surge_table();
    site_selection();
    skills();
    services();
    queues();
    resolve_targets();
    overflow_loops();
    service_loops();
    agents();
    // The engine's own checks, as a last net (they should all be caught above with a line).
    if (c_.count() == problems_before) {
      for (const std::string& problem : router::validate_config(d_.engine, d_.sites.size())) {
        c_.error(nullptr, problem);
      }
    }
    return std::move(d_);
  }

 private:
  void top_level_keys() {
    std::vector<std::string_view> known;
    for (const auto& [name, owner] : kTopLevel) {
      if (owner == Owner::Domain || owner == own_tables()) {
        known.push_back(name);
      }
    }
    for (const auto& [key, node] : root_) {
      const auto it = std::find_if(std::begin(kTopLevel), std::end(kTopLevel),
                                   [&](const auto& k) { return k.first == key.str(); });
      if (key.str() == "agents") {
        c_.error(&node,
                 "'[[agents]]' is the old scenario spelling; write [[agent_group]] with first_id "
                 "and count (or [[agent]] with id), as in acd.toml");
      } else if (it == std::end(kTopLevel)) {
        c_.unknown_key(node, key.str(), known, "the top level");
      } else if (it->second == Owner::Simulation && program_ == Program::Acdd) {
        c_.error(&node, "'" + std::string(key.str()) +
                            "' is an acd-sim table (simulated calls); acdd does not read it: "
                            "remove it, or keep the simulation in a scenario file of its own");
      }
    }
  }

  Owner own_tables() const {
    return program_ == Program::Acdd ? Owner::Appliance : Owner::Simulation;
  }

  void skills() {
    const toml::node* n = root_.get("skills");
    const toml::array* list = n != nullptr ? n->as_array() : nullptr;
    if (list == nullptr) {
      c_.error(n, n == nullptr ? "'skills' is missing; list the skill names, e.g. skills = "
                                 "[\"cards\", \"loans\"]"
                               : "'skills' must be a list of skill names, e.g. skills = "
                                 "[\"cards\", \"loans\"]");
    } else {
      for (const toml::node& s : *list) {
        const std::optional<std::string> name = s.value<std::string>();
        if (!name || name->empty()) {
          c_.error(&s, "each skill is a non-empty name");
        } else if (skill_id(d_.skill_names, *name) != router::kNoSkill) {
          c_.error(&s, "skill '" + *name + "' is listed twice; remove one");
        } else {
          d_.skill_names.push_back(*name);
        }
      }
    }
    d_.engine.skill_count =
        static_cast<std::uint32_t>(std::max<std::size_t>(d_.skill_names.size(), 1));
  }

  void queues() {
    if (const toml::array* list = root_["queue"].as_array()) {
      for (const toml::node& n : *list) {
        const toml::table* t = n.as_table();
        if (t == nullptr) {
          c_.error(&n, "[[queue]] must be a table");
          continue;
        }
        queue(n, *t);
      }
    } else if (root_.get("queue") != nullptr) {
      c_.error(root_.get("queue"), "'queue' must be [[queue]] tables");
    }
    if (d_.engine.queues.empty()) {
      c_.error(nullptr, "no [[queue]] is defined; a routing domain needs at least one queue");
    }
  }

  void queue(const toml::node& n, const toml::table& t) {
    router::QueueConfig q;
    c_.only(t,
            {"name", "media", "skills", "policy", "sl_threshold_s", "sl_target", "ring_timeout_s",
             "wrap_up_s", "max_wait_s", "max_wait_action", "max_wait_target", "min_verification",
             "tier_priority_boost", "expected_aht_s", "priority_aging_s", "overflow", "surge",
             "reserved", "services", "call_selection", "predicted_wait", "share", "wait_weight",
             "idle_weight", "reserve_after_s", "expand"},
            "[[queue]]");
    if (!c_.text(t, "name", q.name) || q.name.empty()) {
      c_.error(&n, "a [[queue]] needs a name");
    } else if (!queue_index_
                    .emplace(q.name, static_cast<router::QueueIndex>(d_.engine.queues.size()))
                    .second) {
      c_.error(t, "name", "queue '" + q.name + "' is defined twice; rename one");
    }
    const std::string what = "queue '" + q.name + "'";
    c_.choice(t, "media", q.media, kMedia);
    c_.choice(t, "policy", q.policy, kPolicies);
    q.skills = read_skill_levels(t, "skills", what, d_.skill_names, c_);
    if (q.skills.empty() && t.get("skills") == nullptr) {
      c_.error(&n, what + " needs 'skills', e.g. skills = { cards = 1 }");
    } else if (q.skills.size() > router::kMaxQueueSkills) {
      c_.error(t, "skills", what + " may require at most 4 skills");
    }
    c_.number(t, "sl_threshold_s", q.sl_threshold_ms, 0.001, 86400, 1000);
    double target = 0.8;
    if (c_.number(t, "sl_target", target, 0, 1)) {
      q.sl_target_permille = static_cast<std::uint16_t>(target * 1000 + 0.5);
    }
    c_.number(t, "ring_timeout_s", q.ring_timeout_ms, 0.001, 3600, 1000);
    c_.number(t, "wrap_up_s", q.wrap_up_ms, 0, 86400, 1000);
    c_.number(t, "max_wait_s", q.max_wait_ms, 0, 86400, 1000);
    c_.number(t, "expected_aht_s", q.expected_aht_ms, 0.001, 86400, 1000);
    c_.number(t, "priority_aging_s", q.priority_aging_ms, 0, 86400, 1000);
    c_.number(t, "min_verification", q.min_verification, 0, 255);
    if (const toml::node* boost = t.get("tier_priority_boost")) {
      const toml::array* a = boost->as_array();
      if (a == nullptr || a->size() != router::kTierCount) {
        c_.error(boost, what + ": tier_priority_boost is four numbers, one per customer tier");
      } else {
        for (std::size_t i = 0; i < a->size(); ++i) {
          const std::optional<std::int64_t> v = (*a)[i].value<std::int64_t>();
          if (!v || *v < 0 || *v > 15) {
            c_.error(&(*a)[i], what + ": a priority boost is 0..15");
          } else {
            q.tier_priority_boost[i] = static_cast<std::uint8_t>(*v);
          }
        }
      }
    }
    const std::size_t index = d_.engine.queues.size();
    if (t.get("max_wait_s") != nullptr) {
      OverflowAction action = OverflowAction::Busy;
      c_.choice(t, "max_wait_action", action, kActions);
      std::string target_name;
      c_.text(t, "max_wait_target", target_name);
      q.max_wait_action = action;
      targets_.push_back({index, -1, action, target_name, t.get("max_wait_s")});
    }
    if (const toml::node* ov = t.get("overflow")) {
      const toml::array* rules = ov->as_array();
      if (rules == nullptr) {
        c_.error(ov, what + ": overflow is a list of [[queue.overflow]] tables");
      } else {
        for (const toml::node& rn : *rules) {
          const toml::table* r = rn.as_table();
          if (r == nullptr) {
            c_.error(&rn, what + ": each overflow rule is a table");
            continue;
          }
          overflow_rule(rn, *r, what, index, q);
        }
      }
    }
    flag(t, "reserved", q.reserved);
    queue_selection(t, what, q);
    queue_services(t, what, q);
    if (const toml::node* sn = t.get("surge")) {
      if (const toml::table* st = sn->as_table()) {
        surge_plan(*st, what, index, q);
      } else {
        c_.error(sn, what + ": surge is a [queue.surge] table");
      }
    }
    queue_nodes_.push_back(&n);
    d_.engine.queues.push_back(std::move(q));
  }

  // A true/false key. False when absent or reported as wrong.
  // The site's call-selection defaults ([call_selection]); a queue's own keys override them.
  void site_selection() {
    const toml::node* n = root_.get("call_selection");
    if (n == nullptr) {
      return;
    }
    const toml::table* t = n->as_table();
    if (t == nullptr) {
      c_.error(n, "call_selection is a [call_selection] table (rule = \"greatest_need\", ...)");
      return;
    }
    c_.only(*t, {"rule", "predicted_wait", "share", "wait_weight", "idle_weight", "reserve_after_s"},
            "[call_selection]");
    c_.choice(*t, "rule", selection_defaults_.call_selection, kSelections);
    selection_keys(*t, selection_defaults_);
  }

  // The keys a queue and [call_selection] share.
  void selection_keys(const toml::table& t, router::QueueConfig& q) {
    flag(t, "predicted_wait", q.predicted_wait);
    c_.number(t, "share", q.share, 1, router::kMaxShare);
    c_.number(t, "wait_weight", q.wait_weight, 0, 1000, 1000);
    c_.number(t, "idle_weight", q.idle_weight, 0, 1000, 1000);
    c_.number(t, "reserve_after_s", q.reserve_after_ms, 0, 86400, 1000);
  }

  // A queue's call selection (the site's unless it names its own) and its expand steps.
  void queue_selection(const toml::table& t, const std::string& what, router::QueueConfig& q) {
    const router::QueueConfig& d = selection_defaults_;
    q.call_selection = d.call_selection;
    q.predicted_wait = d.predicted_wait;
    q.share = d.share;
    q.wait_weight = d.wait_weight;
    q.idle_weight = d.idle_weight;
    q.reserve_after_ms = d.reserve_after_ms;
    c_.choice(t, "call_selection", q.call_selection, kSelections);
    selection_keys(t, q);
    const toml::node* en = t.get("expand");
    if (en == nullptr) {
      return;
    }
    const toml::array* steps = en->as_array();
    if (steps == nullptr || steps->size() > router::kMaxExpandSteps) {
      c_.error(en, what + ": expand is a list of 1 to 4 steps, e.g. [{ after_s = 0, min_level = 8 "
                          "}, { after_s = 20, min_level = 5 }]");
      return;
    }
    for (std::size_t i = 0; i < steps->size(); ++i) {
      const toml::node& sn = (*steps)[i];
      const toml::table* st = sn.as_table();
      if (st == nullptr) {
        c_.error(&sn, what + ": each expand step is a table { after_s = ..., min_level = ... }");
        continue;
      }
      c_.only(*st, {"after_s", "min_level"}, "expand step");
      router::ExpandStep step;
      const bool after_ok = c_.number(*st, "after_s", step.after_ms, 0, 86400, 1000);
      const bool level_ok = c_.number(*st, "min_level", step.min_level, 1, router::kMaxProficiency);
      if (!after_ok || !level_ok) {
        if (st->get("after_s") == nullptr || st->get("min_level") == nullptr) {
          c_.error(&sn, what + ": an expand step needs after_s and min_level");
        }
        continue;
      }
      if (!q.expand.empty() && step.after_ms <= q.expand.back().after_ms) {
        c_.error(&sn, what + ": expand steps go forward in time; after_s must be later than the "
                             "step before");
      } else if (!q.expand.empty() && step.min_level > q.expand.back().min_level) {
        c_.error(&sn, what + ": an expand step relaxes the floor; min_level may not rise");
      }
      q.expand.push_back(step);
    }
  }

  // An agent's (or group's) preference: "proficiency", or its skills, most preferred first.
  void preference(const toml::table& t, const std::string& what, router::AgentConfig& a) {
    const toml::node* n = t.get("preference");
    if (n == nullptr) {
      return;
    }
    if (const std::optional<std::string> v = n->value<std::string>()) {
      if (*v == "proficiency") {
        a.preference = router::AgentPreference::Proficiency;
      } else if (*v != "none") {
        c_.error(n, what + ": preference is \"proficiency\", \"none\" or a list of skills, most "
                           "preferred first");
      }
      return;
    }
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      c_.error(n, what + ": preference is \"proficiency\", \"none\" or a list of skills");
      return;
    }
    a.preference = router::AgentPreference::Order;
    for (const toml::node& sn : *list) {
      const std::optional<std::string> name = sn.value<std::string>();
      const router::SkillId id =
          name ? skill_id(d_.skill_names, *name) : router::kNoSkill;
      if (id == router::kNoSkill) {
        c_.error(&sn, what + ": preferred skill " + (name ? "'" + *name + "'" : "") +
                          " is not one of the skills");
      } else if (std::find(a.preference_order.begin(), a.preference_order.end(), id) !=
                 a.preference_order.end()) {
        c_.error(&sn, what + ": preferred skill '" + *name + "' is listed twice");
      } else {
        a.preference_order.push_back(id);
      }
    }
  }

  bool flag(const toml::table& t, std::string_view key, bool& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    const std::optional<bool> v = n->value<bool>();
    if (!v) {
      c_.error(n, "'" + std::string(key) + "' must be true or false");
      return false;
    }
    out = *v;
    return true;
  }

  // [surge]: settings of the whole domain's surge evaluation, and the dwell and exit hold every
  // [queue.surge] has unless it gives its own.
  void surge_table() {
    const toml::node* n = root_.get("surge");
    if (n == nullptr) {
      return;
    }
    const toml::table* t = n->as_table();
    if (t == nullptr) {
      c_.error(n, "'surge' must be a [surge] table");
      return;
    }
    c_.only(*t, {"eval_interval_s", "min_dwell_s", "exit_hold_s"}, "[surge]");
    c_.number(*t, "eval_interval_s", d_.engine.surge_eval_ms, 0.01, 60, 1000);
    c_.number(*t, "min_dwell_s", surge_defaults_.min_dwell_ms, 0, 86400, 1000);
    c_.number(*t, "exit_hold_s", surge_defaults_.exit_hold_ms, 0, 86400, 1000);
  }

  // [[services]]: back-end services queues depend on, with their diversion while down.
  void services() {
    const toml::node* n = root_.get("services");
    if (n == nullptr) {
      return;
    }
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      c_.error(n, "'services' must be [[services]] tables");
      return;
    }
    for (const toml::node& sn : *list) {
      const toml::table* t = sn.as_table();
      if (t == nullptr) {
        c_.error(&sn, "[[services]] must be a table");
        continue;
      }
      c_.only(*t, {"name", "action", "target"}, "[[services]]");
      router::ServiceConfig sc;
      if (!c_.text(*t, "name", sc.name) || sc.name.empty()) {
        c_.error(&sn, "a [[services]] entry needs a name");
      } else if (std::find(d_.service_names.begin(), d_.service_names.end(), sc.name) !=
                 d_.service_names.end()) {
        c_.error(*t, "name", "service '" + sc.name + "' is defined twice; rename one");
      }
      if (!c_.choice(*t, "action", sc.action, kDiversions) && t->get("action") == nullptr) {
        c_.error(&sn, "service '" + sc.name +
                          "' needs an 'action' for its calls while it is down (announcement, "
                          "queue, site, ivr, callback or busy)");
      }
      std::string target;
      c_.text(*t, "target", target);
      const toml::node* at = t->get("target");
      targets_.push_back(
          {d_.engine.services.size(), -100, sc.action, target, at != nullptr ? at : &sn});
      d_.service_names.push_back(sc.name);
      d_.engine.services.push_back(std::move(sc));
    }
  }

  void queue_services(const toml::table& t, const std::string& what, router::QueueConfig& q) {
    const toml::node* n = t.get("services");
    if (n == nullptr) {
      return;
    }
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      c_.error(n, what + ": services is a list of service names, e.g. services = [\"core\"]");
      return;
    }
    for (const toml::node& sn : *list) {
      const std::optional<std::string> name = sn.value<std::string>();
      const auto it = name ? std::find(d_.service_names.begin(), d_.service_names.end(), *name)
                           : d_.service_names.end();
      if (!name) {
        c_.error(&sn, what + ": services is a list of service names");
      } else if (it == d_.service_names.end()) {
        c_.error(&sn, what + ": service '" + *name + "' is not defined; add a [[services]] entry");
      } else if (std::find(q.services.begin(), q.services.end(),
                           static_cast<std::uint32_t>(it - d_.service_names.begin())) !=
                 q.services.end()) {
        c_.error(&sn, what + ": service '" + *name + "' is listed twice");
      } else {
        q.services.push_back(static_cast<std::uint32_t>(it - d_.service_names.begin()));
      }
    }
  }

  // [queue.surge]: enter and exit levels, dwell, and the ordered steps.
  void surge_plan(const toml::table& t, const std::string& what, std::size_t index,
                  router::QueueConfig& q) {
    c_.only(t, {"enter", "exit", "min_dwell_s", "exit_hold_s", "actions"}, "[queue.surge]");
    q.surge.min_dwell_ms = surge_defaults_.min_dwell_ms;
    q.surge.exit_hold_ms = surge_defaults_.exit_hold_ms;
    c_.number(t, "min_dwell_s", q.surge.min_dwell_ms, 0, 86400, 1000);
    c_.number(t, "exit_hold_s", q.surge.exit_hold_ms, 0, 86400, 1000);
    auto levels = [&](const char* key, router::SurgeLevels& out) -> const toml::table* {
      const toml::node* n = t.get(key);
      if (n == nullptr) {
        return nullptr;
      }
      const toml::table* l = n->as_table();
      if (l == nullptr) {
        c_.error(n, what + ": surge " + key +
                        " is a table, e.g. { queue_length = 20, ewt_s = 120 }");
        return nullptr;
      }
      c_.only(*l, {"offered_per_min", "queue_length", "oldest_wait_s", "ewt_s"},
              std::string("[queue.surge] ") + key);
      c_.number(*l, "offered_per_min", out.offered_per_min, 1, 1e6);
      c_.number(*l, "queue_length", out.queue_length, 1, 1e6);
      c_.number(*l, "oldest_wait_s", out.oldest_wait_ms, 0.001, 86400, 1000);
      c_.number(*l, "ewt_s", out.ewt_ms, 0.001, 86400, 1000);
      return l;
    };
    levels("enter", q.surge.enter);
    router::SurgeLevels given;
    const toml::table* exit = levels("exit", given);
    // An exit level left out is half the enter level; one given must be below it (hysteresis).
    const std::tuple<const char*, std::uint32_t, std::uint32_t*, std::uint32_t> metrics[] = {
        {"offered_per_min", q.surge.enter.offered_per_min, &q.surge.exit.offered_per_min,
         given.offered_per_min},
        {"queue_length", q.surge.enter.queue_length, &q.surge.exit.queue_length,
         given.queue_length},
        {"oldest_wait_s", q.surge.enter.oldest_wait_ms, &q.surge.exit.oldest_wait_ms,
         given.oldest_wait_ms},
        {"ewt_s", q.surge.enter.ewt_ms, &q.surge.exit.ewt_ms, given.ewt_ms}};
    for (const auto& [key, in, out, set] : metrics) {
      const toml::node* at = exit != nullptr ? exit->get(key) : nullptr;
      if (at == nullptr) {
        *out = in / 2;
      } else if (in == 0) {
        c_.error(at, what + ": surge exit." + key + " has no enter." + key +
                         "; give both, or neither");
      } else if (set >= in) {
        c_.error(at, what + ": surge exit." + key + " must be below enter." + key + " (" +
                         std::to_string(set) + " >= " + std::to_string(in) +
                         (std::string_view(key).ends_with("_s") ? " ms" : "") +
                         "): the queue would enter and leave surge at the same level");
      } else {
        *out = set;
      }
    }
    if (const toml::node* an = t.get("actions")) {
      const toml::array* list = an->as_array();
      if (list == nullptr) {
        c_.error(an, what + ": surge actions are [[queue.surge.actions]] tables");
        return;
      }
      if (list->size() > router::kMaxSurgeActions) {
        c_.error(an, what + ": at most " + std::to_string(router::kMaxSurgeActions) +
                         " surge actions");
      }
      for (const toml::node& sn : *list) {
        const toml::table* st = sn.as_table();
        if (st == nullptr) {
          c_.error(&sn, what + ": each surge action is a table");
          continue;
        }
        surge_action(sn, *st, what, index, q);
      }
    }
  }

  void surge_action(const toml::node& sn, const toml::table& t, const std::string& what,
                    std::size_t index, router::QueueConfig& q) {
    c_.only(t, {"action", "target", "from", "min_level", "min_ewt_s"}, "[[queue.surge.actions]]");
    router::SurgeAction a;
    c_.number(t, "min_ewt_s", a.min_ewt_ms, 0, 86400, 1000);
    std::string kind;
    if (!c_.text(t, "action", kind)) {
      if (t.get("action") == nullptr) {
        c_.error(&sn, what + ": a surge action needs 'action' (borrow, queue, site, ivr, "
                             "callback, announcement or busy)");
      }
      return;
    }
    const int step = -2 - static_cast<int>(q.surge.actions.size());
    if (kind == "borrow") {
      a.borrow = true;
      c_.number(t, "min_level", a.min_level, 0, router::kMaxProficiency);
      std::string from;
      if (!c_.text(t, "from", from)) {
        c_.error(&sn, what + ": a borrow step needs 'from', the queue whose agents it borrows");
      }
      targets_.push_back({index, step, OverflowAction::ToQueue, from, t.get("from")});
      q.surge.actions.push_back(a);
      return;
    }
    if (!c_.choice(t, "action", a.action, kSurgeActions)) {
      return;
    }
    std::string target;
    c_.text(t, "target", target);
    any_site(t, target);
    const toml::node* at = t.get("target");
    targets_.push_back({index, step, a.action, target, at != nullptr ? at : &sn});
    q.surge.actions.push_back(a);
  }

  // A site's `number` (0..63), if given.
  std::optional<std::uint8_t> site_number(const toml::table& t) {
    std::uint8_t n = 0;
    if (t.get("number") == nullptr ||
        !c_.number(t, "number", n, 0, static_cast<double>(router::kMaxSiteNumber))) {
      return std::nullopt;
    }
    return n;
  }

  // A DR site's engine follows the active site's log, so it must decide as the active site's
  // engine does: under the active site's number, with this site's number where the active site's
  // list has the DR site (the two lists name the same sites, in the same order, each with itself
  // left out). Its state hash then matches the active site's from the first record; after a
  // takeover it keeps routing under that number, which the old active site, following it on its
  // return, has too. Roles are the appliance's to check; a list without exactly one active peer
  // leaves the numbering as it is.
  void follow_active_identity() {
    const toml::table* own = root_["site"].as_table();
    const toml::array* sites = root_["sites"].as_array();
    if (own == nullptr || sites == nullptr || own->get("role") == nullptr ||
        own->get("role")->value<std::string>() != "dr") {
      return;
    }
    std::optional<std::size_t> active;
    std::size_t index = 0;
    for (const toml::node& n : *sites) {
      const toml::table* t = n.as_table();
      if (t == nullptr || t->get("name") == nullptr) {
        continue;
      }
      const auto at = std::find(d_.sites.begin(), d_.sites.end(),
                                t->get("name")->value<std::string>().value_or(""));
      if (at == d_.sites.end()) {
        continue;
      }
      index = static_cast<std::size_t>(at - d_.sites.begin());
      if (t->get("role") != nullptr && t->get("role")->value<std::string>() == "active") {
        if (active) {
          return;
        }
        active = index;
      }
    }
    if (active && *active < d_.engine.site_numbers.size()) {
      std::swap(d_.engine.site_number, d_.engine.site_numbers[*active]);
    }
  }

  // Every site's number: as given, else one derived from its name (the same at every site that
  // lists it). Two sites with one number cannot tell their visits apart: an error.
  void number_sites(std::optional<std::uint8_t> own,
                    const std::vector<std::optional<std::uint8_t>>& given,
                    const std::vector<const toml::node*>& where) {
    auto derived = [](const std::string& name) {
      return static_cast<std::uint8_t>(router::queue_key(name) % (router::kMaxSiteNumber + 1u));
    };
    d_.engine.site_number = own.value_or(derived(d_.site));
    std::set<std::uint8_t> seen{d_.engine.site_number};
    for (std::size_t i = 0; i < d_.sites.size(); ++i) {
      const std::uint8_t n = i < given.size() && given[i] ? *given[i] : derived(d_.sites[i]);
      d_.engine.site_numbers.push_back(n);
      // A site named like this one is [[sites]]'s reader's to report.
      if (d_.sites[i] != d_.site && !seen.insert(n).second) {
        c_.error(where[i], "site '" + d_.sites[i] + "' has site number " +
                                         std::to_string(n) +
                                         ", as another site has; give each site its own "
                                         "'number' (0..63) in [site] and [[sites]]");
      }
    }
  }

  // action = "sites": the target is whichever site accepts with the least EWT when the rule
  // applies (kAnySite); a target given with it is a mistake.
  void any_site(const toml::table& t, std::string& target) {
    const std::optional<std::string> action = t["action"].value<std::string>();
    if (action != "sites") {
      return;
    }
    if (t.get("target") != nullptr) {
      c_.error(t, "target",
               "action = \"sites\" picks the accepting site with the least expected wait; "
               "leave out 'target' (or use action = \"site\" with a target)");
    }
    target = kAnySiteName;
  }

  void overflow_rule(const toml::node& rn, const toml::table& r, const std::string& what,
                     std::size_t index, router::QueueConfig& q) {
    c_.only(r, {"when", "threshold", "action", "target"}, "[[queue.overflow]]");
    router::OverflowRule rule;
    if (!c_.choice(r, "when", rule.when, kConditions) && r.get("when") == nullptr) {
      c_.error(&rn, what + ": an overflow rule needs 'when' (wait, queue_length or ewt)");
    }
    const double scale = rule.when == OverflowCondition::QueueLengthAtLeast ? 1.0 : 1000.0;
    if (!c_.number(r, "threshold", rule.threshold,
                   rule.when == OverflowCondition::WaitAtLeast ? 0.001 : 0,
                   rule.when == OverflowCondition::QueueLengthAtLeast ? 1e6 : 86400, scale) &&
        r.get("threshold") == nullptr) {
      c_.error(&rn, what +
                        ": an overflow rule needs a 'threshold' (seconds, or calls for "
                        "queue_length)");
    }
    if (!c_.choice(r, "action", rule.action, kActions) && r.get("action") == nullptr) {
      c_.error(&rn, what + ": an overflow rule needs an 'action'");
    }
    std::string target_name;
    c_.text(r, "target", target_name);
    any_site(r, target_name);
    targets_.push_back({index, static_cast<int>(q.overflow.size()), rule.action, target_name, &rn});
    q.overflow.push_back(rule);
  }

  // Overflow targets: queues by name, sites by name (not this one), IVR numbers.
  void resolve_targets() {
    for (const PendingTarget& p : targets_) {
      const bool service = p.rule == -100;
      const bool step = p.rule <= -2 && !service;
      router::QueueConfig* qp = service ? nullptr : &d_.engine.queues[p.queue];
      router::SurgeAction* action =
          step ? &qp->surge.actions[static_cast<std::size_t>(-2 - p.rule)] : nullptr;
      const bool borrow = action != nullptr && action->borrow;
      std::uint32_t resolved = 0;
      const std::string what = service ? "service '" + d_.engine.services[p.queue].name + "'"
                                       : "queue '" + qp->name + "'";
      switch (p.action) {
        case OverflowAction::ToQueue: {
          auto it = queue_index_.find(p.target);
          const char* role = borrow ? "borrows from" : "overflow target";
          if (it == queue_index_.end()) {
            c_.error(p.where, what + ": " + role + " queue '" + p.target + "' is not defined");
          } else if (service) {
            service_target(p, it->second);
          } else if (it->second == p.queue) {
            c_.error(p.where, what + (borrow ? " borrows from itself" : " overflows into itself") +
                                  "; choose another queue");
          } else if (d_.engine.queues[it->second].media != qp->media) {
            c_.error(p.where, what + ": " + role + " '" + p.target + "' serves another media");
          } else if (step && d_.engine.queues[it->second].reserved) {
            c_.error(p.where, what + ": queue '" + p.target +
                                  "' is reserved capacity; surge never " +
                                  (borrow ? "borrows its agents" : "overflows into it"));
          }
          resolved = it == queue_index_.end() ? 0 : it->second;
          break;
        }
        case OverflowAction::ToSite: {
          if (p.target == kAnySiteName) {
            resolved = router::kAnySite;
            break;
          }
          if (p.target == d_.site) {
            c_.error(p.where, what + " overflows to site '" + p.target +
                                  "', which is this site; name another site from 'sites'");
          }
          auto it = std::find(d_.sites.begin(), d_.sites.end(), p.target);
          if (it == d_.sites.end() && p.target != d_.site) {
            c_.error(p.where, what + ": site '" + p.target + "' is not in 'sites'; add it there");
          }
          resolved = static_cast<std::uint32_t>(it - d_.sites.begin());
          break;
        }
        case OverflowAction::ToIvr:
        case OverflowAction::Announcement: {
          char* end = nullptr;
          const unsigned long v = std::strtoul(p.target.c_str(), &end, 10);
          if (p.target.empty() || *end != '\0' || v > 0xFFFFFFFFul) {
            c_.error(p.where, what + (p.action == OverflowAction::ToIvr
                                          ? ": an IVR target is the IVR application's number, "
                                            "e.g. target = \"9000\""
                                          : ": an announcement's target is its number on the "
                                            "switch, e.g. target = \"7001\""));
          }
          resolved = static_cast<std::uint32_t>(v);
          break;
        }
        case OverflowAction::Callback:
        case OverflowAction::CallbackKeepPlace:
        case OverflowAction::Busy:
          break;
      }
      if (service) {
        d_.engine.services[p.queue].target = resolved;
      } else if (step) {
        action->target = resolved;
      } else if (router::QueueConfig& q = *qp; p.rule < 0) {
        q.max_wait_target = resolved;
      } else {
        q.overflow[static_cast<std::size_t>(p.rule)].target = resolved;
      }
    }
  }

  // Overflow chains must not loop (A -> B -> A): a call would bounce until max_overflow_hops.
  // A depth-first search over the queue-to-queue rules; each loop is reported once.
  void overflow_loops() {
    const std::size_t n = d_.engine.queues.size();
    std::vector<std::vector<router::QueueIndex>> next(n);
    for (std::size_t qi = 0; qi < n; ++qi) {
      const auto& q = d_.engine.queues[qi];
      for (const auto& r : q.overflow) {
        if (r.action == OverflowAction::ToQueue && r.target < n && r.target != qi) {
          next[qi].push_back(r.target);
        }
      }
      if (q.max_wait_ms > 0 && q.max_wait_action == OverflowAction::ToQueue &&
          q.max_wait_target < n && q.max_wait_target != qi) {
        next[qi].push_back(q.max_wait_target);
      }
      for (const auto& a : q.surge.actions) {
        if (!a.borrow && a.action == OverflowAction::ToQueue && a.target < n && a.target != qi) {
          next[qi].push_back(a.target);
        }
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
            chain += d_.engine.queues[*it].name + " -> ";
          }
          chain += d_.engine.queues[to].name;
          if (reported.insert(chain).second) {
            c_.error(queue_nodes_[to], "overflow chain loops: " + chain +
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

  // A service's diversion into a queue: it serves the media of every queue depending on the
  // service, and does not depend on the service itself (its calls would be diverted again).
  void service_target(const PendingTarget& p, router::QueueIndex to) {
    const std::string what = "service '" + d_.engine.services[p.queue].name + "'";
    const router::QueueConfig& target = d_.engine.queues[to];
    for (const router::QueueConfig& q : d_.engine.queues) {
      const auto s = static_cast<std::uint32_t>(p.queue);
      if (std::find(q.services.begin(), q.services.end(), s) != q.services.end() &&
          q.media != target.media) {
        c_.error(p.where, what + ": diversion queue '" + target.name + "' serves " +
                              std::string(router::to_string(target.media)) + ", but queue '" +
                              q.name + "', which depends on the service, serves " +
                              std::string(router::to_string(q.media)));
      }
    }
    if (std::find(target.services.begin(), target.services.end(),
                  static_cast<std::uint32_t>(p.queue)) != target.services.end()) {
      c_.error(p.where, what + ": diversion queue '" + target.name +
                            "' depends on this service: its calls would be diverted again; "
                            "divert to a queue that does not need it");
    }
  }

  // Diversions must not loop between services (core diverts to a queue that needs ledger, whose
  // diversion goes to a queue that needs core): with both down a call would bounce. Each loop is
  // reported once, at the diversion of the service where it closes.
  void service_loops() {
    const auto& services = d_.engine.services;
    const std::size_t n = services.size();
    std::vector<std::vector<std::size_t>> next(n);
    std::vector<const toml::node*> where(n, nullptr);
    for (const PendingTarget& p : targets_) {
      if (p.rule == -100 && p.queue < n) {
        where[p.queue] = p.where;
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (services[i].action == OverflowAction::ToQueue &&
          services[i].target < d_.engine.queues.size()) {
        for (const std::uint32_t s : d_.engine.queues[services[i].target].services) {
          if (s != i && s < n) {
            next[i].push_back(s);
          }
        }
      }
    }
    std::vector<int> state(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<std::size_t> path;
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
      state[i] = 1;
      path.push_back(i);
      for (const std::size_t to : next[i]) {
        if (state[to] == 1) {
          std::string chain;
          for (auto it = std::find(path.begin(), path.end(), to); it != path.end(); ++it) {
            chain += services[*it].name + " -> ";
          }
          c_.error(where[i], "service diversions loop: " + chain + services[to].name +
                                 " (each diverts to a queue that needs the next); end the "
                                 "loop with an announcement, IVR, site, callback or busy");
        } else if (state[to] == 0) {
          visit(to);
        }
      }
      path.pop_back();
      state[i] = 2;
    };
    for (std::size_t i = 0; i < n; ++i) {
      if (state[i] == 0) {
        visit(i);
      }
    }
  }

  // Agents, one by one or in groups.
  void agents() {
    if (const toml::array* list = root_["agent"].as_array()) {
      for (const toml::node& n : *list) {
        const toml::table* t = n.as_table();
        if (t == nullptr) {
          c_.error(&n, "[[agent]] must be a table");
          continue;
        }
        c_.only(*t, {"id", "name", "skills", "chat_capacity", "reserved", "preference"},
                "[[agent]]");
        router::AgentNumber number = 0;
        if (!c_.number(*t, "id", number, 1, 9e15)) {
          if (t->get("id") == nullptr) {  // a bad value is reported already
            c_.error(&n, "an [[agent]] needs an 'id' (the number the agent signs in with)");
          }
          continue;
        }
        std::uint8_t chats = 0;
        c_.number(*t, "chat_capacity", chats, 0, 16);
        bool reserved = false;
        flag(*t, "reserved", reserved);
        router::AgentConfig preferred;
        preference(*t, "agent " + std::to_string(number), preferred);
        add_agent(number,
                  read_skill_levels(*t, "skills", "agent " + std::to_string(number),
                                    d_.skill_names, c_),
                  chats, &n, reserved, preferred);
      }
    } else if (root_.get("agent") != nullptr) {
      c_.error(root_.get("agent"), "'agent' must be [[agent]] tables");
    }
    if (const toml::array* list = root_["agent_group"].as_array()) {
      for (const toml::node& n : *list) {
        const toml::table* t = n.as_table();
        if (t == nullptr) {
          c_.error(&n, "[[agent_group]] must be a table");
          continue;
        }
        agent_group(n, *t);
      }
    } else if (root_.get("agent_group") != nullptr) {
      c_.error(root_.get("agent_group"), "'agent_group' must be [[agent_group]] tables");
    }
    // The old spelling is reported already: no second message for the agents it meant.
    if (d_.engine.agents.empty() && root_.get("agents") == nullptr) {
      c_.error(nullptr, "no agents: add [[agent]] or [[agent_group]] tables");
    }
  }

  void agent_group(const toml::node& n, const toml::table& t) {
    c_.only(t, {"first_id", "count", "skills", "chat_capacity", "reserved", "preference"},
            "[[agent_group]]");
    router::AgentNumber first = 0;
    std::uint32_t count = 0;
    const bool first_ok = c_.number(t, "first_id", first, 1, 9e15);
    const bool count_ok = c_.number(t, "count", count, 1, 2'000'000);
    if (!first_ok || !count_ok) {
      if (t.get("first_id") == nullptr || t.get("count") == nullptr) {
        c_.error(&n, "an [[agent_group]] needs 'first_id' and 'count'");
      }
      return;
    }
    std::uint8_t chats = 0;
    c_.number(t, "chat_capacity", chats, 0, 16);
    bool reserved = false;
    flag(t, "reserved", reserved);
    const auto levels = read_skill_levels(t, "skills", "agent group from " + std::to_string(first),
                                          d_.skill_names, c_);
    router::AgentConfig preferred;
    preference(t, "agent group from " + std::to_string(first), preferred);
    // IDs the group shares with agents defined before it: one message for the whole overlap.
    std::uint32_t reused = 0;
    router::AgentNumber reused_first = 0;
    router::AgentNumber reused_last = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (numbers_.count(first + i) != 0) {
        reused_first = reused == 0 ? first + i : reused_first;
        reused_last = first + i;
        ++reused;
        continue;
      }
      add_agent(first + i, levels, chats, &n, reserved, preferred);
    }
    if (reused == 1) {
      c_.error(&n, "agent group from " + std::to_string(first) + ": agent ID " +
                       std::to_string(reused_first) + " is defined already; agent IDs are unique");
    } else if (reused > 1) {
      c_.error(&n, "agent group from " + std::to_string(first) + ": " + std::to_string(reused) +
                       " of its agent IDs (" + std::to_string(reused_first) + " to " +
                       std::to_string(reused_last) +
                       ") are defined already; agent IDs are unique, move first_id or count");
    }
  }

  void add_agent(router::AgentNumber number, const std::vector<router::SkillRequirement>& levels,
                 std::uint8_t chats, const toml::node* where, bool reserved,
                 const router::AgentConfig& preferred) {
    if (number == 0 || !numbers_.insert(number).second) {
      c_.error(where, "agent ID " + std::to_string(number) +
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
    a.reserved = reserved;
    a.preference = preferred.preference;
    a.preference_order = preferred.preference_order;
    d_.engine.agents.push_back(std::move(a));
  }

  const toml::table& root_;
  TomlChecker& c_;
  const Program program_;
  DomainConfig d_;
  std::map<std::string, router::QueueIndex> queue_index_;
  std::vector<PendingTarget> targets_;
  std::vector<const toml::node*> queue_nodes_;
  std::set<router::AgentNumber> numbers_;
  router::QueueConfig selection_defaults_;  // [call_selection]
  router::SurgeConfig surge_defaults_;       // [surge]: min_dwell_s, exit_hold_s
};

}  // namespace

router::SkillId skill_id(const std::vector<std::string>& skills, std::string_view name) {
  const auto it = std::find(skills.begin(), skills.end(), name);
  return it == skills.end() ? router::kNoSkill : static_cast<router::SkillId>(it - skills.begin());
}

std::vector<router::SkillRequirement> read_skill_levels(const toml::table& t, std::string_view key,
                                                        const std::string& what,
                                                        const std::vector<std::string>& skills,
                                                        TomlChecker& check) {
  std::vector<router::SkillRequirement> out;
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    return out;
  }
  const toml::table* levels = n->as_table();
  if (levels == nullptr) {
    check.error(n, what + ": '" + std::string(key) + "' must be a table of skill = proficiency (1..10)");
    return out;
  }
  for (const auto& [name, level] : *levels) {
    const router::SkillId id = skill_id(skills, name.str());
    const std::optional<std::int64_t> v = level.value<std::int64_t>();
    if (id == router::kNoSkill) {
      check.error(&level, what + ": skill '" + std::string(name.str()) +
                              "' is not defined; add it to 'skills'");
    } else if (!v || *v < 1 || *v > 10) {
      check.error(&level, what + ": proficiency of '" + std::string(name.str()) + "' must be 1..10");
    } else {
      out.push_back(router::SkillRequirement{id, static_cast<std::uint8_t>(*v), 0});
    }
  }
  return out;
}

DomainConfig read_domain(const toml::table& root, TomlChecker& check, Program program) {
  return DomainReader(root, check, program).read();
}

}  // namespace acd::domain
