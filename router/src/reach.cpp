// Who could ever serve a call: each queue's member agents and the best level of each skill among
// them (built once at construction), and the verdict for a call's extra skills, remembered for
// combinations. See router/DESIGN.md, "Unservable calls".
#include <algorithm>
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

// Remembered verdicts of the exact "can anyone serve this" check; a power of two.
constexpr std::uint32_t kServableMemoEntries = 1024;

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

// Each queue's member agents, grouped by queue (a counting sort over the memberships), and the
// highest level of every skill its members have.
void Engine::build_reach() {
  reach_.assign(queues_.size(), detail::QueueReach{});
  for (const MemberNode& m : members_) {
    ++reach_[m.queue].members_count;
  }
  std::uint32_t at = 0;
  for (detail::QueueReach& r : reach_) {
    r.members_begin = at;
    at += r.members_count;
  }
  queue_members_.assign(members_.size(), kNone);
  std::vector<std::uint32_t> fill(queues_.size());
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    fill[q] = reach_[q].members_begin;
  }
  for (const MemberNode& m : members_) {  // agent by agent: each queue's list is in agent order
    queue_members_[fill[m.queue]++] = m.agent;
  }
  // Highest level per skill: a scratch level per skill and the list of skills touched, per queue.
  std::vector<std::uint8_t> best(skill_count_, 0);
  std::vector<SkillId> touched;
  best_levels_.clear();
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    detail::QueueReach& r = reach_[q];
    touched.clear();
    for (std::uint32_t i = r.members_begin; i < r.members_begin + r.members_count; ++i) {
      const AgentRecord& agent = agents_[queue_members_[i]];
      for (std::uint32_t k = agent.skills_begin; k < agent.skills_begin + agent.skills_count; ++k) {
        const SkillLevel& have = agent_skills_[k];
        if (best[have.skill] == 0) {
          touched.push_back(have.skill);
        }
        best[have.skill] = std::max(best[have.skill], have.level);
      }
    }
    std::sort(touched.begin(), touched.end());
    r.levels_begin = static_cast<std::uint32_t>(best_levels_.size());
    r.levels_count = static_cast<std::uint32_t>(touched.size());
    for (SkillId s : touched) {
      best_levels_.push_back(SkillLevel{s, best[s], 0});
      best[s] = 0;
    }
  }
  best_levels_.shrink_to_fit();
  servable_memo_.assign(kServableMemoEntries, ServableMemoEntry{});
}

// Whether a member agent of the call's queue, signed in or not, has all the call's extra skills.
// No member at all: never. One skill (after merging repeats): the queue's best-level table says it
// exactly. Several: the table rules most cases out; if it does not, the members are scanned and
// the verdict remembered.
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
  for (std::uint32_t i = reach.members_begin;
       i < reach.members_begin + reach.members_count && !found; ++i) {
    found = has_skills(queue_members_[i], need.req.data(), need.count);
  }
  memo.queue = c.queue;
  memo.count = need.count;
  memo.servable = found ? 1 : 0;
  memo.req = need.req;
  return found;
}

}  // namespace acd::router
