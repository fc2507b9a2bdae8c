// The engine's state as a whole: hash, snapshot, restore, invariants and memory.
#include <algorithm>
#include <cstring>
#include <sstream>

#include "acd/router/engine.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace acd::router {

namespace {

constexpr std::uint64_t kSnapshotMagic = 0x0150414E53444341ull;  // "ACDSNAP\x01"

struct StaticHeader {
  std::uint32_t skill_count;
  std::uint32_t outbound_reserve_ms;
  std::uint32_t max_hops;
  std::uint32_t surge_eval_ms;
  std::uint32_t site_number;
  std::uint32_t max_site_hops;
  std::uint32_t site_summary_max_age_ms;
  std::uint32_t reserved;
};
static_assert(std::has_unique_object_representations_v<StaticHeader>);

// 64-bit hash, eight bytes at a time; not cryptographic, only a fingerprint of state.
// XXH3 (Debian's libxxhash, header only: inlined, nothing to link): the pair compares this hash
// on both routing cores, so its speed is a pause of routing. A hand-rolled FNV-style mix ran at
// 3.4 GB/s (3.3 ms for the default centre's 12 MB); XXH3 runs several times faster
// (bench/router_bench, BM_StateHash).
class StateHasher {
 public:
  StateHasher() { XXH3_64bits_reset(&state_); }
  void add(const void* data, std::size_t bytes) {
    XXH3_64bits_update(&state_, data, bytes);
    const std::uint64_t length = bytes;  // block boundaries count: [ab][c] differs from [a][bc]
    XXH3_64bits_update(&state_, &length, sizeof(length));
  }
  std::uint64_t value() const { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

}  // namespace

// Calls visit(pointer, bytes, is_configuration) for every array of state, in a fixed order.
template <typename Visit>
void Engine::for_each_array(Visit&& visit) const {
  auto& self = const_cast<Engine&>(*this);
  auto vec = [&](auto& v, bool config) {
    visit(static_cast<void*>(v.data()), v.size() * sizeof(v[0]), config);
  };
  StaticHeader header{skill_count_,  outbound_reserve_ms_, max_hops_,
                      surge_eval_ms_, site_number_,        max_site_hops_,
                      site_summary_max_age_ms_, 0};
  visit(static_cast<void*>(&header), sizeof(header), true);
  vec(self.agent_skills_, true);
  vec(self.numbers_, true);
  vec(self.params_, true);
  vec(self.rules_, true);
  vec(self.surge_params_, true);
  vec(self.surge_actions_, true);
  vec(self.queue_services_, true);
  vec(self.service_rules_, true);
  vec(self.agent_reserved_, true);
  vec(self.site_numbers_, true);
  vec(self.queue_keys_, true);
  vec(self.selection_params_, true);
  vec(self.agent_rule_, true);
  vec(self.agents_, false);
  vec(self.agent_cold_, false);
  vec(self.agent_stats_, false);
  vec(self.members_, false);
  vec(self.tree_, false);
  vec(self.rings_, false);
  vec(self.ring_entries_, false);
  vec(self.epochs_, false);
  vec(self.ring_since_, false);
  vec(self.queues_, false);
  vec(self.queue_stats_, false);
  vec(self.surge_, false);
  vec(self.service_down_, false);
  vec(self.site_summaries_, false);
  vec(self.selection_, false);
  vec(self.calls_, false);
  vec(self.call_map_.slots(), false);
  visit(static_cast<void*>(&self.call_map_.size_ref()), sizeof(std::size_t), false);
  vec(self.wheel_.nodes(), false);
  visit(static_cast<void*>(&self.s_), sizeof(s_), false);
}

std::uint64_t Engine::state_hash() const {
  StateHasher h;
  for_each_array([&](const void* data, std::size_t bytes, bool) { h.add(data, bytes); });
  const TimerWheel::Header wheel = wheel_.header();
  h.add(&wheel, sizeof(wheel));
  return h.value();
}

std::size_t Engine::snapshot_bytes() const {
  std::size_t total = sizeof(kSnapshotMagic) + sizeof(std::uint64_t) + sizeof(TimerWheel::Header);
  for_each_array([&](const void*, std::size_t bytes, bool) { total += sizeof(std::uint64_t) + bytes; });
  return total;
}

std::vector<std::uint8_t> Engine::snapshot() const {
  std::vector<std::uint8_t> out;
  snapshot_into(out);
  return out;
}

void Engine::snapshot_into(std::vector<std::uint8_t>& out) const {
  // Sized once, then written in place: the image is megabytes (the call pool), and growing it
  // step by step would copy it several times on the routing core; a buffer of the right size
  // from an earlier image is not even zeroed.
  out.resize(snapshot_bytes());
  std::size_t at = 0;
  auto put = [&](const void* data, std::size_t bytes) {
    if (bytes != 0) {
      std::memcpy(out.data() + at, data, bytes);
      at += bytes;
    }
  };
  put(&kSnapshotMagic, sizeof(kSnapshotMagic));
  for_each_array([&](const void* data, std::size_t bytes, bool) {
    const std::uint64_t n = bytes;
    put(&n, sizeof(n));
    put(data, bytes);
  });
  const TimerWheel::Header wheel = wheel_.header();
  const std::uint64_t n = sizeof(wheel);
  put(&n, sizeof(n));
  put(&wheel, sizeof(wheel));
}

bool Engine::restore(std::span<const std::uint8_t> image) {
  // First pass: every size must match and the configuration arrays must be equal.
  std::size_t at = 0;
  auto take = [&](std::size_t bytes) -> const std::uint8_t* {
    if (image.size() - at < bytes) {
      return nullptr;
    }
    const std::uint8_t* p = image.data() + at;
    at += bytes;
    return p;
  };
  auto take_block = [&](std::size_t expected) -> const std::uint8_t* {
    const std::uint8_t* len = take(sizeof(std::uint64_t));
    if (len == nullptr) {
      return nullptr;
    }
    std::uint64_t n;
    std::memcpy(&n, len, sizeof(n));
    return n == expected ? take(expected) : nullptr;
  };
  const std::uint8_t* magic = take(sizeof(kSnapshotMagic));
  if (magic == nullptr || std::memcmp(magic, &kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    return false;
  }
  bool ok = true;
  for_each_array([&](const void* data, std::size_t bytes, bool config) {
    const std::uint8_t* p = ok ? take_block(bytes) : nullptr;
    ok = p != nullptr && (!config || bytes == 0 || std::memcmp(p, data, bytes) == 0);
  });
  const TimerWheel::Header current = wheel_.header();
  if (!ok || take_block(sizeof(current)) == nullptr || at != image.size()) {
    return false;
  }
  // Second pass: copy.
  at = sizeof(kSnapshotMagic);
  for_each_array([&](void* data, std::size_t bytes, bool) {
    const std::uint8_t* p = take_block(bytes);
    if (bytes > 0) {
      std::memcpy(data, p, bytes);
    }
  });
  TimerWheel::Header wheel;
  std::memcpy(&wheel, take_block(sizeof(wheel)), sizeof(wheel));
  wheel_.set_header(wheel);
  return true;
}

std::size_t Engine::memory_bytes() const {
  std::size_t total = sizeof(*this) + sizeof(TimerWheel::Header);
  auto cap = [&](const auto& v) { total += v.capacity() * sizeof(v[0]); };
  cap(agents_);
  cap(agent_cold_);
  cap(agent_stats_);
  cap(agent_skills_);
  cap(members_);
  cap(tree_);
  cap(rings_);
  cap(ring_entries_);
  cap(epochs_);
  cap(ring_since_);
  cap(numbers_);
  cap(params_);
  cap(rules_);
  cap(queues_);
  cap(queue_stats_);
  cap(surge_params_);
  cap(surge_actions_);
  cap(queue_services_);
  cap(service_rules_);
  cap(agent_reserved_);
  cap(surge_);
  cap(service_down_);
  cap(loans_);
  cap(site_numbers_);
  cap(queue_keys_);
  cap(site_summaries_);
  cap(selection_params_);
  cap(agent_rule_);
  cap(selection_);
  cap(queue_kind_);
  cap(calls_);
  cap(call_map_.slots());
  cap(wheel_.nodes());
  cap(reach_);
  cap(queue_profiles_);
  cap(best_levels_);
  cap(servable_memo_);
  return total;
}

bool Engine::check_invariants(std::string* why) const {
  std::ostringstream problem;
  auto fail = [&]() {
    if (why != nullptr) {
      *why = problem.str();
    }
    return false;
  };
  {
    std::uint32_t surging = 0;
    for (const detail::SurgeRecord& r : surge_) {
      surging += r.active;
    }
    if (surging != s_.surging) {
      problem << s_.surging << " queues counted in surge, " << surging << " are";
      return fail();
    }
  }
  if (counters_.offer_violations != 0) {
    problem << counters_.offer_violations << " offers went to agents that were not available";
    return fail();
  }

  // Each queue's members from the agents' own lists (not from the reach tables), to check the
  // unservable mark of every waiting call against.
  std::vector<std::vector<AgentIndex>> members_of(queues_.size());
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    const detail::AgentRecord& r = agents_[a];
    for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
      members_of[members_[m].queue].push_back(a);
    }
  }

