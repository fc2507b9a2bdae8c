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

// Levels of a queue's surge metrics; 0 = the metric is not used.
struct SurgeLevels {
  std::uint32_t offered_per_min = 0;  // calls offered to the queue in the last 60 s
  std::uint32_t queue_length = 0;     // calls waiting
  std::uint32_t oldest_wait_ms = 0;   // wait of the oldest waiting call
  std::uint32_t ewt_ms = 0;           // expected wait of a call arriving now
};

// One step of a queue's surge plan, tried in order for a call that no agent of the queue takes
// at once while the queue is in surge.
struct SurgeAction {
  // Borrow: offer the call to a ready agent of queue `target` (the lender) that has each of this
  // queue's skills at `min_level` or more (0: any agent of the lender) and is not reserved.
  // Otherwise the call leaves like an overflow: `action` (ToQueue, ToSite, ToIvr, Callback,
  // CallbackKeepPlace, Announcement, Busy) with `target`.
  bool borrow = false;
  OverflowAction action = OverflowAction::Busy;
  std::uint32_t target = 0;
  std::uint8_t min_level = 1;
  // The step applies only when the call's expected wait here is at least this (ms; an unknown
  // EWT passes every level). A ladder: borrow, then overflow from 60 s, IVR from 120 s, ...
  std::uint32_t min_ewt_ms = 0;
};

struct SurgeConfig {
  // Enter when any metric in use reaches its `enter` level; leave when every metric in use has
  // been at or below its `exit` level at each evaluation for exit_hold_ms and the queue has been
  // in surge for min_dwell_ms. exit < enter. While the queue surges, the calls its plan took
  // since the previous evaluation count as waiting for the exit test (queue length and EWT): a
  // plan that keeps the queue empty does not end the surge it handles.
  SurgeLevels enter;
  SurgeLevels exit;
  std::uint32_t min_dwell_ms = 60'000;
  std::uint32_t exit_hold_ms = 0;
  std::vector<SurgeAction> actions;
};

// A back-end service queues depend on (GB/T 32315 7.3.1). While an operator has it marked down,
// calls for its queues get `action` with `target` (an announcement, or another route) instead of
// an agent.
struct ServiceConfig {
  std::string name;
  OverflowAction action = OverflowAction::Announcement;
  std::uint32_t target = 0;
};

// One step of a queue's expanding requirement: from `after_ms` of wait in the queue, an agent
// needs at least `min_level` in each of the queue's skills (and at least the skill's own
// min_level). Steps rise in after_ms and fall in min_level; before the first, no extra floor.
struct ExpandStep {
  std::uint32_t after_ms = 0;
  std::uint8_t min_level = 1;
};
inline constexpr std::size_t kMaxExpandSteps = 4;

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
  SurgeConfig surge;
  // Reserved capacity (fraud, VIP): surge never borrows this queue's agents and never overflows
  // calls into it.
  bool reserved = false;
  std::vector<std::uint32_t> services;  // indices into EngineConfig::services
  // Call selection when an agent becomes free (router/DESIGN.md "Call selection"). The rule that
  // decides for an agent is the one of its primary queue (the first in its preference order, see
  // AgentConfig::preference; without one, the first queue it serves). The file format fills it
  // from the site's [call_selection] unless the queue names its own.
  CallSelection call_selection = CallSelection::AgedPriority;
  bool predicted_wait = false;      // GreatestNeed: the need is max(wait, EWT now) ÷ threshold
  std::uint16_t share = 1;          // QueueRatio: this queue's share, 1..1000
  std::uint32_t wait_weight = 1000;  // WeightedWait: per-mille weight of the call's wait
  std::uint32_t idle_weight = 0;     // WeightedWait: of how long the queue has gone unserved
  // Skill preference: a call waiting at least this long may take an agent for whom this queue is
  // not primary as if it were (a reserve agent); 0 = never, the queue waits its turn.
  std::uint32_t reserve_after_ms = 0;
  // Expanding requirement: the skill floor relaxes in steps as a call waits (empty: none).
  std::vector<ExpandStep> expand;
  // Removed by a live reload: kept (empty, refusing calls) so that the other queues keep their
  // indices until a restart.
  bool retired = false;
};

struct AgentConfig {
  AgentNumber number = 0;  // external agent ID, unique, not 0
  std::vector<SkillLevel> skills;
  std::array<std::uint8_t, kMediaCount> capacity{1, 0, 0, 0};  // tasks per channel
  bool reserved = false;  // never borrowed by another queue's surge plan
  // Which of its queues the agent serves first when it becomes free and several have calls.
  AgentPreference preference = AgentPreference::None;
  std::vector<SkillId> preference_order;  // AgentPreference::Order: most preferred first
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
  std::vector<ServiceConfig> services;
  std::uint32_t surge_eval_ms = 1'000;  // how often the queues' surge metrics are evaluated
  // Sites (docs/dr.md "Inter-site overflow"). This site's number and, per entry of the domain's
  // `sites` (the index a ToSite target names), that site's number; 0..kMaxSiteNumber, distinct.
  // A ToSite rule with target kAnySite sends the call to the accepting site with the least EWT
  // (its latest summary not older than site_summary_max_age_ms; ties: the lower site number);
  // no rule to a site applies to a call that has passed through max_site_hops sites, or to a
  // site the call has visited.
  std::uint8_t site_number = 0;
  std::vector<std::uint8_t> site_numbers;
  std::uint8_t max_site_hops = 2;
  std::uint32_t site_summary_max_age_ms = 2'000;
};

inline constexpr std::size_t kMaxSurgeActions = 8;
inline constexpr std::size_t kMaxQueueServices = 8;
inline constexpr std::size_t kMaxServices = 64;  // a domain's [[services]]
inline constexpr std::uint16_t kMaxShare = 1000;
inline constexpr std::uint32_t kMaxSelectionWeight = 1'000'000;  // per mille: 1000×

// True when the queue has a surge plan: thresholds or actions (a plan without thresholds only
// runs when forced).
bool has_surge_plan(const QueueConfig& q);

// Every problem found, each as one sentence that names the item; empty when the config is valid.
std::vector<std::string> validate_config(const EngineConfig& config);
// The same, and every site target (overflow rules, max wait, surge steps, service diversions)
// below `site_count`, the number of other sites the configuration names (their indices).
std::vector<std::string> validate_config(const EngineConfig& config, std::size_t site_count);

}  // namespace acd::router
