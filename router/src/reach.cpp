// Who could ever serve a call: each queue's member agents and the best level of each skill among
// them (built once at construction), and the verdict for a call's extra skills, remembered for
// combinations. See router/DESIGN.md, "Unservable calls".
#include <algorithm>
#include <bit>
#include <compare>
#include <cstring>
#include <vector>

#include "acd/router/engine.hpp"
#include "acd/router/mix.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::ServableMemoEntry;

namespace {

// Remembered verdicts of the exact "can anyone serve this" check: one per 16 memberships (the
// combinations that can pass the best-level table grow with the members' skill lists, not with
// the queues), within these bounds, rounded up to a power of two: 2 to 3.5 B per membership.
constexpr std::size_t kServableMemoMin = 1024;
constexpr std::size_t kServableMemoMax = 65536;

// A call's extra skills as a set: sorted by skill, each skill once at the highest level asked
// (a language is also a skill), so that equal needs give equal keys.
struct Requirements {
  std::array<SkillRequirement, kMaxCallSkills + 1> req{};
  std::uint8_t count = 0;
};

Requirements requirements_of(const CallRecord& c) {
  Requirements r;
  for (int i = 0; i < c.req_count; ++i) {
    const SkillRequirement need{c.req[i].skill, c.req[i].min_level, 0};
    int at = 0;
    while (at < r.count && r.req[at].skill < need.skill) {
      ++at;
    }
    if (at < r.count && r.req[at].skill == need.skill) {
      r.req[at].min_level = std::max(r.req[at].min_level, need.min_level);
      continue;
    }
    for (int j = r.count; j > at; --j) {
      r.req[j] = r.req[j - 1];
    }
    r.req[at] = need;
    ++r.count;
  }
  return r;
}

}  // namespace

// Per queue: its member count, its members' distinct skill lists (one agent that has each) and
// the highest level of every skill among them.
void Engine::build_reach() {
  // Members grouped by queue (a counting sort over the memberships), each group in agent order.
  std::vector<std::uint32_t> first(queues_.size() + 1, 0);
  for (const MemberNode& m : members_) {
    ++first[m.queue + 1];
  }
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    first[q + 1] += first[q];
  }
  std::vector<AgentIndex> by_queue(members_.size());
  std::vector<std::uint32_t> fill(first.begin(), first.end() - 1);
  for (const MemberNode& m : members_) {
    by_queue[fill[m.queue]++] = m.agent;
  }
  // Skill lists in a fixed order (skills, then levels), ties by agent index: deterministic.
  auto profile_less = [&](AgentIndex a, AgentIndex b) {
    const detail::SkillRange x = skills_of(a);
    const detail::SkillRange y = skills_of(b);
    const auto cmp = std::lexicographical_compare_three_way(
        agent_skills_.begin() + x.begin, agent_skills_.begin() + x.begin + x.count,
        agent_skills_.begin() + y.begin, agent_skills_.begin() + y.begin + y.count,
        [](const SkillLevel& u, const SkillLevel& v) {
          return u.skill != v.skill ? u.skill <=> v.skill : u.level <=> v.level;
        });
    return cmp != 0 ? cmp < 0 : a < b;
  };
  auto same_profile = [&](AgentIndex a, AgentIndex b) {
    const detail::SkillRange x = skills_of(a);
    const detail::SkillRange y = skills_of(b);
    return std::equal(agent_skills_.begin() + x.begin, agent_skills_.begin() + x.begin + x.count,
                      agent_skills_.begin() + y.begin, agent_skills_.begin() + y.begin + y.count,
                      [](const SkillLevel& u, const SkillLevel& v) {
                        return u.skill == v.skill && u.level == v.level;
                      });
  };
  reach_.assign(queues_.size(), detail::QueueReach{});
  queue_profiles_.clear();
  best_levels_.clear();
  std::vector<std::uint8_t> best(skill_count_, 0);  // scratch: highest level per skill
  std::vector<SkillId> touched;                     // the skills set in `best`
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    detail::QueueReach& r = reach_[q];
    const auto begin = by_queue.begin() + first[q];
    const auto end = by_queue.begin() + first[q + 1];
    r.members_count = first[q + 1] - first[q];
    std::sort(begin, end, profile_less);
    r.profiles_begin = static_cast<std::uint32_t>(queue_profiles_.size());
    touched.clear();
    for (auto it = begin; it != end; ++it) {
      if (it != begin && same_profile(*(it - 1), *it)) {
        continue;
      }
      const detail::SkillRange skills = skills_of(*it);
      queue_profiles_.push_back(*it);
      for (std::uint32_t k = skills.begin; k < skills.begin + skills.count; ++k) {
        const SkillLevel& have = agent_skills_[k];
        if (best[have.skill] == 0) {
          touched.push_back(have.skill);
        }
        best[have.skill] = std::max(best[have.skill], have.level);
      }
    }
    r.profiles_count = static_cast<std::uint32_t>(queue_profiles_.size()) - r.profiles_begin;
    std::sort(touched.begin(), touched.end());
    r.levels_begin = static_cast<std::uint32_t>(best_levels_.size());
    r.levels_count = static_cast<std::uint32_t>(touched.size());
    for (SkillId s : touched) {
      best_levels_.push_back(SkillLevel{s, best[s], 0});
      best[s] = 0;
    }
  }
  queue_profiles_.shrink_to_fit();
  best_levels_.shrink_to_fit();
  const std::size_t memo = std::bit_ceil(
      std::clamp<std::size_t>(members_.size() / 16, kServableMemoMin, kServableMemoMax));
  servable_memo_.assign(memo, ServableMemoEntry{});
}

