// Structural reload: a freshly built engine takes over the running engine's state. See
// Engine::take_over in engine.hpp and router/DESIGN.md, "Live reload".
//
// Indices are stable by construction (the new configuration extends the running one), so calls,
// the ID map and the timer wheel are copied as they are: call slots, timer IDs and the firing
// order of timers due in the same tick all stay the same. What depends on skills and membership —
// the ready indexes and the staffed counts — is rebuilt, in the order the running engine had.
#include <algorithm>
#include <vector>

#include "acd/router/engine.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::QueueRecord;
using detail::ReadyRing;
using detail::RingEntry;
using detail::RuleRecord;

namespace {

bool same_wait_rules(const QueueParams& a, const std::vector<RuleRecord>& a_rules,
                     const QueueParams& b, const std::vector<RuleRecord>& b_rules) {
  if (a.wait_rules_count != b.wait_rules_count) {
    return false;
  }
  for (std::uint32_t i = 0; i < a.wait_rules_count; ++i) {
    const RuleRecord& x = a_rules[a.wait_rules_begin + i];
    const RuleRecord& y = b_rules[b.wait_rules_begin + i];
    if (x.threshold != y.threshold || x.target != y.target || x.action != y.action ||
        x.when != y.when) {
      return false;
    }
  }
  return true;
}

}  // namespace

Engine::TakeOverResult Engine::check_take_over(const Engine& old) const {
  TakeOverResult r;
  if (calls_.size() != old.calls_.size()) {
    r.problem = TakeOverProblem::PoolSizeChanged;
    return r;
  }
  if (agents_.size() < old.agents_.size() || queues_.size() < old.queues_.size() ||
      skill_count_ < old.skill_count_) {
    r.problem = TakeOverProblem::ListsDiffer;
    return r;
  }
  for (AgentIndex a = 0; a < old.agents_.size(); ++a) {
    if (agents_[a].number != old.agents_[a].number) {
      r.problem = TakeOverProblem::ListsDiffer;
      r.index = a;
      return r;
    }
    if (agents_[a].retired != 0 && old.agents_[a].signed_in != 0) {
      r.problem = TakeOverProblem::RetiredAgentSignedIn;
      r.index = a;
      return r;
    }
  }
  std::vector<std::uint32_t> calls_in(old.queues_.size(), 0);
  for (const CallRecord& c : old.calls_) {
    if (c.state != CallState::Free && c.queue < calls_in.size()) {
      ++calls_in[c.queue];
    }
  }
  for (QueueIndex q = 0; q < old.queues_.size(); ++q) {
    if (calls_in[q] == 0) {
      continue;
    }
    r.index = q;
    r.calls = calls_in[q];
    if (queues_[q].retired != 0) {
      r.problem = TakeOverProblem::RetiredQueueHasCalls;
      return r;
    }
    if (params_[q].media != old.params_[q].media) {
      r.problem = TakeOverProblem::MediaChangeWithCalls;
      return r;
    }
  }
  return TakeOverResult{};
}

Engine::TakeOverResult Engine::take_over(const Engine& old, DecisionSink sink) {
  const TakeOverResult check = check_take_over(old);
  if (!check.ok()) {
    return check;
  }
  s_ = old.s_;
  // Surge state by queue index, like the queues; the queues in surge are counted anew. Services
  // by name: a reload may add, remove or reorder them.
  s_.surging = 0;
  for (std::size_t i = 0; i < service_down_.size(); ++i) {
    for (std::size_t j = 0; j < old.service_names_.size() && j < old.service_down_.size(); ++j) {
      if (old.service_names_[j] == service_names_[i]) {
        service_down_[i] = old.service_down_[j];
        break;
      }
    }
  }
  counters_ = old.counters_;
  take_over_sites(old);
  calls_ = old.calls_;  // same size: copies, does not allocate
  call_map_ = old.call_map_;
  // Whether a waiting call can be served at all follows the new agents and skills (this engine's
  // reach tables were built from the new configuration).
  for (CallRecord& c : calls_) {
    if (c.state == CallState::Queued) {
      c.unservable = servable(c) ? 0 : 1;
    }
  }
  // Timer IDs are call slots, then agents: the same in both engines, so the wheel is copied as is.
  std::copy(old.wheel_.nodes().begin(), old.wheel_.nodes().end(), wheel_.nodes().begin());
  wheel_.set_header(old.wheel_.header());

  for (AgentIndex a = 0; a < old.agents_.size(); ++a) {
    const AgentRecord fresh = agents_[a];  // what the new configuration says
    AgentRecord& r = agents_[a];
    r = old.agents_[a];
    r.skills_begin = fresh.skills_begin;
    r.skills_count = fresh.skills_count;
    r.members_begin = fresh.members_begin;
    r.members_count = fresh.members_count;
    r.capacity = fresh.capacity;
    r.retired = fresh.retired;
    agent_cold_[a] = old.agent_cold_[a];
    agent_stats_[a] = old.agent_stats_[a];
  }
  std::vector<bool> rules_changed(queues_.size(), false);
  for (QueueIndex q = 0; q < old.queues_.size(); ++q) {
    const QueueRecord& was = old.queues_[q];
    QueueRecord& now = queues_[q];
    now.head = was.head;
    now.tail = was.tail;
    now.count = was.count;
    now.waiting = was.waiting;
    now.busy_priorities = was.busy_priorities;
    now.rr_cursor = was.rr_cursor;
    now.aht_ms = was.aht_ms;
    queue_stats_[q] = old.queue_stats_[q];
    surge_[q] = old.surge_[q];
    selection_[q] = old.selection_[q];
    s_.surging += surge_[q].active;
    rules_changed[q] = !same_wait_rules(params_[q], rules_, old.params_[q], old.rules_) ||
                       selection_params_[q].expand_count != 0 ||
                       old.selection_params_[q].expand_count != 0 ||
                       selection_params_[q].reserve_after_ms != 0;
  }
  surge_planned_ = surge_planned_ || s_.surging > 0;
  for (const MemberNode& m : members_) {
    if (agents_[m.agent].signed_in != 0) {
      ++queues_[m.queue].staffed;
    }
  }
  rebuild_ready_index(old);
  rearm_waiting_calls(&rules_changed);

  // Agents who now serve a queue with calls waiting for them take one, in index order.
  sink_ = &sink;
  cause_ = EventType::Tick;
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    if (agents_[a].signed_in != 0) {
      agent_changed(a);
    }
  }
  sink_ = nullptr;
  return TakeOverResult{};
}