  // Calls: each used slot is in the map and in exactly one place.
  std::vector<std::uint8_t> seen(calls_.size(), 0);
  std::vector<std::uint32_t> ringing(agents_.size(), 0);
  std::vector<std::uint32_t> active(agents_.size(), 0);
  std::vector<std::array<std::uint32_t, kMediaCount>> load(agents_.size());
  std::uint32_t used = 0;
  for (CallSlot i = 0; i < calls_.size(); ++i) {
    const detail::CallRecord& c = calls_[i];
    if (c.state == CallState::Free) {
      continue;
    }
    ++used;
    if (find_call(c.id) != i) {
      problem << "call " << c.id << " is not found by its ID";
      return fail();
    }
    if (c.state == CallState::Queued) {
      const std::vector<AgentIndex>& members = members_of[c.queue];
      const bool someone = std::any_of(members.begin(), members.end(),
                                       [&](AgentIndex a) { return has_skills(a, c); });
      if ((c.unservable != 0) == someone) {
        problem << "queued call " << c.id << " is marked " << (c.unservable != 0 ? "un" : "")
                << "servable, but a scan of its queue's members says otherwise";
        return fail();
      }
      continue;
    }
    if (c.agent >= agents_.size() || agents_[c.agent].signed_in == 0) {
      problem << "call " << c.id << " is with agent " << c.agent << " who is not signed in";
      return fail();
    }
    ++load[c.agent][static_cast<int>(c.media)];
    if (c.state == CallState::Ringing) {
      ++ringing[c.agent];
      if (!wheel_.armed(i)) {
        problem << "ringing call " << c.id << " has no ring timer";
        return fail();
      }
    } else {
      ++active[c.agent];
    }
  }
  if (used != s_.calls_in_use) {
    problem << "calls_in_use " << s_.calls_in_use << " but " << used << " slots used";
    return fail();
  }
  std::uint32_t free_count = 0;
  for (CallSlot f = s_.free_call; f != kNone; f = calls_[f].next) {
    if (calls_[f].state != CallState::Free || ++free_count > calls_.size()) {
      problem << "free list is corrupt at slot " << f;
      return fail();
    }
  }
  if (free_count + used != calls_.size()) {
    problem << "free list holds " << free_count << " of " << calls_.size() - used << " free slots";
    return fail();
  }

