// The ready-agent index of each queue. See router/DESIGN.md, "Ready-agent index".
//
// Longest-idle and most-skilled queues keep FIFO rings of (agent, epoch) entries: an agent that
// becomes free is appended (time only moves forward, so appending keeps idle order); an agent that
// stops being free just bumps its epoch, which makes all its entries stale without touching any
// queue. Stale entries are dropped when they reach the head or when a full ring is compacted. This
// keeps the common path to the cache lines of the agent and the ring tails.
//
// Round-robin, fewest-calls and least-talk-time queues keep a treap keyed by the policy key; its
// nodes (links and subtree sizes) are in tree_, one per membership of such a queue, so that the
// memberships of ring queues do not carry them.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "acd/router/engine.hpp"
#include "acd/router/mix.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::AgentStats;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueRecord;
using detail::ReadyRing;
using detail::RingEntry;
using detail::TreeNode;

namespace {

// Treap priorities are a fixed function of the node's index: deterministic and well spread.
std::uint32_t treap_priority(std::uint32_t node) {
  return static_cast<std::uint32_t>(mix64(node + 0x9e3779b97f4a7c15ull));
}

std::uint64_t saturate(std::uint64_t value, int bits) {
  const std::uint64_t max = (1ull << bits) - 1;
  return value > max ? max : value;
}

}  // namespace

// One ring per queue, or per (queue, proficiency) for most-skilled, highest proficiency first. A
// member has at most one valid entry in its ring, so a full ring of n members and n / 4 + 4 spare
// entries frees at least a fifth of itself by compaction: amortised five entries moved per push,
// read in order. (Rings twice the members would halve that, at 6 more bytes per membership: 120 B
// per agent at 20 skills each.) One treap node per membership of the other queues.
void Engine::build_rings() {
  std::map<std::pair<QueueIndex, int>, std::uint32_t> count;  // (queue, -proficiency) -> members
  std::uint32_t tree_nodes = 0;
  for (const MemberNode& m : members_) {
    const int level = policy_of(m) == Policy::MostSkilled ? -m.proficiency : 0;
    if (uses_rings(policy_of(m))) {
      ++count[{m.queue, level}];
    } else {
      ++tree_nodes;
    }
  }
  tree_.reserve(tree_nodes);
  std::map<std::pair<QueueIndex, int>, std::uint32_t> ring_of;
  std::uint32_t entries = 0;
  for (const auto& [key, n] : count) {
    QueueRecord& q = queues_[key.first];
    if (q.ring_count == 0) {
      q.ring_begin = static_cast<std::uint32_t>(rings_.size());
    }
    ++q.ring_count;
    ReadyRing ring;
    ring.begin = entries;
    ring.capacity = n + n / 4 + 4;
    entries += ring.capacity;
    ring_of[key] = static_cast<std::uint32_t>(rings_.size());
    rings_.push_back(ring);
  }
  ring_entries_.resize(entries);
  epochs_.resize(agents_.size());
  ring_since_.resize(agents_.size());
  for (std::uint32_t i = 0; i < members_.size(); ++i) {
    MemberNode& m = members_[i];
    if (uses_rings(policy_of(m))) {
      const int level = policy_of(m) == Policy::MostSkilled ? -m.proficiency : 0;
      m.slot = ring_of[{m.queue, level}];
    } else {
      m.slot = static_cast<std::uint32_t>(tree_.size());
      tree_.push_back(TreeNode{0, i, kNone, kNone, 0});
    }
  }
}

void Engine::ring_push(std::uint32_t ring_index, AgentIndex a) {
  ReadyRing& ring = rings_[ring_index];
  RingEntry* entries = ring_entries_.data() + ring.begin;
  auto after = [&](std::uint32_t i) { return i + 1 == ring.capacity ? 0 : i + 1; };
  if (ring.size == ring.capacity) {
    // Compact in place: keep the valid entries, in order, from the head.
    std::uint32_t kept = 0;
    std::uint32_t to = ring.head;
    for (std::uint32_t i = 0, from = ring.head; i < ring.size; ++i, from = after(from)) {
      const RingEntry e = entries[from];
      if (ring_entry_valid(e)) {
        entries[to] = e;
        to = after(to);
        ++kept;
      }
    }
    ring.size = kept;
  }
  std::uint32_t tail = ring.head + ring.size;
  if (tail >= ring.capacity) {
    tail -= ring.capacity;
  }
  entries[tail] = RingEntry{a, epochs_[a]};
  ++ring.size;
}

