// What a request names, found in a configuration: an agent by ID, a queue by name or index, a
// skill by name. Retired agents and queues are not found.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "acd/control/config.hpp"

namespace acd::control {

// The agent with ID `id`; kNone if unknown.
inline router::AgentIndex agent_index(const ApplianceConfig& cfg, router::AgentNumber id) {
  for (std::size_t i = 0; i < cfg.domain.agents.size(); ++i) {
    if (cfg.domain.agents[i].number == id && !cfg.domain.agents[i].retired) {
      return static_cast<router::AgentIndex>(i);
    }
  }
  return router::kNone;
}

// The queue `key` names (its name, or its index as a number); kNone if unknown.
inline router::QueueIndex queue_index(const ApplianceConfig& cfg, const nlohmann::json& key) {
  if (key.is_number_unsigned() && key.get<std::uint64_t>() < cfg.domain.queues.size()) {
    const auto q = key.get<router::QueueIndex>();
    return cfg.domain.queues[q].retired ? router::kNone : q;
  }
  if (key.is_string()) {
    for (std::size_t q = 0; q < cfg.domain.queues.size(); ++q) {
      if (cfg.domain.queues[q].name == key.get<std::string>() && !cfg.domain.queues[q].retired) {
        return static_cast<router::QueueIndex>(q);
      }
    }
  }
  return router::kNone;
}

// The skill called `name`; kNoSkill if none is.
inline router::SkillId skill_by_name(const ApplianceConfig& cfg, const std::string& name) {
  for (std::size_t s = 0; s < cfg.skill_names.size(); ++s) {
    if (cfg.skill_names[s] == name) {
      return static_cast<router::SkillId>(s);
    }
  }
  return router::kNoSkill;
}

}  // namespace acd::control
