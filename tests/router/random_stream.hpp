// A seeded generator of plausible (and some deliberately wrong) event streams for a mid-size
// routing domain, for invariant and determinism tests and for benchmarks of mixed traffic.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "acd/router/engine.hpp"

namespace acd::router::testing {

// std::mt19937_64 is specified bit for bit by the standard; the distributions are not, so we
// reduce by hand.
class Dice {
 public:
  explicit Dice(std::uint64_t seed) : gen_(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : gen_() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::mt19937_64 gen_;
};

inline EngineConfig random_domain(std::uint64_t seed, std::uint32_t agents = 60,
                                  std::uint32_t skills = 12, std::uint32_t queues = 8) {
  Dice dice(seed);
  EngineConfig c;
  c.skill_count = skills;
  c.max_calls = 256;
  c.max_overflow_hops = 3;
  c.outbound_reserve_ms = 12'000;
  for (std::uint32_t q = 0; q < queues; ++q) {
    QueueConfig qc;
    qc.name = "q";  // appended, not "q" + to_string(q): GCC 12's false -Wrestrict at -O3
    qc.name += std::to_string(q);
    qc.skills = {SkillRequirement{static_cast<SkillId>(q % skills),
                                  static_cast<std::uint8_t>(1 + q % 3), 0}};
    qc.policy = static_cast<Policy>(q % 5);
    qc.media = q == queues - 1 ? Media::Chat : Media::Voice;
    qc.ring_timeout_ms = 8'000;
    qc.wrap_up_ms = q % 2 == 0 ? 5'000 : 0;
    qc.sl_threshold_ms = 10'000 + 5'000 * q;
    qc.expected_aht_ms = 60'000;
    qc.tier_priority_boost = {0, 1, 2, 4};
    if (q + 2 < queues) {
      qc.overflow.push_back(
          {OverflowCondition::QueueLengthAtLeast, OverflowAction::ToQueue, 6, q + 1});
      qc.overflow.push_back({OverflowCondition::WaitAtLeast, OverflowAction::ToQueue, 40'000,
                             (q + 2) % (queues - 1)});
    }
    if (q % 3 == 0) {
      qc.overflow.push_back({OverflowCondition::EwtAtLeast, OverflowAction::Callback, 900'000, 0});
      qc.max_wait_ms = 120'000;
      qc.max_wait_action = OverflowAction::ToIvr;
    }
    if (q == 1) {
      qc.min_verification = 1;
    }
    c.queues.push_back(qc);
  }
  for (std::uint32_t a = 0; a < agents; ++a) {
    AgentConfig ac;
    ac.number = 5000 + a;
    const std::uint64_t n = 1 + dice.below(4);
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto s = static_cast<SkillId>(dice.below(skills));
      bool dup = false;
      for (const auto& have : ac.skills) {
        dup = dup || have.skill == s;
      }
      if (!dup) {
        ac.skills.push_back({s, static_cast<std::uint8_t>(1 + dice.below(10)), 0});
      }
    }
    if (dice.chance(30)) {
      ac.capacity[static_cast<int>(Media::Chat)] = static_cast<std::uint8_t>(2 + dice.below(2));
    }
    c.agents.push_back(ac);
  }
  return c;
}

// The same domain with every call-selection rule in use (by queue), agents preferring their
// queues by proficiency or by an explicit order, reserve thresholds and expanding requirements.
inline EngineConfig with_selection(EngineConfig c) {
  for (std::size_t q = 0; q < c.queues.size(); ++q) {
    QueueConfig& qc = c.queues[q];
    qc.call_selection = static_cast<CallSelection>(q % 4);
    qc.predicted_wait = q % 2 == 1;
    qc.share = static_cast<std::uint16_t>(1 + q % 3);
    qc.wait_weight = 500 + 250 * static_cast<std::uint32_t>(q);
    qc.idle_weight = q % 3 == 0 ? 1'000 : 0;
    qc.reserve_after_ms = q % 2 == 0 ? 8'000 : 0;
    if (q % 3 != 2) {
      qc.expand = {{0, 9}, {5'000, 6}, {15'000, 3}};
    }
  }
  for (std::size_t a = 0; a < c.agents.size(); ++a) {
    AgentConfig& ac = c.agents[a];
    if (a % 3 == 1) {
      ac.preference = AgentPreference::Proficiency;
    } else if (a % 3 == 2) {
      ac.preference = AgentPreference::Order;
      for (auto it = ac.skills.rbegin(); it != ac.skills.rend(); ++it) {
        ac.preference_order.push_back(it->skill);
      }
    }
  }
  return c;
}

// Produces the next event from the engine's current state: mostly valid moves for a random call
// or agent, sometimes a wrong one (which must give an Error and change nothing).
class StreamGenerator {
 public:
  StreamGenerator(std::uint64_t seed, const EngineConfig& config) : dice_(seed), config_(config) {}

  Event next(const Engine& engine) {
    time_ms_ += dice_.below(100) < 3 ? dice_.below(60'000) : dice_.below(1'500);
    Event e;
    e.time = time_ms_ * 1000;
    const std::uint64_t roll = dice_.below(100);
    if (roll < 2) {
      return garbage(e);
    }
    if (roll < 30) {
      return new_call(e);
    }
    if (roll < 65 && !live_.empty()) {
      return call_move(engine, e);
    }
    return agent_move(engine, e);
  }

  // Live call IDs are pruned lazily against the engine.
  void forget_gone(const Engine& engine) {
    for (std::size_t i = 0; i < live_.size();) {
      if (!engine.call(live_[i]).has_value()) {
        live_[i] = live_.back();
        live_.pop_back();
      } else {
        ++i;
      }
    }
  }

 private:
  Event garbage(Event e) {
    e.type = static_cast<EventType>(dice_.below(static_cast<std::uint64_t>(EventType::kCount) + 2));
    e.agent = static_cast<AgentIndex>(dice_.below(config_.agents.size() + 3));
    e.queue = static_cast<QueueIndex>(dice_.below(config_.queues.size() + 3));
    e.call = dice_.below(next_call_ + 5);
    e.priority = static_cast<std::uint8_t>(dice_.below(20));
    e.tier = static_cast<std::uint8_t>(dice_.below(6));
    e.skill_count = static_cast<std::uint8_t>(dice_.below(6));
    e.media = static_cast<Media>(dice_.below(kMediaCount));
    e.number = 5000 + dice_.below(config_.agents.size() + 10);
    return e;
  }

  Event new_call(Event e) {
    const auto q = static_cast<QueueIndex>(dice_.below(config_.queues.size()));
    e.call = next_call_++;
    e.queue = q;
    e.media = config_.queues[q].media;
    e.priority = static_cast<std::uint8_t>(dice_.chance(80) ? 0 : dice_.below(kPriorityLevels));
    e.tier = static_cast<std::uint8_t>(dice_.below(kTierCount));
    e.verification = static_cast<std::uint8_t>(dice_.below(3));
    if (dice_.chance(10)) {
      e.language = static_cast<SkillId>(dice_.below(config_.skill_count));
    }
    if (dice_.chance(10)) {
      e.skill_count = 1;
      e.skills[0] = {static_cast<SkillId>(dice_.below(config_.skill_count)),
                     static_cast<std::uint8_t>(1 + dice_.below(5)), 0};
    }
    if (dice_.chance(8)) {
      // Up to the top level, often beside a language or another skill: many of these are
      // combinations no agent of the queue has (unservable calls).
      e.skills[e.skill_count++] = {static_cast<SkillId>(dice_.below(config_.skill_count)),
                                   static_cast<std::uint8_t>(1 + dice_.below(kMaxProficiency)), 0};
    }
    if (dice_.chance(5)) {
      e.type = dice_.chance(50) ? EventType::OutboundToQueue : EventType::OutboundToAgentId;
      e.number = 5000 + dice_.below(config_.agents.size());
    } else {
      e.type = EventType::RouteRequest;
    }
    live_.push_back(e.call);
    return e;
  }

  Event call_move(const Engine& engine, Event e) {
    e.call = live_[dice_.below(live_.size())];
    const std::optional<CallView> view = engine.call(e.call);
    const CallState state = view ? view->state : CallState::Free;
    switch (state) {
      case CallState::Queued:
        e.type = dice_.chance(70) ? EventType::CallAbandoned : EventType::CallAnswered;
        break;
      case CallState::Ringing:
        e.type = dice_.chance(75)
                     ? EventType::CallAnswered
                     : (dice_.chance(50) ? EventType::OfferRejected : EventType::CallReleased);
        break;
      case CallState::Active:
      case CallState::Held: {
        const std::uint64_t r = dice_.below(100);
        if (r < 45) {
          e.type = EventType::CallReleased;
        } else if (r < 65) {
          e.type = state == CallState::Active ? EventType::CallHeld : EventType::CallRetrieved;
        } else if (r < 75) {
          e.type = EventType::TransferToQueue;
          e.queue = static_cast<QueueIndex>(dice_.below(config_.queues.size()));
        } else if (r < 85) {
          e.type = EventType::TransferToAgent;
          e.agent = static_cast<AgentIndex>(dice_.below(config_.agents.size()));
        } else if (r < 95) {
          e.type = EventType::TransferToAgentId;
          e.number = 5000 + dice_.below(config_.agents.size() + 2);
        } else {
          e.type = EventType::CallAbandoned;  // wrong in this state
        }
        break;
      }
      case CallState::Free:
        e.type = EventType::CallReleased;  // already gone: UnknownCall
        break;
    }
    return e;
  }

  Event agent_move(const Engine& engine, Event e) {
    e.agent = static_cast<AgentIndex>(dice_.below(config_.agents.size()));
    switch (engine.agent(e.agent).state) {
      case AgentState::LoggedOut:
        e.type = dice_.chance(90) ? EventType::AgentSignIn : EventType::AgentReady;
        e.device = 8000 + e.agent;
        break;
      case AgentState::NotReady:
        e.type = dice_.chance(80)
                     ? EventType::AgentReady
                     : (dice_.chance(50) ? EventType::AgentSignOut : EventType::ForceReady);
        break;
      case AgentState::Ready:
        e.type = dice_.chance(85)
                     ? EventType::Tick
                     : (dice_.chance(60) ? EventType::AgentNotReady : EventType::ForceLogout);
        e.reason = static_cast<std::uint16_t>(3 + dice_.below(5));
        break;
      case AgentState::WrapUp:
        e.type = dice_.chance(70) ? EventType::WrapUpDone : EventType::AgentReady;
        e.reason = static_cast<std::uint16_t>(dice_.below(40));
        e.device = dice_.below(1'000'000);
        break;
      case AgentState::Reserved:
      case AgentState::Busy:
        e.type = dice_.chance(90)
                     ? EventType::Tick
                     : (dice_.chance(50) ? EventType::AgentNotReady : EventType::AgentSignOut);
        e.reason = static_cast<std::uint16_t>(3 + dice_.below(5));
        break;
    }
    if (dice_.chance(1)) {
      e.type = EventType::NewDay;
    }
    return e;
  }

  Dice dice_;
  const EngineConfig& config_;
  std::uint64_t time_ms_ = 0;
  CallId next_call_ = 1;
  std::vector<CallId> live_;
};

}  // namespace acd::router::testing