// The first valid agent of the queue's rings, in order, that has the call's extra skills. Stale
// entries at a ring's head are dropped on the way.
// Drops the stale entries at the head of each of the queue's rings (an optimisation only: the
// search below skips stale entries anyway).
void Engine::trim_rings(QueueIndex qi) {
  const QueueRecord& q = queues_[qi];
  if (q.ready_count == 0) {
    return;
  }
  for (std::uint32_t r = q.ring_begin; r < q.ring_begin + q.ring_count; ++r) {
    ReadyRing& ring = rings_[r];
    const RingEntry* entries = ring_entries_.data() + ring.begin;
    while (ring.size > 0 && !ring_entry_valid(entries[ring.head])) {
      ring.head = ring.head + 1 == ring.capacity ? 0 : ring.head + 1;
      --ring.size;
    }
  }
}

AgentIndex Engine::ring_find(QueueIndex qi, const CallRecord& c, std::uint64_t& skipped) const {
  const QueueRecord& q = queues_[qi];
  if (q.ready_count == 0) {
    return kNone;
  }
  const std::uint8_t floor = expand_floor(c);
  for (std::uint32_t r = q.ring_begin; r < q.ring_begin + q.ring_count; ++r) {
    const ReadyRing& ring = rings_[r];
    const RingEntry* entries = ring_entries_.data() + ring.begin;
    for (std::uint32_t i = 0; i < ring.size; ++i) {
      const RingEntry& e = entries[(ring.head + i) % ring.capacity];
      if (!ring_entry_valid(e)) {
        continue;
      }
      if ((c.req_count == 0 || has_skills(e.agent, c)) && meets_floor(e.agent, qi, floor)) {
        return e.agent;
      }
      ++skipped;
    }
  }
  return kNone;
}

// The cover agent a leaves behind if it takes a call of queue q: the fewest ready agents in any
// other queue whose ready index it is in (it counts in each of them). An agent in no other
// queue's index takes nothing from anyone: the most cover. O(queues the agent serves).
std::uint32_t Engine::cover_left(AgentIndex a, QueueIndex q) const {
  const AgentRecord& r = agents_[a];
  std::uint32_t least = kNone;
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    const MemberNode& n = members_[m];
    if (n.queue != q && n.in_index != 0) {
      least = std::min(least, queues_[n.queue].ready_count);
    }
  }
  return least;
}

// Least needed: of the first kLeastNeededLook agents ring_find would consider (longest idle first,
// those that may take the call), the one that leaves the most cover behind (cover_left), the
// longest idle among equals. Keeps the free agents of a skill-chained centre spread over all the
// queues, so that the next call of any type finds one. The first agent whose other queues all keep
// at least kLeastNeededPlenty ready agents (or that has no other queue) is taken at once: nobody
// is short of cover then, and a centre with many free agents pays one cover_left per call. The
// walk ends after the queue's ready_count valid entries (a least_needed queue has one ring, and
// an agent in its index has exactly one valid entry there): what follows is stale, so a queue
// with fewer ready agents than kLeastNeededLook no longer costs a walk of its whole ring.
// O(kLeastNeededLook × queues per agent + entries skipped).
AgentIndex Engine::least_needed_find(QueueIndex qi, const CallRecord& c,
                                     std::uint64_t& skipped) const {
  return least_needed_walk(qi, c, skipped, true);
}

// The old walk, kept as the reference the walk above is checked against: it goes on to the end of
// the ring when fewer than kLeastNeededLook agents may take the call.
AgentIndex Engine::least_needed_find_reference(QueueIndex qi, const CallRecord& c) const {
  std::uint64_t skipped = 0;
  return least_needed_walk(qi, c, skipped, false);
}

AgentIndex Engine::least_needed_walk(QueueIndex qi, const CallRecord& c, std::uint64_t& skipped,
                                     bool stop_after_ready) const {
  const QueueRecord& q = queues_[qi];
  if (q.ready_count == 0) {
    return kNone;
  }
  const std::uint8_t floor = expand_floor(c);
  // Valid entries to pass at most: after ready_count of them only stale ones follow.
  const std::uint32_t valid = stop_after_ready ? q.ready_count : kNone;
  AgentIndex best = kNone;
  std::uint32_t best_cover = 0;
  std::uint32_t looked = 0;
  std::uint32_t seen = 0;
  for (std::uint32_t r = q.ring_begin; r < q.ring_begin + q.ring_count; ++r) {
    const ReadyRing& ring = rings_[r];
    const RingEntry* entries = ring_entries_.data() + ring.begin;
    for (std::uint32_t i = 0; i < ring.size && looked < kLeastNeededLook && seen < valid; ++i) {
      const RingEntry& e = entries[(ring.head + i) % ring.capacity];
      if (!ring_entry_valid(e)) {
        continue;
      }
      ++seen;
      if (!((c.req_count == 0 || has_skills(e.agent, c)) && meets_floor(e.agent, qi, floor))) {
        ++skipped;
        continue;
      }
      ++looked;
      const std::uint32_t cover = cover_left(e.agent, qi);
      if (best == kNone || cover > best_cover) {
        best = e.agent;
        best_cover = cover;
      }
      if (cover >= kLeastNeededPlenty) {
        return best;  // its other queues keep plenty of ready agents (or it has none)
      }
    }
  }
  return best;
}