  // Queues: every queued call in exactly one bucket, in seq order, counts consistent.
  std::uint32_t queued_total = 0;
  for (QueueIndex qi = 0; qi < queues_.size(); ++qi) {
    const detail::QueueRecord& q = queues_[qi];
    std::uint32_t waiting = 0;
    for (int p = 0; p < kPriorityLevels; ++p) {
      std::uint32_t n = 0;
      std::uint64_t last_seq = 0;
      std::uint32_t prev = kNone;
      for (CallSlot c = q.head[p]; c != kNone; c = calls_[c].next) {
        const detail::CallRecord& call = calls_[c];
        if (call.state != CallState::Queued || call.queue != qi || call.priority != p ||
            seen[c] != 0 || call.prev != prev || call.seq <= last_seq) {
          problem << "queue " << qi << " priority " << p << " bucket is inconsistent at call "
                  << call.id;
          return fail();
        }
        seen[c] = 1;
        last_seq = call.seq;
        prev = c;
        ++n;
      }
      if (n != q.count[p] || q.tail[p] != prev ||
          ((q.busy_priorities >> p) & 1u) != (n > 0 ? 1u : 0u)) {
        problem << "queue " << qi << " priority " << p << " count or tail is wrong";
        return fail();
      }
      waiting += n;
    }
    if (waiting != q.waiting) {
      problem << "queue " << qi << " says " << q.waiting << " waiting, buckets hold " << waiting;
      return fail();
    }
    queued_total += waiting;
  }
  for (CallSlot i = 0; i < calls_.size(); ++i) {
    if (calls_[i].state == CallState::Queued && seen[i] == 0) {
      problem << "queued call " << calls_[i].id << " is in no queue";
      return fail();
    }
  }

