// Routing: the call pool and ID map, the queues' priority buckets, matching (the best agent for a
// call, the best call for a free agent), placement and overflow, and the route request with its
// preview beside it. See router/DESIGN.md, "Waiting calls" and "Matching".
#include <algorithm>
#include <bit>
#include <cassert>

#include "acd/router/engine.hpp"
#include "saturating_ms.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::QueueRecord;
using detail::RuleRecord;

using detail::to_ms;

// ---------------------------------------------------------------------------------------------
// Call pool and call-ID map.

// A slot for a new call, arrived and entered its queue now, with the next sequence number.
CallSlot Engine::alloc_call(CallId id) {
  const CallSlot slot = s_.free_call;
  CallRecord& c = calls_[slot];
  s_.free_call = c.next;
  c = CallRecord{};
  c.id = id;
  c.arrived = s_.now;
  c.enqueued = s_.now;
  c.seq = s_.next_seq++;
  ++s_.calls_in_use;
  call_map_.insert(id, slot);
  return slot;
}

void Engine::free_call(CallSlot slot) {
  wheel_.cancel(slot);
  calls_[slot] = CallRecord{};
  calls_[slot].next = s_.free_call;
  s_.free_call = slot;
  --s_.calls_in_use;
}

CallSlot Engine::find_call(CallId id) const {
  const CallSlot slot = call_map_.find(id);
  return slot == IdMap::kMissing ? kNone : slot;
}

void Engine::map_erase(CallId id) {
  call_map_.erase(id);
}

// ---------------------------------------------------------------------------------------------
// Queue buckets: waiting calls by priority, their positions and EWT.

// Into its queue's priority bucket, ordered by seq: at the tail for a new call, at its old place
// for a call coming back from an unanswered offer.
void Engine::enqueue(CallSlot slot) {
  CallRecord& c = calls_[slot];
  QueueRecord& q = queues_[c.queue];
  const int p = c.priority;
  CallSlot before = q.head[p];
  if (q.tail[p] != kNone && calls_[q.tail[p]].seq < c.seq) {
    before = kNone;
  } else {
    while (before != kNone && calls_[before].seq < c.seq) {
      before = calls_[before].next;
    }
  }
  const CallSlot after = before == kNone ? q.tail[p] : calls_[before].prev;
  c.next = before;
  c.prev = after;
  (after == kNone ? q.head[p] : calls_[after].next) = slot;
  (before == kNone ? q.tail[p] : calls_[before].prev) = slot;
  ++q.count[p];
  ++q.waiting;
  q.busy_priorities |= 1u << p;
  set_state(c, CallState::Queued);
}

void Engine::dequeue(CallSlot slot) {
  CallRecord& c = calls_[slot];
  QueueRecord& q = queues_[c.queue];
  const int p = c.priority;
  (c.prev == kNone ? q.head[p] : calls_[c.prev].next) = c.next;
  (c.next == kNone ? q.tail[p] : calls_[c.next].prev) = c.prev;
  c.next = kNone;
  c.prev = kNone;
  --q.count[p];
  --q.waiting;
  if (q.count[p] == 0) {
    q.busy_priorities &= ~(1u << p);
  }
}

// 1 + calls ahead. Walks from both ends of the call's bucket at once, so a call at either end
// (a new arrival at the tail, a returned offer near the head) costs O(1).
std::uint32_t Engine::position_of(CallSlot slot) const {
  const CallRecord& c = calls_[slot];
  const QueueRecord& q = queues_[c.queue];
  std::uint32_t higher = 0;
  for (int p = kPriorityLevels - 1; p > c.priority; --p) {
    higher += q.count[p];
  }
  std::uint32_t ahead = 0;   // calls between the head and `front`
  std::uint32_t behind = 0;  // calls between `back` and the tail
  for (CallSlot front = q.head[c.priority], back = q.tail[c.priority];; ++ahead, ++behind) {
    if (front == slot) {
      return higher + ahead + 1;
    }
    if (back == slot) {
      return higher + q.count[c.priority] - behind;
    }
    front = calls_[front].next;
    back = calls_[back].prev;
  }
}

// A call's EWT at `position`: unknown, too, when no member of its queue could ever serve it.
std::uint32_t Engine::ewt_for_call(const CallRecord& c, std::uint32_t position) const {
  return c.unservable != 0 ? kUnknownEwt : ewt_for_position(c.queue, position);
}