bool Engine::least_needed_matches_reference(std::string* why) const {
  for (QueueIndex qi = 0; qi < queues_.size(); ++qi) {
    if (params_[qi].policy != Policy::LeastNeeded || selection_params_[qi].ranked != 0) {
      continue;
    }
    CallRecord plain;
    plain.queue = qi;
    std::vector<const CallRecord*> probes{&plain};
    const QueueRecord& q = queues_[qi];
    for (int p = kPriorityLevels - 1; p >= 0; --p) {
      if (q.head[p] != kNone) {
        probes.push_back(&calls_[q.head[p]]);
        break;
      }
    }
    for (const CallRecord* c : probes) {
      std::uint64_t skipped = 0;
      const AgentIndex found = least_needed_find(qi, *c, skipped);
      const AgentIndex reference = least_needed_find_reference(qi, *c);
      if (found != reference) {
        if (why != nullptr) {
          *why = "queue " + std::to_string(qi) + ": least_needed chose agent " +
                 std::to_string(found) + ", the reference " + std::to_string(reference);
        }
        return false;
      }
    }
  }
  return true;
}

// Calls visit(agent) for every agent in the queue's ready index, in policy order.
void Engine::for_each_ready(QueueIndex qi, FunctionRef<void(AgentIndex)> visit) const {
  const QueueRecord& q = queues_[qi];
  if (uses_rings(params_[qi].policy)) {
    for (std::uint32_t r = q.ring_begin; r < q.ring_begin + q.ring_count; ++r) {
      const ReadyRing& ring = rings_[r];
      for (std::uint32_t i = 0; i < ring.size; ++i) {
        const RingEntry& e = ring_entries_[ring.begin + (ring.head + i) % ring.capacity];
        if (ring_entry_valid(e)) {
          visit(e.agent);
        }
      }
    }
    return;
  }
  std::uint32_t remaining = q.ready_count;
  for (std::uint32_t m = index_first(qi); m != kNone && remaining > 0; m = index_next(qi, m)) {
    --remaining;
    visit(members_[m].agent);
  }
}

std::uint64_t Engine::member_key(const MemberNode& m) const {
  const AgentRecord& r = agents_[m.agent];
  const AgentStats& st = agent_stats_[m.agent];
  switch (policy_of(m)) {
    case Policy::LongestIdle:
    case Policy::LeastNeeded:
      return r.idle_since;
    case Policy::MostSkilled:
      return (static_cast<std::uint64_t>(255 - m.proficiency) << 56) | saturate(r.idle_since, 56);
    case Policy::RoundRobin:
      return m.agent;
    case Policy::FewestCalls:
      return (saturate(st.answered, 22) << 42) | saturate(r.idle_since >> 10, 42);
    case Policy::LeastTalkTime:
      return (saturate(st.talk_ms / 1000, 22) << 42) | saturate(r.idle_since >> 10, 42);
  }
  return 0;
}

bool Engine::member_less(std::uint32_t x, std::uint32_t y) const {
  return tree_less(members_[x].slot, members_[y].slot);
}

// Puts the agent into, or takes it out of, the ready index of every queue it serves, after any
// change to its availability or its policy keys.
void Engine::refresh_index(AgentIndex a) {
  AgentRecord& r = agents_[a];
  const std::uint32_t first = r.members_begin;
  const std::uint32_t last = r.members_begin + r.members_count;
  // Rings: leaving any ring, or becoming idle anew while in one (a chat ended: back of the line),
  // makes all the agent's ring entries stale at once; it then re-enters every ring it is still free
  // for. Idle anew: since the earliest of its ring entries, which is when the others were made too
  // or before.
  bool in_ring = false;
  bool bump = false;
  for (std::uint32_t m = first; m < last && !bump; ++m) {
    const MemberNode& node = members_[m];
    if (node.in_index != 0 && uses_rings(policy_of(node))) {
      in_ring = true;
      bump = !available(a, media_of(node));
    }
  }
  bump = bump || (in_ring && r.idle_since > ring_since_[a]);
  if (bump) {
    ++epochs_[a];
    in_ring = false;
  }
  for (std::uint32_t m = first; m < last; ++m) {
    MemberNode& node = members_[m];
    const bool want = available(a, media_of(node));
    if (uses_rings(policy_of(node))) {
      if (node.in_index != 0 && bump) {
        node.in_index = 0;
        --queues_[node.queue].ready_count;
      }
      if (want && node.in_index == 0) {
        if (!in_ring) {
          ring_since_[a] = s_.now;  // ring order is the order agents became free
          in_ring = true;
        }
        node.in_index = 1;
        ++queues_[node.queue].ready_count;
        ring_push(node.slot, a);
      }
      continue;
    }
    std::uint64_t& key = tree_[node.slot].key;
    if (node.in_index != 0) {
      if (want && member_key(node) == key) {
        continue;
      }
      index_erase(m);
    }
    if (want) {
      key = member_key(node);
      index_insert(m);
    }
  }
}

