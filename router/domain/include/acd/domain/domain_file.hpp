// The routing domain as a file describes it: the one reader of the centre for both acdd's acd.toml
// and acd-sim's scenario files, so that the two describe a centre the same way, with the same
// names, limits and messages.
//
// The domain's top-level keys: site, sites (the other sites calls may overflow to), max_calls,
// max_overflow_hops, skills, [[queue]] (media, skills with minimum proficiency, policy, service
// level, ring and wrap-up timeouts, max wait, [[queue.overflow]] rules, identity verification,
// tier boosts, expected handle time, priority aging), [[agent]] and [[agent_group]]. The same file
// may hold the appliance's tables ([dataplane], [control], [metrics]: acdd reads them, acd-sim
// ignores them) and the simulation's ([simulation], [[stream]]: acd-sim reads them, acdd refuses
// them). Format: control/default/acd.toml and docs/simulator.md.
//
// read_domain checks everything the engine relies on, each problem with the file's line and what
// to do: unknown keys (with the known ones), wrong types, out-of-range values, undefined skills,
// queues or sites, duplicates, overflow into itself or to this very site, media mismatch, overflow
// chains that loop. A mistake is one message (no follow-on errors). When it adds no problem, the
// result passes router::validate_config.
//
// Thread-safety: pure functions (the checker is the caller's, used by one thread).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "acd/domain/toml_checker.hpp"
#include "acd/router/config.hpp"

namespace acd::domain {

// The program reading the file: it decides which tables besides the domain's are its own.
enum class Program {
  Acdd,      // reads [dataplane], [control], [metrics]; refuses [simulation] and [[stream]]
  Simulator  // reads [simulation] and [[stream]]; ignores [dataplane], [control], [metrics]
};

struct DomainConfig {
  std::string site = "site-1";           // this site's name
  std::vector<std::string> sites;        // other sites calls may overflow to (target = index)
  std::vector<std::string> skill_names;  // index = SkillId
  std::vector<std::string> service_names;  // index = service index ([[services]])
  router::EngineConfig engine;           // max_calls is 65536 unless the file says otherwise
};

inline constexpr std::uint32_t kDefaultMaxCalls = 65536;

// Reads the domain from a parsed file's top-level table, and checks the top level's keys for
// `program` (the program's own tables are left to it). Every problem goes to `check`.
DomainConfig read_domain(const toml::table& root, TomlChecker& check, Program program);

// `key` of `t` as a table of skill = proficiency (1..10), by the domain's skill names; `what`
// names the item in messages ("queue 'cards'"). Undefined skills and bad levels are reported and
// left out.
std::vector<router::SkillRequirement> read_skill_levels(const toml::table& t, std::string_view key,
                                                        const std::string& what,
                                                        const std::vector<std::string>& skills,
                                                        TomlChecker& check);

// The skill's id, or router::kNoSkill when the domain has no skill of that name.
router::SkillId skill_id(const std::vector<std::string>& skills, std::string_view name);

}  // namespace acd::domain
