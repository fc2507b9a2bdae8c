// Every field of an EngineConfig as text, one line per queue, rule and agent: two configurations
// are equal when their texts are, and a failing comparison shows the line that differs.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "acd/router/config.hpp"

namespace acd::router::testing {

inline std::string config_text(const EngineConfig& c) {
  std::ostringstream s;
  s << "skill_count " << c.skill_count << " max_calls " << c.max_calls << " max_overflow_hops "
    << int{c.max_overflow_hops} << " outbound_reserve_ms " << c.outbound_reserve_ms << "\n";
  for (const QueueConfig& q : c.queues) {
    s << "queue " << q.name << " media " << int(q.media) << " policy " << int(q.policy)
      << " sl_threshold_ms " << q.sl_threshold_ms << " sl_target_permille " << q.sl_target_permille
      << " ring_timeout_ms " << q.ring_timeout_ms << " wrap_up_ms " << q.wrap_up_ms
      << " max_wait_ms " << q.max_wait_ms << " max_wait_action " << int(q.max_wait_action)
      << " max_wait_target " << q.max_wait_target << " min_verification "
      << int{q.min_verification} << " expected_aht_ms " << q.expected_aht_ms
      << " priority_aging_ms " << q.priority_aging_ms << " retired " << q.retired << " boost";
    for (const std::uint8_t b : q.tier_priority_boost) {
      s << " " << int{b};
    }
    s << " skills";
    for (const SkillRequirement& r : q.skills) {
      s << " " << r.skill << ":" << int{r.min_level} << ":" << int{r.reserved};
    }
    s << "\n";
    for (const OverflowRule& r : q.overflow) {
      s << "  rule when " << int(r.when) << " action " << int(r.action) << " threshold "
        << r.threshold << " target " << r.target << "\n";
    }
  }
  for (const AgentConfig& a : c.agents) {
    s << "agent " << a.number << " retired " << a.retired << " capacity";
    for (const std::uint8_t n : a.capacity) {
      s << " " << int{n};
    }
    s << " skills";
    for (const SkillLevel& l : a.skills) {
      s << " " << l.skill << ":" << int{l.level} << ":" << int{l.reserved};
    }
    s << "\n";
  }
  return s.str();
}

// FNV-1a, 64 bits: a short fingerprint of a configuration's text to record in a test.
inline std::uint64_t fingerprint(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char ch : text) {
    h = (h ^ static_cast<unsigned char>(ch)) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace acd::router::testing
