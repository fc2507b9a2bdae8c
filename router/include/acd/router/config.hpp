// The configuration of one routing domain: its skills, queues and agents, and the pool sizes the
// engine allocates once at start-up.
//
// A config is plain data built by a thin shell: acd::domain (router/domain/) reads it from acdd's
// acd.toml and acd-sim's scenario files alike. validate_config() checks everything the engine
// relies on; the engine is only constructed from a config that validated cleanly.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "acd/router/types.hpp"

namespace acd::router {

struct OverflowRule {
  OverflowCondition when = OverflowCondition::WaitAtLeast;
  OverflowAction action = OverflowAction::Busy;
  std::uint32_t threshold = 0;  // milliseconds or a call count, per `when`
  std::uint32_t target = 0;     // queue index, site or IVR number, per `action`
};

struct QueueConfig {
  std::string name;
  Media media = Media::Voice;
  std::vector<SkillRequirement> skills;  // an agent serves the queue if it has all of them
  Policy policy = Policy::LongestIdle;
  std::uint32_t sl_threshold_ms = 20'000;  // service level: answered within this ...
  std::uint16_t sl_target_permille = 800;  // ... for this share of calls (80 % in 20 s)
  std::uint32_t ring_timeout_ms = 20'000;  // ring-no-answer
  std::uint32_t wrap_up_ms = 0;            // after-call work timeout; 0 = no wrap-up
  std::uint32_t max_wait_ms = 0;           // 0 = wait for ever
  OverflowAction max_wait_action = OverflowAction::Busy;
  std::uint32_t max_wait_target = 0;
  std::vector<OverflowRule> overflow;  // checked in order
  std::uint8_t min_verification = 0;   // identity-verification level a call needs [4.1.2 a]
  std::array<std::uint8_t, kTierCount> tier_priority_boost{};  // added to the call's priority
  std::uint32_t expected_aht_ms = 180'000;  // EWT seed until real handle times are measured
  std::uint32_t priority_aging_ms =
      60'000;  // +1 priority per this much wait, between queues; 0 = off
  // Removed by a live reload: kept (empty, refusing calls) so that the other queues keep their
  // indices until a restart.
  bool retired = false;
};

struct AgentConfig {
  AgentNumber number = 0;  // external agent ID, unique, not 0
  std::vector<SkillLevel> skills;
  std::array<std::uint8_t, kMediaCount> capacity{1, 0, 0, 0};  // tasks per channel
  // Removed by a live reload: kept (unknown to events, serving nothing) so that the other agents
  // keep their indices until a restart.
  bool retired = false;
};

struct EngineConfig {
  std::uint32_t skill_count = 1;
  std::vector<QueueConfig> queues;
  std::vector<AgentConfig> agents;
  std::uint32_t max_calls = 1024;  // calls queued, ringing or in progress at once
  std::uint8_t max_overflow_hops = 4;
  std::uint32_t outbound_reserve_ms = 60'000;  // how long an outbound reservation may ring
};

// Every problem found, each as one sentence that names the item; empty when the config is valid.
std::vector<std::string> validate_config(const EngineConfig& config);

}  // namespace acd::router