  // Agents: capacity, task counts, index membership and keys.
  std::vector<std::uint32_t> staffed(queues_.size(), 0);
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    const detail::AgentRecord& r = agents_[a];
    for (int m = 0; m < kMediaCount; ++m) {
      if (r.load[m] > r.capacity[m] || r.load[m] != load[a][m]) {
        problem << "agent " << a << " load " << int(r.load[m]) << " on media " << m << " (capacity "
                << int(r.capacity[m]) << ", calls " << load[a][m] << ")";
        return fail();
      }
    }
    if (r.ringing != ringing[a] || r.ringing > 1 || r.active != active[a]) {
      problem << "agent " << a << " task counts disagree with its calls";
      return fail();
    }
    if (r.signed_in == 0 && (r.in_wrap_up != 0 || r.ringing != 0 || r.active != 0)) {
      problem << "agent " << a << " is signed out but has work";
      return fail();
    }
    if ((r.in_wrap_up != 0) != wheel_.armed(static_cast<std::uint32_t>(calls_.size()) + a)) {
      problem << "agent " << a << " wrap-up and its timer disagree";
      return fail();
    }
    if (r.published != derive_state(a)) {
      problem << "agent " << a << " published state is stale";
      return fail();
    }
    for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
      const detail::MemberNode& node = members_[m];
      if (policy_of(node) != params_[node.queue].policy ||
          media_of(node) != params_[node.queue].media) {
        problem << "agent " << a << " membership of queue " << node.queue
                << " disagrees with the queue's policy or media";
        return fail();
      }
      const bool want = available(a, params_[node.queue].media);
      if ((node.in_index != 0) != want) {
        problem << "agent " << a << " is " << (want ? "missing from" : "wrongly in")
                << " the ready index of queue " << node.queue;
        return fail();
      }
      const bool stale = uses_rings(params_[node.queue].policy)
                             ? ring_since_[a] < r.idle_since || ring_since_[a] > s_.now
                             : tree_[node.slot].key != member_key(node);
      if (want && stale) {
        problem << "agent " << a << " has a stale key in queue " << node.queue;
        return fail();
      }
      if (r.signed_in != 0) {
        ++staffed[node.queue];
      }
    }
  }

  // Ready indexes: each indexed member reachable exactly once, in policy order, and no waiting
  // call that an indexed agent could take.
  std::vector<std::uint32_t> reached(members_.size(), 0);
  auto member_of = [&](AgentIndex a, QueueIndex qi) {
    const detail::AgentRecord& r = agents_[a];
    for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
      if (members_[m].queue == qi) {
        return m;
      }
    }
    return kNone;
  };
  for (QueueIndex qi = 0; qi < queues_.size(); ++qi) {
    const detail::QueueRecord& q = queues_[qi];
    if (staffed[qi] != q.staffed) {
      problem << "queue " << qi << " staffed " << q.staffed << " but " << staffed[qi]
              << " signed in";
      return fail();
    }
    std::uint32_t n = 0;
    std::uint32_t prev = kNone;
    bool ok = true;
    for_each_ready(qi, [&](AgentIndex a) {
      const std::uint32_t m = member_of(a, qi);
      if (!ok) {
        return;
      }
      if (m == kNone || members_[m].in_index == 0 || reached[m]++ != 0) {
        problem << "queue " << qi << " index holds agent " << a << " wrongly or twice";
        ok = false;
        return;
      }
      const bool rings = uses_rings(params_[qi].policy);
      // A ring is in order by construction (appended as agents become free, time only moving
      // forward); a treap by its keys.
      const bool ordered = params_[qi].policy == Policy::RoundRobin || prev == kNone || rings ||
                           member_less(prev, m);
      if (!ordered) {
        problem << "queue " << qi << " index is out of order at agent " << a;
        ok = false;
        return;
      }
      prev = m;
      ++n;
      for (int p = 0; p < kPriorityLevels && q.waiting > 0 && ok; ++p) {
        for (CallSlot c = q.head[p]; c != kNone; c = calls_[c].next) {
          if (has_skills(a, calls_[c]) && meets_floor(a, qi, expand_floor(calls_[c])) &&
              reserve_allows(member_of(a, qi), calls_[c])) {
            problem << "call " << calls_[c].id << " waits in queue " << qi << " while agent " << a
                    << " could take it";
            ok = false;
            break;
          }
        }
      }
    });
    if (!ok) {
      return fail();
    }
    if (n != q.ready_count) {
      problem << "queue " << qi << " ready_count " << q.ready_count << " but the index holds " << n;
      return fail();
    }
    if (!uses_rings(params_[qi].policy) && q.ready_root != kNone &&
        tree_[q.ready_root].size != q.ready_count) {
      problem << "queue " << qi << " treap size is wrong";
      return fail();
    }
  }
  for (std::uint32_t m = 0; m < members_.size(); ++m) {
    if (members_[m].in_index != 0 && reached[m] != 1) {
      problem << "agent " << members_[m].agent << " is marked ready in queue " << members_[m].queue
              << " but cannot be found there";
      return fail();
    }
  }
  (void)queued_total;
  return true;
}

}  // namespace acd::router