// Puts every free agent into the ready index of each queue it now serves. Ring queues keep the
// running order: the agents that were in the queue's ring keep their places; one that was not (a
// new member, or the queue used another policy) enters by how long it has been idle, before the
// first of them that entered its rings later than it became idle.
void Engine::rebuild_ready_index(const Engine& old) {
  struct Candidate {
    Micros key;           // entered the running engine's rings, or became idle
    std::uint32_t place;  // in the running engine's ring, kNone if it was not there
    std::uint32_t member;
  };
  // Members grouped by queue (a counting sort), so each queue is visited once.
  std::vector<std::uint32_t> first(queues_.size() + 1, 0);
  for (const MemberNode& m : members_) {
    ++first[m.queue + 1];
  }
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    first[q + 1] += first[q];
  }
  std::vector<std::uint32_t> by_queue(members_.size());
  std::vector<std::uint32_t> fill(first.begin(), first.end() - 1);
  for (std::uint32_t m = 0; m < members_.size(); ++m) {
    by_queue[fill[members_[m].queue]++] = m;
  }
  std::vector<Candidate> kept;
  std::vector<Candidate> joining;
  std::vector<Candidate> order;
  std::vector<std::uint32_t> place_of(old.agents_.size(), kNone);
  std::vector<AgentIndex> placed;
  constexpr Micros kNotInRing = ~Micros{0};
  std::vector<Micros> entered(agents_.size(), kNotInRing);  // earliest ring key per agent
  for (QueueIndex q = 0; q < queues_.size(); ++q) {
    const bool rings = uses_rings(params_[q].policy);
    const bool had_rings = q < old.queues_.size() && uses_rings(old.params_[q].policy);
    if (rings && had_rings) {
      const QueueRecord& was = old.queues_[q];
      for (std::uint32_t ri = was.ring_begin; ri < was.ring_begin + was.ring_count; ++ri) {
        const ReadyRing& ring = old.rings_[ri];
        for (std::uint32_t i = 0; i < ring.size; ++i) {
          const RingEntry& e = old.ring_entries_[ring.begin + (ring.head + i) % ring.capacity];
          if (old.ring_entry_valid(e)) {
            place_of[e.agent] = static_cast<std::uint32_t>(placed.size());
            placed.push_back(e.agent);
          }
        }
      }
    }
    kept.clear();
    joining.clear();
    for (std::uint32_t i = first[q]; i < first[q + 1]; ++i) {
      const std::uint32_t m = by_queue[i];
      MemberNode& node = members_[m];
      if (!available(node.agent, params_[q].media)) {
        continue;
      }
      if (!rings) {
        tree_[node.slot].key = member_key(node);
        index_insert(m);
        continue;
      }
      if (node.agent < place_of.size() && place_of[node.agent] != kNone) {
        kept.push_back(Candidate{old.ring_since_[node.agent], place_of[node.agent], m});
      } else {
        joining.push_back(Candidate{agents_[node.agent].idle_since, kNone, m});
      }
    }
    std::sort(kept.begin(), kept.end(),
              [](const Candidate& x, const Candidate& y) { return x.place < y.place; });
    std::sort(joining.begin(), joining.end(), [&](const Candidate& x, const Candidate& y) {
      if (x.key != y.key) {
        return x.key < y.key;
      }
      return members_[x.member].agent < members_[y.member].agent;
    });
    // Merged by key, a kept agent first on a tie. (Kept agents stay in their order even where their
    // keys are not: an agent of several media entered some rings later than its key says.)
    order.clear();
    std::size_t j = 0;
    for (const Candidate& k : kept) {
      while (j < joining.size() && joining[j].key < k.key) {
        order.push_back(joining[j++]);
      }
      order.push_back(k);
    }
    order.insert(order.end(), joining.begin() + static_cast<std::ptrdiff_t>(j), joining.end());
    for (const Candidate& c : order) {
      MemberNode& node = members_[c.member];
      entered[node.agent] = std::min(entered[node.agent], c.key);
      node.in_index = 1;
      ++queues_[q].ready_count;
      ring_push(node.slot, node.agent);
    }
    for (AgentIndex a : placed) {
      place_of[a] = kNone;
    }
    placed.clear();
  }
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    if (entered[a] != kNotInRing) {
      ring_since_[a] = entered[a];
    }
  }
}

}  // namespace acd::router