std::uint32_t Engine::ewt_for_position(QueueIndex qi, std::uint32_t position) const {
  const QueueRecord& q = queues_[qi];
  if (q.staffed == 0) {
    return kUnknownEwt;
  }
  const std::uint64_t ewt = static_cast<std::uint64_t>(position) * q.aht_ms / q.staffed;
  return ewt >= kUnknownEwt ? kUnknownEwt - 1 : static_cast<std::uint32_t>(ewt);
}

// ---------------------------------------------------------------------------------------------
// Matching: the best agent for a call, the best call for a free agent.

// The best available agent of the call's queue, in the queue's policy order, that has the call's
// extra skills; kNone if there is none.
AgentIndex Engine::best_agent_for(CallSlot slot) {
  const CallRecord& c = calls_[slot];
  if (uses_rings(params_[c.queue].policy)) {
    trim_rings(c.queue);
  }
  return find_agent_for(c, counters_.agent_scan_steps);
}

// The search itself, changing nothing: `skipped` counts ready agents passed over for skills.
AgentIndex Engine::find_agent_for(const CallRecord& c, std::uint64_t& skipped) const {
  const QueueIndex q = c.queue;
  if (selection_params_[q].ranked != 0) {
    return find_ranked_agent(c, skipped);
  }
  if (params_[q].policy == Policy::LeastNeeded) {
    return least_needed_find(q, c, skipped);
  }
  if (uses_rings(params_[q].policy)) {
    return ring_find(q, c, skipped);
  }
  const std::uint8_t floor = expand_floor(c);
  std::uint32_t remaining = queues_[q].ready_count;
  for (std::uint32_t m = index_first(q); m != kNone && remaining > 0; m = index_next(q, m)) {
    --remaining;
    const AgentIndex a = members_[m].agent;
    if ((c.req_count == 0 || has_skills(a, c)) && members_[m].level >= floor) {
      return a;
    }
    ++skipped;
  }
  return kNone;
}

// The first waiting call of queue qi (highest priority first) that agent a, whose lowest level in
// the queue's skills is `level`, may take: it has the call's extra skills and the call's expand
// floor is at most `level`. A bucket is in arrival order, so the floors of the calls behind one
// that is too high are as high or higher: the rest of that bucket is skipped.
// With `min_wait` (µs), only calls that have waited that long (a reserve agent's); younger calls
// stand behind them in their bucket too.
CallSlot Engine::first_matching_call(QueueIndex qi, AgentIndex a, std::uint8_t level,
                                     Micros min_wait) {
  const QueueRecord& q = queues_[qi];
  const bool expands = selection_params_[qi].expand_count != 0;
  for (std::uint32_t bits = q.busy_priorities; bits != 0;) {
    const int p = 31 - std::countl_zero(bits);
    bits &= ~(1u << p);
    for (CallSlot c = q.head[p]; c != kNone; c = calls_[c].next) {
      if ((expands && expand_floor(calls_[c]) > level) ||
          (min_wait != 0 && s_.now - std::min(s_.now, calls_[c].enqueued) < min_wait)) {
        break;
      }
      if (calls_[c].req_count == 0 || has_skills(a, calls_[c])) {
        return c;
      }
      ++counters_.call_scan_steps;
    }
  }
  return kNone;
}

// best_call_for, the choice among the agent's queues, is in engine_selection.cpp.

// ---------------------------------------------------------------------------------------------
// Placement and overflow.

void Engine::offer(CallSlot slot, AgentIndex a) {
  CallRecord& c = calls_[slot];
  AgentRecord& r = agents_[a];
  if (!available(a, c.media)) {
    ++counters_.offer_violations;  // a bug: check_invariants reports it
    assert(false && "offer to an agent that is not available");
  }
  set_state(c, CallState::Ringing);
  c.agent = a;
  r.ringing = 1;
  r.ringing_call = slot;
  ++r.load[static_cast<int>(c.media)];
  assert(r.load[static_cast<int>(c.media)] <= r.capacity[static_cast<int>(c.media)]);
  ++agent_stats_[a].offered;
  queues_[c.queue].rr_cursor = a;
  selection_[c.queue].last_served = s_.now;
  wheel_.arm(slot, s_.now + static_cast<Micros>(params_[c.queue].ring_timeout_ms) * 1000);
  Decision d;
  d.type = DecisionType::Offer;
  d.call = c.id;
  d.agent = a;
  d.queue = c.queue;
  d.number = r.number;
  emit(d);
  refresh_index(a);
  publish(a);
}