// Treap operations work on tree_ indices (t, l, r, pivot); the index's API (index_insert, ...)
// speaks of memberships.
void Engine::treap_split(std::uint32_t t, std::uint32_t pivot, bool pivot_goes_right,
                         std::uint32_t& l, std::uint32_t& r) {
  if (t == kNone) {
    l = kNone;
    r = kNone;
    return;
  }
  const bool t_right = pivot_goes_right ? !tree_less(t, pivot) : tree_less(pivot, t);
  if (t_right) {
    treap_split(tree_[t].left, pivot, pivot_goes_right, l, tree_[t].left);
    r = t;
  } else {
    treap_split(tree_[t].right, pivot, pivot_goes_right, tree_[t].right, r);
    l = t;
  }
  treap_update(t);
}

std::uint32_t Engine::treap_merge(std::uint32_t l, std::uint32_t r) {
  if (l == kNone) {
    return r;
  }
  if (r == kNone) {
    return l;
  }
  if (treap_priority(l) > treap_priority(r)) {
    tree_[l].right = treap_merge(tree_[l].right, r);
    treap_update(l);
    return l;
  }
  tree_[r].left = treap_merge(l, tree_[r].left);
  treap_update(r);
  return r;
}

void Engine::index_insert(std::uint32_t m) {
  MemberNode& member = members_[m];
  QueueRecord& q = queues_[member.queue];
  const std::uint32_t n = member.slot;
  TreeNode& node = tree_[n];
  member.in_index = 1;
  node.left = kNone;
  node.right = kNone;
  node.size = 1;
  ++q.ready_count;
  // Descend to where the node's priority belongs, split the rest under it.
  std::uint32_t* link = &q.ready_root;
  while (*link != kNone && treap_priority(*link) > treap_priority(n)) {
    TreeNode& t = tree_[*link];
    ++t.size;
    link = tree_less(n, *link) ? &t.left : &t.right;
  }
  treap_split(*link, n, true, node.left, node.right);
  treap_update(n);
  *link = n;
}

void Engine::index_erase(std::uint32_t m) {
  MemberNode& member = members_[m];
  QueueRecord& q = queues_[member.queue];
  const std::uint32_t n = member.slot;
  TreeNode& node = tree_[n];
  member.in_index = 0;
  --q.ready_count;
  std::uint32_t* link = &q.ready_root;
  while (*link != n) {
    TreeNode& t = tree_[*link];
    --t.size;
    link = tree_less(n, *link) ? &t.left : &t.right;
  }
  *link = treap_merge(node.left, node.right);
  node.left = kNone;
  node.right = kNone;
  node.size = 0;
}

// Treap queues only: the first member in policy order (round robin: the first after the cursor).
std::uint32_t Engine::index_first(QueueIndex qi) const {
  const QueueRecord& q = queues_[qi];
  std::uint32_t t = q.ready_root;
  if (params_[qi].policy == Policy::RoundRobin && q.rr_cursor != kNone) {
    std::uint32_t found = kNone;
    while (t != kNone) {
      if (members_[tree_[t].member].agent > q.rr_cursor) {
        found = t;
        t = tree_[t].left;
      } else {
        t = tree_[t].right;
      }
    }
    if (found != kNone) {
      return tree_[found].member;
    }
    t = q.ready_root;
  }
  while (t != kNone && tree_[t].left != kNone) {
    t = tree_[t].left;
  }
  return t == kNone ? kNone : tree_[t].member;
}

// Treap queues only: the member after m in policy order; round robin wraps around (callers bound
// the walk by ready_count).
std::uint32_t Engine::index_next(QueueIndex qi, std::uint32_t m) const {
  std::uint32_t found = kNone;
  std::uint32_t t = queues_[qi].ready_root;
  while (t != kNone) {
    if (member_less(m, tree_[t].member)) {
      found = t;
      t = tree_[t].left;
    } else {
      t = tree_[t].right;
    }
  }
  if (found == kNone && params_[qi].policy == Policy::RoundRobin) {
    found = queues_[qi].ready_root;
    while (found != kNone && tree_[found].left != kNone) {
      found = tree_[found].left;
    }
  }
  return found == kNone ? kNone : tree_[found].member;
}

}  // namespace acd::router