// Whether a member agent of the call's queue, signed in or not, has all the call's extra skills.
// No member at all: never. One skill (after merging repeats): the queue's best-level table says it
// exactly. Several: the table rules most cases out; if it does not, the members' distinct skill
// lists are scanned and the verdict remembered.
bool Engine::servable(const CallRecord& c) const {
  const detail::QueueReach& reach = reach_[c.queue];
  if (reach.members_count == 0) {
    return false;
  }
  if (c.req_count == 0) {
    return true;
  }
  const Requirements need = requirements_of(c);
  const SkillLevel* best = best_levels_.data() + reach.levels_begin;
  const SkillLevel* best_end = best + reach.levels_count;
  for (int i = 0; i < need.count; ++i) {
    const SkillLevel* it =
        std::lower_bound(best, best_end, need.req[i].skill,
                         [](const SkillLevel& s, SkillId id) { return s.skill < id; });
    if (it == best_end || it->skill != need.req[i].skill || it->level < need.req[i].min_level) {
      return false;
    }
  }
  if (need.count == 1) {
    return true;
  }
  std::uint64_t h = mix64(static_cast<std::uint64_t>(c.queue) + 1);
  for (int i = 0; i < need.count; ++i) {
    h = mix64(h ^ (static_cast<std::uint64_t>(need.req[i].skill) << 8 | need.req[i].min_level));
  }
  ServableMemoEntry& memo = servable_memo_[h & (servable_memo_.size() - 1)];
  if (memo.queue == c.queue && memo.count == need.count &&
      std::memcmp(memo.req.data(), need.req.data(), sizeof(need.req)) == 0) {
    return memo.servable != 0;
  }
  bool found = false;
  for (std::uint32_t i = reach.profiles_begin;
       i < reach.profiles_begin + reach.profiles_count && !found; ++i) {
    found = has_skills(skills_of(queue_profiles_[i]), need.req.data(), need.count);
  }
  memo.queue = c.queue;
  memo.count = need.count;
  memo.servable = found ? 1 : 0;
  memo.req = need.req;
  return found;
}

}  // namespace acd::router