void Engine::arm_wait_timer(CallSlot slot) {
  const CallRecord& c = calls_[slot];
  const QueueParams& p = params_[c.queue];
  // The next wait rule, or the next expand step (the call's floor falls) if sooner.
  Micros at = 0;
  if (c.callback == 0 && c.next_wait_rule < p.wait_rules_count) {
    const RuleRecord& rule = rules_[p.wait_rules_begin + c.next_wait_rule];
    at = c.enqueued + static_cast<Micros>(rule.threshold) * 1000;
  }
  const detail::SelectionParams& sp = selection_params_[c.queue];
  if (sp.expand_count != 0) {
    const Micros step = next_expand_deadline(c);
    if (step != 0 && (at == 0 || step < at)) {
      at = step;
    }
  }
  if (sp.ranked != 0 && sp.reserve_after_ms != 0) {
    // The reserve agents may take the call from then.
    const Micros reserve = c.enqueued + static_cast<Micros>(sp.reserve_after_ms) * 1000;
    if (reserve > s_.now && (at == 0 || reserve < at)) {
      at = reserve;
    }
  }
  if (at != 0) {
    wheel_.arm(slot, at);
  } else {
    wheel_.cancel(slot);
  }
}

// The first arrival overflow rule of the call's queue that a call joining it now would hit.
const RuleRecord* Engine::arrival_overflow(const CallRecord& c) const {
  const QueueParams& p = params_[c.queue];
  const QueueRecord& q = queues_[c.queue];
  for (std::uint32_t i = 0; i < p.arrival_rules_count; ++i) {
    const RuleRecord& rule = rules_[p.arrival_rules_begin + i];
    const bool hit = rule.when == OverflowCondition::QueueLengthAtLeast
                         ? q.waiting >= rule.threshold
                         : ewt_for_call(c, q.waiting + 1) >= rule.threshold;
    if (hit && rule_applies(c, rule)) {
      return &rule;
    }
  }
  return nullptr;
}

// The rule that decides at once where a call placed in its queue without an agent goes: the first
// arrival rule it hits (when arrival rules apply), else, for an unservable call, its next wait
// rule (by threshold, max wait last) without waiting for it — waiting gains such a call nothing.
// nullptr: the call waits.
const RuleRecord* Engine::placement_rule(const CallRecord& c, bool arrival_rules) const {
  if (arrival_rules) {
    if (const RuleRecord* rule = arrival_overflow(c)) {
      return rule;
    }
  }
  const QueueParams& p = params_[c.queue];
  if (c.unservable != 0 && c.next_wait_rule < p.wait_rules_count) {
    return &rules_[p.wait_rules_begin + c.next_wait_rule];
  }
  return nullptr;
}

// The position a call would take at the tail of its priority (a new arrival is always last).
std::uint32_t Engine::position_at_tail(const CallRecord& c) const {
  const QueueRecord& q = queues_[c.queue];
  std::uint32_t position = 1;
  for (int p = kPriorityLevels - 1; p >= c.priority; --p) {
    position += q.count[p];
  }
  return position;
}

// Finds the call an agent now, or lets the queue's rules move it on (arrival rules, and for a call
// no member could ever serve its next wait rule), or queues it.
void Engine::place_call(CallSlot slot, bool arrival_rules) {
  CallRecord& c = calls_[slot];
  if (const RuleRecord* divert = service_rule(c.queue)) {
    ++surge_[c.queue].diverted;
    apply_overflow(slot, *divert, Status::ServiceDown);
    return;
  }
  const AgentIndex a = best_agent_for(slot);
  if (a != kNone) {
    c.unservable = 0;
    offer(slot, a);
    return;
  }
  c.unservable = servable(c) ? 0 : 1;
  counters_.unservable_calls += c.unservable;
  if (arrival_rules && surging(c.queue)) {
    AgentIndex borrowed = kNone;
    RuleRecord step;
    if (surge_step(c, borrowed, step)) {
      if (borrowed != kNone) {
        c.unservable = 0;
        ++surge_[c.queue].borrowed;
        offer(slot, borrowed);
        return;
      }
      if (rule_applies(c, step)) {
        if (step.action != OverflowAction::CallbackKeepPlace) {
          ++surge_[c.queue].surge_overflows;
        }
        apply_overflow(slot, step);
        return;
      }
    }
  }
  if (const RuleRecord* rule = placement_rule(c, arrival_rules);
      rule != nullptr && apply_overflow(slot, *rule)) {
    return;
  }
  enqueue(slot);
  arm_wait_timer(slot);
  Decision d;
  d.type = DecisionType::Queued;
  d.call = c.id;
  d.queue = c.queue;
  d.position = position_of(slot);
  d.ewt_ms = ewt_for_call(c, d.position);
  emit(d);
}

