// A small harness around one Engine: builds configs, sends events, keeps the decisions.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "acd/router/engine.hpp"

namespace acd::router::testing {

inline QueueConfig make_queue(std::string name, std::vector<SkillRequirement> skills,
                              Policy policy = Policy::LongestIdle) {
  QueueConfig q;
  q.name = std::move(name);
  q.skills = std::move(skills);
  q.policy = policy;
  return q;
}

inline AgentConfig make_agent(AgentNumber number, std::vector<SkillLevel> skills) {
  AgentConfig a;
  a.number = number;
  a.skills = std::move(skills);
  return a;
}

class Harness {
 public:
  explicit Harness(const EngineConfig& config) : engine_(check(config)) {}

  static const EngineConfig& check(const EngineConfig& config) {
    const auto errors = validate_config(config);
    EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors.front());
    return config;
  }

  // Sends one event at `time` (ms) and returns the decisions it caused.
  const std::vector<Decision>& send(Event e, std::uint64_t time_ms) {
    e.time = time_ms * 1000;
    last_.clear();
    engine_.apply(e, [this](const Decision& d) { last_.push_back(d); });
    std::string why;
    EXPECT_TRUE(engine_.check_invariants(&why)) << why;
    return last_;
  }

  const std::vector<Decision>& tick(std::uint64_t time_ms) { return send(Event{}, time_ms); }

  const std::vector<Decision>& agent_event(EventType type, AgentIndex a, std::uint64_t t,
                                           std::uint16_t reason = 0) {
    Event e;
    e.type = type;
    e.agent = a;
    e.reason = reason;
    return send(e, t);
  }
  void sign_in_ready(AgentIndex a, std::uint64_t t) {
    agent_event(EventType::AgentSignIn, a, t);
    agent_event(EventType::AgentReady, a, t);
  }

  const std::vector<Decision>& route(CallId call, QueueIndex q, std::uint64_t t,
                                     std::uint8_t priority = 0, Media media = Media::Voice) {
    Event e;
    e.type = EventType::RouteRequest;
    e.call = call;
    e.queue = q;
    e.priority = priority;
    e.media = media;
    return send(e, t);
  }
  const std::vector<Decision>& call_event(EventType type, CallId call, std::uint64_t t) {
    Event e;
    e.type = type;
    e.call = call;
    return send(e, t);
  }

  // The first decision of a type in the last batch, or nullptr.
  const Decision* find(DecisionType type) const {
    for (const Decision& d : last_) {
      if (d.type == type) {
        return &d;
      }
    }
    return nullptr;
  }

  Engine& engine() { return engine_; }
  AgentState state(AgentIndex a) const { return engine_.agent(a).state; }

 private:
  Engine engine_;
  std::vector<Decision> last_;
};

}  // namespace acd::router::testing
