// Call selection when an agent becomes free, skill preference and expanding requirements. See
// router/DESIGN.md, "Call selection, skill preference, expanding requirements".
#include <algorithm>
#include <cassert>

#include "acd/router/engine.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::SelectionParams;

// ---------------------------------------------------------------------------------------------
// Configuration.

// Flattens each queue's selection keys and ranks every membership by its agent's preference.
// Needs members_ built; a reload (reconfigure) calls it again with the new configuration.
void Engine::load_selection_params(const EngineConfig& config) {
  selection_params_.assign(config.queues.size(), SelectionParams{});
  for (QueueIndex q = 0; q < config.queues.size(); ++q) {
    const QueueConfig& qc = config.queues[q];
    SelectionParams& p = selection_params_[q];
    p.rule = qc.call_selection;
    p.predicted_wait = qc.predicted_wait ? 1 : 0;
    p.share = qc.share;
    p.wait_weight = qc.wait_weight;
    p.idle_weight = qc.idle_weight;
    p.reserve_after_ms = qc.reserve_after_ms;
    p.expand_count = static_cast<std::uint8_t>(qc.expand.size());
    for (std::size_t i = 0; i < qc.expand.size(); ++i) {
      p.expand_after_ms[i] = qc.expand[i].after_ms;
      p.expand_level[i] = qc.expand[i].min_level;
    }
  }
  for (MemberNode& m : members_) {
    m.rank = 0;
  }
  agent_rule_.assign(agents_.size(), CallSelection::AgedPriority);
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    const AgentRecord& r = agents_[a];
    const AgentConfig& ac = config.agents[a];
    std::uint32_t primary = kNone;
    for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
      const QueueParams& qp = params_[members_[m].queue];
      std::uint8_t rank = 0;
      if (ac.preference == AgentPreference::Proficiency) {
        rank = static_cast<std::uint8_t>(kMaxProficiency - members_[m].level);
      } else if (ac.preference == AgentPreference::Order) {
        std::size_t best = ac.preference_order.size();  // not listed: after every listed skill
        for (int i = 0; i < qp.skill_count; ++i) {
          const auto it = std::find(ac.preference_order.begin(), ac.preference_order.end(),
                                    qp.skills[i].skill);
          best = std::min<std::size_t>(best, it - ac.preference_order.begin());
        }
        rank = static_cast<std::uint8_t>(std::min<std::size_t>(best, 255));
      }
      members_[m].rank = rank;
      if (primary == kNone || rank < members_[primary].rank) {
        primary = m;
      }
    }
    if (primary != kNone) {
      agent_rule_[a] = selection_params_[members_[primary].queue].rule;
      // Ranks relative to the agent's primary queues (0), so that agents compare on arrival.
      const std::uint8_t lowest = members_[primary].rank;
      for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
        members_[m].rank = static_cast<std::uint8_t>(members_[m].rank - lowest);
        if (members_[m].rank != 0) {
          selection_params_[members_[m].queue].ranked = 1;
        }
      }
    }
  }
}

// The membership of agent a in queue q (an agent's memberships are sorted by queue), or kNone.
// O(log queues the agent serves).
std::uint32_t Engine::member_of(AgentIndex a, QueueIndex q) const {
  const AgentRecord& r = agents_[a];
  const MemberNode* begin = members_.data() + r.members_begin;
  const MemberNode* end = begin + r.members_count;
  const MemberNode* it = std::lower_bound(
      begin, end, q, [](const MemberNode& n, QueueIndex x) { return n.queue < x; });
  return it != end && it->queue == q ? static_cast<std::uint32_t>(it - members_.data()) : kNone;
}

// Whether membership m's agent may take call c as far as its preference goes: a primary queue
// always; a secondary one unless the queue has a reserve threshold the call has not reached yet
// (a reserve agent waits for the queue to be in trouble).
bool Engine::reserve_allows(std::uint32_t m, const CallRecord& c) const {
  const std::uint32_t reserve_ms = selection_params_[members_[m].queue].reserve_after_ms;
  return members_[m].rank == 0 || reserve_ms == 0 ||
         s_.now - std::min(s_.now, c.enqueued) >= static_cast<Micros>(reserve_ms) * 1000;
}

