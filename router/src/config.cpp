// Configuration checks and the names of the router's enums.
#include "acd/router/config.hpp"

#include <algorithm>
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
  if (static_cast<int>(r.action) > static_cast<int>(OverflowAction::Busy)) {
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

}  // namespace

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
    if (static_cast<int>(qc.policy) > static_cast<int>(Policy::LeastTalkTime)) {
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
    if (qc.max_wait_ms > 0) {
      check_rule(c, q,
                 OverflowRule{OverflowCondition::WaitAtLeast, qc.max_wait_action, qc.max_wait_ms,
                              qc.max_wait_target},
                 "max wait", errors);
    }
  }
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
                                                "fewest_calls", "least_talk_time"};
  return name_of(p, kNames);
}

std::string_view to_string(Media m) {
  static constexpr std::string_view kNames[] = {"voice", "chat", "email", "sms"};
  return name_of(m, kNames);
}

std::string_view to_string(OverflowAction a) {
  static constexpr std::string_view kNames[] = {"queue", "site", "ivr", "callback", "busy"};
  return name_of(a, kNames);
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
                                                "NewDay"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(EventType::kCount));
  return name_of(t, kNames);
}

std::string_view to_string(DecisionType t) {
  static constexpr std::string_view kNames[] = {
      "Offer",          "Queued",           "Overflowed",
      "Rejected",       "RingNoAnswer",     "AgentStateChanged",
      "TransferFailed", "OutboundReserved", "OutboundFailed",
      "WrapUpRecorded", "CallEnded",        "Error"};
  static_assert(std::size(kNames) == static_cast<std::size_t>(DecisionType::kCount));
  return name_of(t, kNames);
}

}  // namespace acd::router