// The Overflowed decision for a call leaving its queue by `rule`; `moves` says whether it goes on
// to the rule's target queue (false: the hop limit ends the loop with busy).
Decision Engine::overflow_decision(const CallRecord& c, const RuleRecord& rule, bool moves,
                                   Status why) const {
  Decision d;
  d.type = DecisionType::Overflowed;
  d.call = c.id;
  d.queue = c.queue;
  d.action = rule.action;
  d.target = rule.action == OverflowAction::CallbackKeepPlace ? c.queue : rule.target;
  d.status = why;
  if (rule.action == OverflowAction::ToQueue && !moves) {
    d.action = OverflowAction::Busy;
    d.status = Status::OverflowLoop;
  }
  if (rule.action == OverflowAction::ToSite) {
    // The next site learns where the call has been, this site included.
    d.target = site_target(c, rule);
    d.reason = static_cast<std::uint16_t>(c.site_hops + 1);
    d.number = c.visited | (std::uint64_t{1} << site_number_);
  }
  return d;
}

std::uint8_t Engine::effective_priority(const CallRecord& c) const {
  return static_cast<std::uint8_t>(std::min<int>(
      kPriorityLevels - 1, c.base_priority + params_[c.queue].tier_priority_boost[c.tier]));
}

// Applies an overflow rule to a call that is not in any queue bucket or is queued. Returns true
// when the call has left its queue (moved to another queue or out of the engine) or keeps its
// place for a callback; false, changing nothing, for a rule to a site that cannot apply now (no
// site accepts, hop limit, visited).
bool Engine::apply_overflow(CallSlot slot, const RuleRecord& rule, Status why) {
  CallRecord& c = calls_[slot];
  if (!rule_applies(c, rule)) {
    return false;
  }
  if (rule.action == OverflowAction::CallbackKeepPlace) {
    // The caller hangs up and keeps their place: the call waits on (a new arrival at the tail of
    // its priority, a waiting call where it is), its wait rules no longer apply.
    c.callback = 1;
    ++surge_[c.queue].callbacks;
    if (c.state != CallState::Queued) {
      enqueue(slot);
    }
    wheel_.cancel(slot);
    Decision d = overflow_decision(c, rule, false, why);
    d.position = position_of(slot);
    d.ewt_ms = ewt_for_call(c, d.position);
    emit(d);
    return true;
  }
  if (c.state == CallState::Queued) {
    dequeue(slot);
    record_wait_end(slot, false);
  }
  ++queue_stats_[c.queue].overflowed_out;
  const bool moves = rule.action == OverflowAction::ToQueue && c.hops < max_hops_;
  emit(overflow_decision(c, rule, moves, why));
  if (moves) {
    ++c.hops;
    c.queue = rule.target;
    c.enqueued = s_.now;
    c.seq = s_.next_seq++;
    c.next_wait_rule = 0;
    c.answer_counted = 0;
    set_state(c, CallState::Free);  // in transit: in no bucket, with no agent
    c.priority = effective_priority(c);
    count_offered(c.queue);
    place_call(slot, true);
    return true;
  }
  map_erase(c.id);
  free_call(slot);
  return true;
}

void Engine::record_wait_end(CallSlot slot, bool /*answered*/) {
  const CallRecord& c = calls_[slot];
  QueueStats& qs = queue_stats_[c.queue];
  qs.longest_wait_ms = std::max<std::uint64_t>(qs.longest_wait_ms, to_ms(s_.now - c.enqueued));
}

// ---------------------------------------------------------------------------------------------
// The route request, and its preview beside it.

// Why a route request would be refused (Ok if it would not): `kind` says whether as an Error (a
// malformed or impossible request) or as Rejected (a valid request the centre turns away).
Status Engine::check_route_request(const Event& e, bool check_call_id, DecisionType& kind) const {
  kind = DecisionType::Error;
  if (check_call_id && e.call == 0) {
    return Status::InvalidCallId;
  }
  if (!queue_exists(e.queue)) {
    return Status::UnknownQueue;
  }
  bool fields_ok = e.priority < kPriorityLevels && e.tier < kTierCount &&
                   e.skill_count <= kMaxCallSkills &&
                   (e.language == kNoSkill || e.language < skill_count_);
  for (int i = 0; i < e.skill_count && fields_ok; ++i) {
    fields_ok = e.skills[i].skill < skill_count_ && e.skills[i].min_level >= 1 &&
                e.skills[i].min_level <= kMaxProficiency;
  }
  // A call from another site: at most one hop per site number, and not from this one.
  fields_ok = fields_ok && e.reason <= kMaxSiteNumber + 1u &&
              (e.number >> site_number_ & 1u) == 0;
  if (!fields_ok) {
    return Status::BadField;
  }
  const QueueParams& p = params_[e.queue];
  if (e.media != p.media) {
    return Status::MediaMismatch;
  }
  if ((check_call_id || e.call != 0) && find_call(e.call) != kNone) {
    return Status::DuplicateCall;
  }
  kind = DecisionType::Rejected;
  if (e.verification < p.min_verification) {
    return Status::VerificationRequired;
  }
  if (s_.free_call == kNone) {
    return Status::CallPoolFull;
  }
  return Status::Ok;
}

