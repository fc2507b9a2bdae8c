// Configuration checks and the names of the router's enums.
#include "acd/router/config.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "acd/router/event.hpp"

namespace acd::router {

namespace {

std::string queue_label(const EngineConfig& c, std::size_t q) {
  std::ostringstream s;
  s << "queue " << q;
  if (!c.queues[q].name.empty()) {
    s << " (" << c.queues[q].name << ")";
  }
  return s.str();
}

void check_rule(const EngineConfig& c, std::size_t q, const OverflowRule& r,
                const std::string& what, std::vector<std::string>& errors) {
  const std::string where = queue_label(c, q) + " " + what;
  if (static_cast<int>(r.action) > static_cast<int>(kLastOverflowAction)) {
    errors.push_back(where + ": unknown action");
  }
  if (static_cast<int>(r.when) > static_cast<int>(OverflowCondition::EwtAtLeast)) {
    errors.push_back(where + ": unknown condition");
  }
  if (r.action == OverflowAction::ToQueue) {
    if (r.target >= c.queues.size()) {
      errors.push_back(where + ": target queue " + std::to_string(r.target) + " does not exist");
    } else if (r.target == q) {
      errors.push_back(where + ": overflows into itself");
    } else if (c.queues[r.target].media != c.queues[q].media) {
      errors.push_back(where + ": target queue " + std::to_string(r.target) + " has another media");
    } else if (c.queues[r.target].retired && !c.queues[q].retired) {
      errors.push_back(where + ": target queue " + std::to_string(r.target) + " is removed");
    }
  }
  if (r.when == OverflowCondition::WaitAtLeast && r.threshold == 0) {
    errors.push_back(where + ": a wait threshold must be at least 1 ms");
  }
}

void check_levels(const SurgeLevels& enter, const SurgeLevels& exit, const std::string& where,
                  std::vector<std::string>& errors) {
  const std::pair<const char*, std::pair<std::uint32_t, std::uint32_t>> metrics[] = {
      {"offered_per_min", {enter.offered_per_min, exit.offered_per_min}},
      {"queue_length", {enter.queue_length, exit.queue_length}},
      {"oldest_wait", {enter.oldest_wait_ms, exit.oldest_wait_ms}},
      {"ewt", {enter.ewt_ms, exit.ewt_ms}}};
  for (const auto& [name, levels] : metrics) {
    if (levels.first == 0 && levels.second != 0) {
      errors.push_back(where + ": surge exit level of " + name + " without an enter level");
    } else if (levels.first != 0 && levels.second >= levels.first) {
      errors.push_back(where + ": surge exit level of " + name +
                       " must be below its enter level (hysteresis)");
    }
  }
}

void check_surge(const EngineConfig& c, std::size_t q, std::vector<std::string>& errors) {
  const QueueConfig& qc = c.queues[q];
  const std::string where = queue_label(c, q);
  check_levels(qc.surge.enter, qc.surge.exit, where, errors);
  constexpr std::uint32_t kDayMs = 86'400'000;
  if (qc.surge.min_dwell_ms > kDayMs || qc.surge.exit_hold_ms > kDayMs) {
    errors.push_back(where + ": surge min_dwell and exit_hold must be at most a day");
  }
  if (qc.surge.actions.size() > kMaxSurgeActions) {
    errors.push_back(where + ": at most " + std::to_string(kMaxSurgeActions) + " surge actions");
  }
  for (std::size_t i = 0; i < qc.surge.actions.size(); ++i) {
    const SurgeAction& a = qc.surge.actions[i];
    const std::string what = where + " surge action " + std::to_string(i);
    if (a.borrow) {
      if (a.target >= c.queues.size()) {
        errors.push_back(what + ": lender queue " + std::to_string(a.target) + " does not exist");
      } else if (a.target == q) {
        errors.push_back(what + ": borrows from itself");
      } else if (c.queues[a.target].media != qc.media) {
        errors.push_back(what + ": lender queue " + std::to_string(a.target) +
                         " has another media");
      } else if (c.queues[a.target].reserved) {
        errors.push_back(what + ": lender queue " + std::to_string(a.target) +
                         " is reserved capacity; surge never borrows it");
      }
      if (a.min_level > kMaxProficiency) {
        errors.push_back(what + ": proficiency floor must be 0..10");
      }
      continue;
    }
    check_rule(c, q, OverflowRule{OverflowCondition::EwtAtLeast, a.action, a.min_ewt_ms, a.target},
               "surge action " + std::to_string(i), errors);
    if (a.action == OverflowAction::ToQueue && a.target < c.queues.size() &&
        c.queues[a.target].reserved) {
      errors.push_back(what + ": target queue " + std::to_string(a.target) +
                       " is reserved capacity; surge never overflows into it");
    }
  }
  if (qc.services.size() > kMaxQueueServices) {
    errors.push_back(where + ": at most " + std::to_string(kMaxQueueServices) + " services");
  }
  std::set<std::uint32_t> seen;
  for (const std::uint32_t s : qc.services) {
    if (s >= c.services.size()) {
      errors.push_back(where + ": service " + std::to_string(s) + " does not exist");
    } else if (!seen.insert(s).second) {
      errors.push_back(where + ": service " + std::to_string(s) + " listed twice");
    }
  }
}

// A service's diversion gets the checks an overflow target gets: a queue that exists, serves the
// media of every queue depending on the service, is not retired (unless they all are), and does
// not itself depend on the service; and no loop through diversions (core diverts to a queue that
// needs ledger, whose diversion goes to a queue that needs core): with both down, a call would
// bounce between them.
void check_services(const EngineConfig& c, std::vector<std::string>& errors) {
  auto label = [&](std::size_t i) {
    return "service " + std::to_string(i) + " (" + c.services[i].name + ")";
  };
  // next[i]: the services the queue service i diverts to depends on.
  std::vector<std::vector<std::size_t>> next(c.services.size());
  for (std::size_t i = 0; i < c.services.size(); ++i) {
    const ServiceConfig& sc = c.services[i];
    const std::string where = label(i);
    if (static_cast<int>(sc.action) > static_cast<int>(kLastOverflowAction) ||
        sc.action == OverflowAction::CallbackKeepPlace) {
      errors.push_back(where +
                       ": a diversion is an announcement, a queue, a site, an IVR, a "
                       "callback or busy");
      continue;
    }
    if (sc.action != OverflowAction::ToQueue) {
      continue;
    }
    if (sc.target >= c.queues.size()) {
      errors.push_back(where + ": target queue " + std::to_string(sc.target) + " does not exist");
      continue;
    }
    const QueueConfig& to = c.queues[sc.target];
    bool all_retired = true;
    for (std::size_t q = 0; q < c.queues.size(); ++q) {
      const QueueConfig& from = c.queues[q];
      if (std::find(from.services.begin(), from.services.end(), i) == from.services.end()) {
        continue;
      }
      all_retired = all_retired && from.retired;
      if (to.media != from.media) {
        errors.push_back(where + ": target queue " + std::to_string(sc.target) +
                         " has another media than " + queue_label(c, q) + ", which depends on it");
      }
    }
    if (to.retired && !all_retired) {
      errors.push_back(where + ": target queue " + std::to_string(sc.target) + " is removed");
    }
    for (const std::uint32_t s : to.services) {
      if (s == i) {
        errors.push_back(where + ": target queue " + std::to_string(sc.target) +
                         " depends on this service: its calls would be diverted again");
      } else if (s < c.services.size()) {
        next[i].push_back(s);
      }
    }
  }
  // Loops of two or more services, each reported once (at its first service).
  std::vector<int> state(c.services.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::size_t> path;
  std::function<void(std::size_t)> visit = [&](std::size_t i) {
    state[i] = 1;
    path.push_back(i);
    for (const std::size_t to : next[i]) {
      if (state[to] == 1) {
        std::string chain;
        for (auto it = std::find(path.begin(), path.end(), to); it != path.end(); ++it) {
          chain += c.services[*it].name + " -> ";
        }
        errors.push_back(label(to) + ": diversions loop: " + chain + c.services[to].name);
      } else if (state[to] == 0) {
        visit(to);
      }
    }
    path.pop_back();
    state[i] = 2;
  };
  for (std::size_t i = 0; i < c.services.size(); ++i) {
    if (state[i] == 0) {
      visit(i);
    }
  }
}

// Site numbers: in range, distinct, none this site's; a site rule names a listed site or any.
void check_sites(const EngineConfig& c, std::vector<std::string>& errors) {
  if (c.site_number > kMaxSiteNumber) {
    errors.push_back("site number must be 0.." + std::to_string(kMaxSiteNumber));
  }
  // A peer numbered like this site is the domain reader's to report (with the file's line).
  std::set<std::uint8_t> seen;
  for (std::size_t i = 0; i < c.site_numbers.size(); ++i) {
    const std::uint8_t n = c.site_numbers[i];
    if (n > kMaxSiteNumber) {
      errors.push_back("site " + std::to_string(i) + ": number must be 0.." +
                       std::to_string(kMaxSiteNumber));
    } else if (!seen.insert(n).second) {
      errors.push_back("site " + std::to_string(i) + ": number " + std::to_string(n) +
                       " is taken by another site; give each site its own");
    }
  }
  if (c.site_summary_max_age_ms == 0) {
    errors.push_back("site_summary_max_age_ms must be > 0");
  }
  std::set<std::uint32_t> keys;
  for (std::size_t q = 0; q < c.queues.size(); ++q) {
    if (!c.queues[q].name.empty() && !keys.insert(queue_key(c.queues[q].name)).second) {
      errors.push_back(queue_label(c, q) +
                       ": its name's key (between sites) equals another queue's; rename one");
    }
  }
}

// Call selection, skill preference and expanding requirements of one queue.
void check_selection(const QueueConfig& qc, const std::string& where,
                     std::vector<std::string>& errors) {
  if (static_cast<int>(qc.call_selection) > static_cast<int>(kLastCallSelection)) {
    errors.push_back(where + ": unknown call selection");
  }
  if (qc.share < 1 || qc.share > kMaxShare) {
    errors.push_back(where + ": share must be 1.." + std::to_string(kMaxShare));
  }
  if (qc.wait_weight > kMaxSelectionWeight || qc.idle_weight > kMaxSelectionWeight) {
    errors.push_back(where + ": wait_weight and idle_weight must be 0..1000");
  }
  if (qc.expand.size() > kMaxExpandSteps) {
    errors.push_back(where + ": at most " + std::to_string(kMaxExpandSteps) + " expand steps");
  }
  for (std::size_t i = 0; i < qc.expand.size(); ++i) {
    const ExpandStep& step = qc.expand[i];
    const std::string what = where + " expand step " + std::to_string(i);
    if (step.min_level < 1 || step.min_level > kMaxProficiency) {
      errors.push_back(what + ": min_level must be 1..10");
    }
    if (i > 0 && step.after_ms <= qc.expand[i - 1].after_ms) {
      errors.push_back(what + ": after_s must be later than the step before");
    }
    if (i > 0 && step.min_level > qc.expand[i - 1].min_level) {
      errors.push_back(what + ": min_level may only fall from one step to the next");
    }
  }
}

void check_preference(const EngineConfig& c, const AgentConfig& ac, const std::string& where,
                      std::vector<std::string>& errors) {
  if (static_cast<int>(ac.preference) > static_cast<int>(AgentPreference::Order)) {
    errors.push_back(where + ": unknown preference");
  }
  if (ac.preference != AgentPreference::Order && !ac.preference_order.empty()) {
    errors.push_back(where + ": a preference order needs preference Order");
  }
  std::set<SkillId> listed;
  for (SkillId s : ac.preference_order) {
    if (s >= c.skill_count) {
      errors.push_back(where + ": preferred skill " + std::to_string(s) + " is not defined");
    } else if (!listed.insert(s).second) {
      errors.push_back(where + ": preferred skill " + std::to_string(s) + " listed twice");
    }
  }
}

}  // namespace

bool has_surge_plan(const QueueConfig& q) {
  const SurgeLevels& e = q.surge.enter;
  return !q.surge.actions.empty() || e.offered_per_min != 0 || e.queue_length != 0 ||
         e.oldest_wait_ms != 0 || e.ewt_ms != 0;
}

std::vector<std::string> validate_config(const EngineConfig& c) {
  std::vector<std::string> errors;
  if (c.skill_count == 0 || c.skill_count > kNoSkill) {
    errors.push_back("skill_count must be 1.." + std::to_string(kNoSkill));
  }
  if (c.queues.empty()) {
    errors.push_back("at least one queue is needed");
  }
  if (c.queues.size() >= kNone || c.agents.size() >= kNone) {
    errors.push_back("too many queues or agents");
  }
  if (c.max_calls == 0 || c.max_calls >= (1u << 30)) {
    errors.push_back("max_calls must be 1..2^30");
  }
  for (std::size_t q = 0; q < c.queues.size(); ++q) {
    const QueueConfig& qc = c.queues[q];
    const std::string where = queue_label(c, q);
    if (static_cast<int>(qc.media) >= kMediaCount) {
      errors.push_back(where + ": unknown media");
    }
    if (static_cast<int>(qc.policy) > static_cast<int>(kLastPolicy)) {
      errors.push_back(where + ": unknown policy");
    }
    if (qc.skills.empty() || qc.skills.size() > kMaxQueueSkills) {
      errors.push_back(where + ": needs 1.." + std::to_string(kMaxQueueSkills) + " skills");
    }
    std::set<SkillId> distinct;
    for (const SkillRequirement& r : qc.skills) {
      if (r.skill >= c.skill_count) {
        errors.push_back(where + ": skill " + std::to_string(r.skill) + " is not defined");
      }
      if (r.min_level < 1 || r.min_level > kMaxProficiency) {
        errors.push_back(where + ": minimum proficiency must be 1..10");
      }
      if (!distinct.insert(r.skill).second) {
        errors.push_back(where + ": skill " + std::to_string(r.skill) + " listed twice");
      }
    }
    if (qc.sl_threshold_ms == 0 || qc.sl_target_permille > 1000) {
      errors.push_back(where +
                       ": service level needs a threshold > 0 and a target of 0..1000 permille");
    }
    if (qc.ring_timeout_ms == 0) {
      errors.push_back(where + ": ring_timeout_ms must be > 0");
    }
    const std::size_t rule_count = qc.overflow.size() + (qc.max_wait_ms > 0 ? 1 : 0);
    if (rule_count > kMaxOverflowRules) {
      errors.push_back(where + ": at most " + std::to_string(kMaxOverflowRules) +
                       " overflow rules (max wait included)");
    }
    for (std::size_t i = 0; i < qc.overflow.size(); ++i) {
      check_rule(c, q, qc.overflow[i], "overflow rule " + std::to_string(i), errors);
    }
    check_surge(c, q, errors);
    check_selection(qc, where, errors);
    if (qc.max_wait_ms > 0) {
      check_rule(c, q,
                 OverflowRule{OverflowCondition::WaitAtLeast, qc.max_wait_action, qc.max_wait_ms,
                              qc.max_wait_target},
                 "max wait", errors);
    }
  }
  if (c.surge_eval_ms == 0) {
    errors.push_back("surge_eval_ms must be > 0");
  }
  check_sites(c, errors);
  if (c.services.size() > kMaxServices) {
    errors.push_back("at most " + std::to_string(kMaxServices) + " services");
  }
  check_services(c, errors);
  std::set<AgentNumber> numbers;
  for (std::size_t a = 0; a < c.agents.size(); ++a) {
    const AgentConfig& ac = c.agents[a];
    const std::string where =
        "agent " + std::to_string(a) + " (ID " + std::to_string(ac.number) + ")";
    if (ac.number == 0) {
      errors.push_back(where + ": agent ID 0 is reserved");
    } else if (!numbers.insert(ac.number).second) {
      errors.push_back(where + ": agent ID is used twice");
    }
    if (ac.skills.size() > 0xFFFF) {
      errors.push_back(where + ": too many skills");
    }
    std::set<SkillId> distinct;
    for (const SkillLevel& s : ac.skills) {
      if (s.skill >= c.skill_count) {
        errors.push_back(where + ": skill " + std::to_string(s.skill) + " is not defined");
      }
      if (s.level < 1 || s.level > kMaxProficiency) {
        errors.push_back(where + ": proficiency must be 1..10");
      }
      if (!distinct.insert(s.skill).second) {
        errors.push_back(where + ": skill " + std::to_string(s.skill) + " listed twice");
      }
    }
    check_preference(c, ac, where, errors);
  }
  return errors;
}

std::vector<std::string> validate_config(const EngineConfig& c, std::size_t site_count) {
  std::vector<std::string> errors = validate_config(c);
  auto check = [&](OverflowAction action, std::uint32_t target, const std::string& where) {
    if (action == OverflowAction::ToSite && target != kAnySite && target >= site_count) {
      errors.push_back(where + ": site " + std::to_string(target) + " does not exist (" +
                       std::to_string(site_count) + " other sites)");
    }
  };
  for (std::size_t q = 0; q < c.queues.size(); ++q) {
    const QueueConfig& qc = c.queues[q];
    for (std::size_t i = 0; i < qc.overflow.size(); ++i) {
      check(qc.overflow[i].action, qc.overflow[i].target,
            queue_label(c, q) + " overflow rule " + std::to_string(i));
    }
    if (qc.max_wait_ms > 0) {
      check(qc.max_wait_action, qc.max_wait_target, queue_label(c, q) + " max wait");
    }
    for (std::size_t i = 0; i < qc.surge.actions.size(); ++i) {
      if (!qc.surge.actions[i].borrow) {
        check(qc.surge.actions[i].action, qc.surge.actions[i].target,
              queue_label(c, q) + " surge action " + std::to_string(i));
      }
    }
  }
  for (std::size_t i = 0; i < c.services.size(); ++i) {
    check(c.services[i].action, c.services[i].target,
          "service " + std::to_string(i) + " (" + c.services[i].name + ")");
  }
  return errors;
}

namespace {
template <typename E, std::size_t N>
std::string_view name_of(E value, const std::string_view (&names)[N]) {
  const auto i = static_cast<std::size_t>(value);
  return i < N ? names[i] : std::string_view{"unknown"};
}
}  // namespace

std::string_view to_string(Status s) {
  static constexpr std::string_view kNames[] = {
#define ACD_X(name, text) #name,
      ACD_ROUTER_STATUS_LIST(ACD_X)
#undef ACD_X
  };
  return name_of(s, kNames);
}

std::string_view describe(Status s) {
  static constexpr std::string_view kTexts[] = {
#define ACD_X(name, text) text,
      ACD_ROUTER_STATUS_LIST(ACD_X)
#undef ACD_X
  };
  return name_of(s, kTexts);
}

std::string_view to_string(AgentState s) {
  static constexpr std::string_view kNames[] = {"LoggedOut", "NotReady", "Ready",
                                                "Reserved",  "Busy",     "WrapUp"};
  return name_of(s, kNames);
}

std::string_view to_string(Policy p) {
  static constexpr std::string_view kNames[] = {"longest_idle", "most_skilled", "round_robin",
                                                "fewest_calls", "least_talk_time", "least_needed"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(kLastPolicy) + 1);
  return name_of(p, kNames);
}

std::string_view to_string(CallSelection s) {
  static constexpr std::string_view kNames[] = {"aged_priority", "greatest_need", "queue_ratio",
                                                "weighted_wait"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(kLastCallSelection) + 1);
  return name_of(s, kNames);
}

std::string_view to_string(Media m) {
  static constexpr std::string_view kNames[] = {"voice", "chat", "email", "sms"};
  return name_of(m, kNames);
}

std::string_view to_string(OverflowAction a) {
  static constexpr std::string_view kNames[] = {
      "queue", "site", "ivr", "callback", "busy", "announcement", "callback_keep_place"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(kLastOverflowAction) + 1);
  return name_of(a, kNames);
}

std::string_view to_string(SurgeForce f) {
  static constexpr std::string_view kNames[] = {"auto", "on", "off"};
  return name_of(f, kNames);
}

std::string_view to_string(CallState s) {
  static constexpr std::string_view kNames[] = {"free", "queued", "ringing", "active", "held"};
  return name_of(s, kNames);
}

std::string_view to_string(EventType t) {
  static constexpr std::string_view kNames[] = {"Tick",
                                                "AgentSignIn",
                                                "AgentSignOut",
                                                "AgentReady",
                                                "AgentNotReady",
                                                "WrapUpDone",
                                                "ForceReady",
                                                "ForceLogout",
                                                "RouteRequest",
                                                "OfferRejected",
                                                "CallAnswered",
                                                "CallHeld",
                                                "CallRetrieved",
                                                "CallReleased",
                                                "CallAbandoned",
                                                "TransferToQueue",
                                                "TransferToAgent",
                                                "TransferToAgentId",
                                                "OutboundToQueue",
                                                "OutboundToAgentId",
                                                "NewDay",
                                                "SurgeControl",
                                                "ServiceControl",
                                                "SiteSummary"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(EventType::kCount));
  return name_of(t, kNames);
}

std::string_view to_string(DecisionType t) {
  static constexpr std::string_view kNames[] = {
      "Offer",          "Queued",           "Overflowed",
      "Rejected",       "RingNoAnswer",     "AgentStateChanged",
      "TransferFailed", "OutboundReserved", "OutboundFailed",
      "WrapUpRecorded", "CallEnded",        "Error",
      "SurgeChanged",   "ServiceChanged"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(DecisionType::kCount));
  return name_of(t, kNames);
}

}  // namespace acd::router