// The agent for a call of a queue some of whose members have it below their primary queues: in
// the index's policy order, the first agent for whom the queue is primary; failing one among the
// first 64 agents that may take the call, the one with the lowest rank among those (the first of
// them). O(min(ready, 64 + skipped)).
AgentIndex Engine::find_ranked_agent(const CallRecord& c, std::uint64_t& skipped) const {
  constexpr std::uint32_t kLook = 64;
  const QueueIndex q = c.queue;
  const std::uint8_t floor = expand_floor(c);
  AgentIndex best = kNone;
  std::uint8_t best_rank = 0xFF;
  std::uint32_t looked = 0;
  // True: stop looking.
  auto consider = [&](AgentIndex a, std::uint32_t m) {
    if (!((c.req_count == 0 || has_skills(a, c)) && members_[m].level >= floor &&
          reserve_allows(m, c))) {
      ++skipped;
      return false;
    }
    if (members_[m].rank < best_rank) {
      best = a;
      best_rank = members_[m].rank;
    }
    return best_rank == 0 || ++looked >= kLook;
  };
  const detail::QueueRecord& qr = queues_[q];
  if (uses_rings(params_[q].policy)) {
    for (std::uint32_t r = qr.ring_begin; r < qr.ring_begin + qr.ring_count; ++r) {
      const detail::ReadyRing& ring = rings_[r];
      for (std::uint32_t i = 0; i < ring.size; ++i) {
        const detail::RingEntry& e =
            ring_entries_[ring.begin + (ring.head + i) % ring.capacity];
        if (ring_entry_valid(e) && consider(e.agent, member_of(e.agent, q))) {
          return best;
        }
      }
    }
    return best;
  }
  std::uint32_t remaining = qr.ready_count;
  for (std::uint32_t m = index_first(q); m != kNone && remaining > 0; m = index_next(q, m)) {
    --remaining;
    if (consider(members_[m].agent, m)) {
      return best;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Expanding requirements.

// The skill floor a call has now in its queue: the level of the last expand step its wait has
// reached; 0 (none beyond the queue's own minimum) before the first step or without steps.
std::uint8_t Engine::expand_floor(const CallRecord& c) const {
  const SelectionParams& p = selection_params_[c.queue];
  const Micros waited = s_.now - std::min(s_.now, c.enqueued);
  std::uint8_t floor = 0;
  for (std::uint8_t i = 0; i < p.expand_count; ++i) {
    if (static_cast<Micros>(p.expand_after_ms[i]) * 1000 > waited) {
      break;
    }
    floor = p.expand_level[i];
  }
  return floor;
}

// When the call's floor next falls (its next expand step); 0 when it will not fall again.
Micros Engine::next_expand_deadline(const CallRecord& c) const {
  const SelectionParams& p = selection_params_[c.queue];
  for (std::uint8_t i = 0; i < p.expand_count; ++i) {
    const Micros at = c.enqueued + static_cast<Micros>(p.expand_after_ms[i]) * 1000;
    if (at > s_.now) {
      return at;
    }
  }
  return 0;
}

// Whether agent a has every skill of queue q at `floor` or more (a floor of 0 always passes: the
// membership already checked the queue's own minimums). O(queue skills × log agent skills).
bool Engine::meets_floor(AgentIndex a, QueueIndex q, std::uint8_t floor) const {
  if (floor == 0) {
    return true;
  }
  const QueueParams& p = params_[q];
  std::array<SkillRequirement, kMaxQueueSkills> req{};
  for (int i = 0; i < p.skill_count; ++i) {
    req[i] = SkillRequirement{p.skills[i].skill, std::max(p.skills[i].min_level, floor), 0};
  }
  return has_skills(skills_of(a), req.data(), p.skill_count);
}

// A waiting call's timer fired in a queue with expand steps: if its floor fell, a ready agent may
// now take it. Returns with the call offered, or still queued (its timer not re-armed).
void Engine::expand_step(CallSlot slot) {
  const AgentIndex a = best_agent_for(slot);
  if (a == kNone) {
    return;
  }
  calls_[slot].unservable = 0;
  dequeue(slot);
  offer(slot, a);
}

// ---------------------------------------------------------------------------------------------
// Call selection.

namespace {

// One queue's best call for the agent, with what the rules compare.
struct Candidate {
  CallSlot call = kNone;
  QueueIndex queue = kNone;
  std::uint8_t rank = 0;      // preference rank, 0 after the queue's reserve threshold
  std::uint64_t aged = 0;     // priority, aged by wait (AgedPriority) or not (the others)
  std::uint64_t wait = 0;     // µs (AgedPriority), ms (GreatestNeed, WeightedWait)
  std::uint64_t scale = 1;    // the SL threshold (ms), or the share (QueueRatio)
  std::uint64_t score = 0;    // WeightedWait's score; QueueRatio's wins + 1
  std::uint64_t seq = 0;
};

// Whether x is a better choice than y under `rule` (the same rank already compared).
bool better(const Candidate& x, const Candidate& y, CallSelection rule) {
  switch (rule) {
    case CallSelection::AgedPriority:
      if (x.aged != y.aged) {
        return x.aged > y.aged;
      }
      if (x.wait * y.scale != y.wait * x.scale) {
        return x.wait * y.scale > y.wait * x.scale;
      }
      break;
    case CallSelection::GreatestNeed:
      // wait (ms, capped below 2^32) × threshold (ms, 32 bits): fits in 64 bits.
      if (x.wait * y.scale != y.wait * x.scale) {
        return x.wait * y.scale > y.wait * x.scale;
      }
      if (x.aged != y.aged) {
        return x.aged > y.aged;
      }
      break;
    case CallSelection::QueueRatio:
      // The queue furthest below its share: smallest (wins + 1) ÷ share.
      if (x.score * y.scale != y.score * x.scale) {
        return x.score * y.scale < y.score * x.scale;
      }
      break;
    case CallSelection::WeightedWait:
      if (x.score != y.score) {
        return x.score > y.score;
      }
      if (x.aged != y.aged) {
        return x.aged > y.aged;
      }
      break;
  }
  return x.seq < y.seq;
}

}  // namespace

// The best waiting call across the queues the agent is available for (router/DESIGN.md, "Call
// selection"): the lowest preference rank first (a queue past its reserve threshold counts as
// primary), then the rule of the agent's primary queue. O(queues the agent serves).
CallSlot Engine::best_call_for(AgentIndex a) {
  const AgentRecord& r = agents_[a];
  const CallSelection rule = agent_rule_[a];
  Candidate best;
  std::uint32_t contenders = 0;
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    const MemberNode& node = members_[m];
    const QueueIndex q = node.queue;
    if (!available(a, media_of(node)) || queues_[q].waiting == 0) {
      continue;
    }
    const SelectionParams& sp = selection_params_[q];
    // A reserve agent looks only at calls that have waited the queue's reserve threshold.
    const Micros min_wait = members_[m].rank != 0 ? Micros{sp.reserve_after_ms} * 1000 : 0;
    const CallSlot slot = first_matching_call(q, a, members_[m].level, min_wait);
    if (slot == kNone) {
      continue;
    }
    ++contenders;
    const CallRecord& c = calls_[slot];
    const QueueParams& p = params_[q];
    Candidate x;
    x.call = slot;
    x.queue = q;
    x.seq = c.seq;
    const std::uint64_t wait_us = s_.now - c.enqueued;
    x.rank = members_[m].rank;
    if (x.rank != 0 && sp.reserve_after_ms != 0) {
      x.rank = 0;  // the call reached the threshold (min_wait): the queue takes its reserve agent
    }
    x.aged = c.priority;
    switch (rule) {
      case CallSelection::AgedPriority:
        x.aged += p.priority_aging_ms != 0 ? wait_us / (p.priority_aging_ms * 1000ull) : 0;
        x.wait = wait_us;
        x.scale = p.sl_threshold_ms;
        break;
      case CallSelection::GreatestNeed:
        x.wait = std::min<std::uint64_t>(wait_us / 1000, 0xFFFF'FFFFu);
        if (sp.predicted_wait != 0) {
          const std::uint32_t ewt = ewt_for_position(q, queues_[q].waiting + 1);
          if (ewt != kUnknownEwt) {
            x.wait = std::max<std::uint64_t>(x.wait, ewt);  // ewt < kUnknownEwt
          }
        }
        x.scale = p.sl_threshold_ms;
        break;
      case CallSelection::QueueRatio:
        x.score = selection_[q].ratio_wins + 1;
        x.scale = sp.share;
        break;
      case CallSelection::WeightedWait: {
        const Micros unserved_since = std::max(selection_[q].last_served, c.enqueued);
        x.score = sp.wait_weight * (wait_us / 1000) +
                  sp.idle_weight * ((s_.now - std::min(s_.now, unserved_since)) / 1000);
        break;
      }
    }
    if (best.call == kNone || x.rank < best.rank ||
        (x.rank == best.rank && better(x, best, rule))) {
      best = x;
    }
  }
  if (rule == CallSelection::QueueRatio && contenders > 1) {
    ++selection_[best.queue].ratio_wins;
  }
  return best.call;
}

}  // namespace acd::router