// A call record's routing fields from a route request (identity and times are the caller's).
void Engine::init_call(CallRecord& c, const Event& e) const {
  c.queue = e.queue;
  c.media = e.media;
  c.tier = e.tier;
  c.verification = e.verification;
  c.base_priority = e.priority;
  c.priority = effective_priority(c);
  c.site_hops = static_cast<std::uint8_t>(e.reason);
  c.visited = e.number;
  for (int i = 0; i < e.skill_count; ++i) {
    c.req[c.req_count++] = e.skills[i];
  }
  if (e.language != kNoSkill) {
    c.req[c.req_count++] = SkillRequirement{e.language, 1, 0};
  }
}

void Engine::on_route_request(const Event& e) {
  DecisionType kind;
  if (const Status why = check_route_request(e, true, kind); why != Status::Ok) {
    if (kind == DecisionType::Error) {
      error(why, e);
      return;
    }
    Decision reject;
    reject.type = DecisionType::Rejected;
    reject.call = e.call;
    reject.queue = e.queue;
    reject.status = why;
    emit(reject);
    return;
  }
  const CallSlot slot = alloc_call(e.call);
  CallRecord& c = calls_[slot];
  init_call(c, e);
  count_offered(e.queue);
  place_call(slot, true);
}

// Follows place_call and apply_overflow on a copy of the call record; see the header.
void Engine::preview_route(const Event& e, DecisionSink sink) const {
  auto say = [&](Decision d) {
    d.time = s_.now;
    d.cause = EventType::RouteRequest;
    sink(d);
  };
  Decision d;
  d.call = e.call;
  d.queue = e.queue;
  DecisionType kind;
  if (const Status why = check_route_request(e, false, kind); why != Status::Ok) {
    d.type = kind;
    d.status = why;
    d.agent = kind == DecisionType::Error ? e.agent : kNone;
    say(d);
    return;
  }
  CallRecord c;
  c.id = e.call;
  c.enqueued = s_.now;
  init_call(c, e);
  std::uint64_t skipped = 0;
  auto offer_to = [&](AgentIndex a) {
    d.type = DecisionType::Offer;
    d.queue = c.queue;
    d.agent = a;
    d.number = agents_[a].number;
    say(d);
  };
  for (;;) {
    Status why = Status::Ok;
    RuleRecord step;
    const RuleRecord* rule = service_rule(c.queue);
    if (rule != nullptr) {
      why = Status::ServiceDown;
    } else if (const AgentIndex a = find_agent_for(c, skipped); a != kNone) {
      offer_to(a);
      return;
    } else {
      c.unservable = servable(c) ? 0 : 1;
      AgentIndex borrowed = kNone;
      if (surging(c.queue) && surge_step(c, borrowed, step) &&
          (borrowed != kNone || rule_applies(c, step))) {
        if (borrowed != kNone) {
          offer_to(borrowed);
          return;
        }
        rule = &step;
      } else {
        rule = placement_rule(c, true);
      }
    }
    if (rule != nullptr && !rule_applies(c, *rule)) {
      rule = nullptr;  // a site rule no site can take now: the call waits
    }
    if (rule != nullptr && rule->action == OverflowAction::CallbackKeepPlace) {
      Decision cb = overflow_decision(c, *rule, false, why);
      cb.position = position_at_tail(c);
      cb.ewt_ms = ewt_for_call(c, cb.position);
      say(cb);
      return;
    }
    if (rule == nullptr) {
      d.type = DecisionType::Queued;
      d.queue = c.queue;
      d.position = position_at_tail(c);
      d.ewt_ms = ewt_for_call(c, d.position);
      say(d);
      return;
    }
    const bool moves = rule->action == OverflowAction::ToQueue && c.hops < max_hops_;
    say(overflow_decision(c, *rule, moves, why));
    if (!moves) {
      return;
    }
    ++c.hops;
    c.queue = rule->target;
    c.priority = effective_priority(c);
  }
}

}  // namespace acd::router
