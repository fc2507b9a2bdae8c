// The routing engine: construction, dispatch (apply, emit, error), timers and queries. The
// handlers are beside it: agents in engine_agents.cpp, routing in engine_routing.cpp, calls after
// placement in engine_calls.cpp. See router/DESIGN.md.
#include "acd/router/engine.hpp"

#include <algorithm>
#include <cassert>

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::QueueRecord;
using detail::RuleRecord;

// ---------------------------------------------------------------------------------------------
// Construction: flatten the configuration into pools; parameters reloaded in place.

Engine::Engine(const EngineConfig& config)
    : wheel_(config.max_calls + static_cast<std::uint32_t>(config.agents.size())) {
  assert(validate_config(config).empty());
  skill_count_ = config.skill_count;
  max_hops_ = config.max_overflow_hops;
  outbound_reserve_ms_ = config.outbound_reserve_ms;

  // Queues and their overflow rules.
  std::vector<std::vector<QueueIndex>> queues_by_first_skill(config.skill_count);
  queues_.resize(config.queues.size());
  queue_stats_.resize(config.queues.size());
  load_queue_params(config);
  load_surge_params(config);
  load_site_params(config);
  for (QueueIndex q = 0; q < config.queues.size(); ++q) {
    const QueueConfig& qc = config.queues[q];
    QueueRecord& rec = queues_[q];
    rec.head.fill(kNone);
    rec.tail.fill(kNone);
    rec.aht_ms = std::max<std::uint32_t>(qc.expected_aht_ms, 1);
    rec.retired = qc.retired ? 1 : 0;
    if (!qc.skills.empty() && !qc.retired) {
      queues_by_first_skill[qc.skills.front().skill].push_back(q);
    }
  }

  // Agents, their skills and the queues they serve.
  agents_.resize(config.agents.size());
  agent_cold_.resize(config.agents.size());
  agent_stats_.resize(config.agents.size());
  numbers_.reserve(config.agents.size());
  std::vector<QueueIndex> served;
  for (AgentIndex a = 0; a < config.agents.size(); ++a) {
    const AgentConfig& ac = config.agents[a];
    AgentRecord& r = agents_[a];
    r.number = ac.number;
    r.capacity = ac.capacity;
    r.skills_begin = static_cast<std::uint32_t>(agent_skills_.size());
    agent_skills_.insert(agent_skills_.end(), ac.skills.begin(), ac.skills.end());
    std::sort(agent_skills_.begin() + r.skills_begin, agent_skills_.end(),
              [](const SkillLevel& x, const SkillLevel& y) { return x.skill < y.skill; });
    r.skills_count = static_cast<std::uint16_t>(ac.skills.size());
    r.members_begin = static_cast<std::uint32_t>(members_.size());
    r.retired = ac.retired ? 1 : 0;
    if (ac.retired) {
      continue;  // no number to find it by, no queue to serve
    }
    numbers_.push_back(detail::AgentNumberEntry{ac.number, a, 0});

    auto level_of = [&](SkillId s) -> std::uint8_t {
      for (const SkillLevel& sl : ac.skills) {
        if (sl.skill == s) {
          return sl.level;
        }
      }
      return 0;
    };
    served.clear();
    for (const SkillLevel& sl : ac.skills) {
      for (QueueIndex q : queues_by_first_skill[sl.skill]) {
        served.push_back(q);
      }
    }
    std::sort(served.begin(), served.end());
    served.erase(std::unique(served.begin(), served.end()), served.end());
    for (QueueIndex q : served) {
      const QueueParams& p = params_[q];
      unsigned proficiency = 0;
      bool qualified = true;
      for (int i = 0; i < p.skill_count; ++i) {
        const std::uint8_t level = level_of(p.skills[i].skill);
        qualified = qualified && level >= p.skills[i].min_level;
        proficiency += level;
      }
      if (!qualified || r.capacity[static_cast<int>(p.media)] == 0) {
        continue;
      }
      MemberNode m;
      m.agent = a;
      m.queue = q;
      m.proficiency = static_cast<std::uint8_t>(std::min(proficiency, 255u));
      m.level = kMaxProficiency;
      for (int i = 0; i < p.skill_count; ++i) {
        m.level = std::min(m.level, level_of(p.skills[i].skill));
      }
      members_.push_back(m);
    }
    r.members_count = static_cast<std::uint16_t>(members_.size() - r.members_begin);
  }
  std::sort(numbers_.begin(), numbers_.end(),
            [](const auto& x, const auto& y) { return x.number < y.number; });

  // Calls: a free list through `next`, and the ID map at most half full.
  calls_.resize(config.max_calls);
  for (CallSlot i = 0; i < config.max_calls; ++i) {
    calls_[i].next = i + 1 < config.max_calls ? i + 1 : kNone;
  }
  s_.free_call = config.max_calls > 0 ? 0 : kNone;
  selection_.assign(config.queues.size(), detail::SelectionRecord{});
  load_selection_params(config);
  build_rings();
  build_reach();
  call_map_ = IdMap(config.max_calls);
  // Built once from the configuration and never grown afterwards: push_back's doubling left up
  // to half of each as spare capacity, which at 20 skills per agent is hundreds of bytes a head.
  agent_skills_.shrink_to_fit();
  members_.shrink_to_fit();
  rules_.shrink_to_fit();
  rings_.shrink_to_fit();
  queue_profiles_.shrink_to_fit();
  best_levels_.shrink_to_fit();
  deep_look_ahead_ = memory_bytes() > kDeepLookAheadBytes;
}

// Flattens every queue's parameters and overflow rules (arrival rules, then wait rules by
// threshold with max wait among them) into params_ and rules_.
void Engine::load_queue_params(const EngineConfig& config) {
  params_.assign(config.queues.size(), QueueParams{});
  queue_kind_.assign(config.queues.size(), detail::QueueKind{});
  rules_.clear();
  auto to_record = [](const OverflowRule& r) {
    RuleRecord rec;
    rec.threshold = r.threshold;
    rec.target = r.target;
    rec.when = r.when;
    rec.action = r.action;
    return rec;
  };
  for (QueueIndex q = 0; q < config.queues.size(); ++q) {
    const QueueConfig& qc = config.queues[q];
    QueueParams& p = params_[q];
    p.sl_threshold_ms = std::max<std::uint32_t>(qc.sl_threshold_ms, 1);
    p.ring_timeout_ms = qc.ring_timeout_ms;
    p.wrap_up_ms = qc.wrap_up_ms;
    p.expected_aht_ms = qc.expected_aht_ms;
    p.priority_aging_ms = qc.priority_aging_ms;
    p.media = qc.media;
    p.policy = qc.policy;
    queue_kind_[q] = detail::QueueKind{qc.policy, qc.media};
    p.sl_target_permille = qc.sl_target_permille;
    p.min_verification = qc.min_verification;
    p.tier_priority_boost = qc.tier_priority_boost;
    p.skill_count = static_cast<std::uint8_t>(qc.skills.size());
    for (std::size_t i = 0; i < qc.skills.size(); ++i) {
      p.skills[i] = qc.skills[i];
    }
    p.arrival_rules_begin = static_cast<std::uint32_t>(rules_.size());
    for (const OverflowRule& r : qc.overflow) {
      if (r.when != OverflowCondition::WaitAtLeast) {
        rules_.push_back(to_record(r));
      }
    }
    p.arrival_rules_count = static_cast<std::uint8_t>(rules_.size() - p.arrival_rules_begin);
    p.wait_rules_begin = static_cast<std::uint32_t>(rules_.size());
    for (const OverflowRule& r : qc.overflow) {
      if (r.when == OverflowCondition::WaitAtLeast) {
        rules_.push_back(to_record(r));
      }
    }
    if (qc.max_wait_ms > 0) {
      rules_.push_back(to_record(OverflowRule{OverflowCondition::WaitAtLeast, qc.max_wait_action,
                                              qc.max_wait_ms, qc.max_wait_target}));
    }
    std::stable_sort(
        rules_.begin() + p.wait_rules_begin, rules_.end(),
        [](const RuleRecord& a, const RuleRecord& b) { return a.threshold < b.threshold; });
    p.wait_rules_count = static_cast<std::uint8_t>(rules_.size() - p.wait_rules_begin);
  }
}

bool Engine::reconfigure(const EngineConfig& next) {
  // Only what needs no rebuilt index or membership may change in place.
  if (next.skill_count != skill_count_ || next.queues.size() != params_.size() ||
      next.agents.size() != agents_.size() || next.max_calls != calls_.size() ||
      !validate_config(next).empty()) {
    return false;
  }
  for (QueueIndex q = 0; q < params_.size(); ++q) {
    const QueueConfig& qc = next.queues[q];
    const QueueParams& p = params_[q];
    bool same = qc.media == p.media && qc.policy == p.policy && qc.skills.size() == p.skill_count &&
                qc.retired == (queues_[q].retired != 0);
    for (std::size_t i = 0; same && i < qc.skills.size(); ++i) {
      same = qc.skills[i].skill == p.skills[i].skill &&
             qc.skills[i].min_level == p.skills[i].min_level;
    }
    if (!same) {
      return false;
    }
  }
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    const AgentConfig& ac = next.agents[a];
    const AgentRecord& r = agents_[a];
    bool same = ac.number == r.number && ac.capacity == r.capacity &&
                ac.skills.size() == r.skills_count && ac.retired == (r.retired != 0);
    for (const SkillLevel& s : ac.skills) {
      const SkillLevel* begin = agent_skills_.data() + r.skills_begin;
      const SkillLevel* end = begin + r.skills_count;
      same = same && std::any_of(begin, end, [&](const SkillLevel& have) {
               return have.skill == s.skill && have.level == s.level;
             });
    }
    if (!same) {
      return false;
    }
  }
  if (next.site_number != site_number_ ||
      !std::equal(next.site_numbers.begin(), next.site_numbers.end(), site_numbers_.begin(),
                  site_numbers_.end())) {
    return false;  // the sites' numbering is structure: a restart or a structural reload
  }
  max_hops_ = next.max_overflow_hops;
  max_site_hops_ = next.max_site_hops;
  site_summary_max_age_ms_ = next.site_summary_max_age_ms;
  outbound_reserve_ms_ = next.outbound_reserve_ms;
  load_queue_params(next);
  load_surge_params(next);
  load_selection_params(next);
  rearm_waiting_calls(nullptr);
  return true;
}

// Waiting calls follow their queue's (new) wait rules from the time they entered it: a threshold
// already passed applies now (the latest such rule), the others when they come. Only the queues
// `changed` marks, when given.
void Engine::rearm_waiting_calls(const std::vector<bool>* changed) {
  for (CallSlot slot = 0; slot < calls_.size(); ++slot) {
    CallRecord& c = calls_[slot];
    if (c.state != CallState::Queued || (changed != nullptr && !(*changed)[c.queue])) {
      continue;
    }
    const QueueParams& p = params_[c.queue];
    const Micros waited = s_.now - c.enqueued;
    std::uint8_t passed = 0;
    while (passed < p.wait_rules_count &&
           static_cast<Micros>(rules_[p.wait_rules_begin + passed].threshold) * 1000 <= waited) {
      ++passed;
    }
    c.next_wait_rule = passed > 0 ? static_cast<std::uint8_t>(passed - 1) : 0;
    arm_wait_timer(slot);
    const detail::SelectionParams& sp = selection_params_[c.queue];
    if (sp.expand_count != 0 || (sp.ranked != 0 && sp.reserve_after_ms != 0)) {
      // Its floor may be lower now: the timer tries the ready agents at the next event.
      wheel_.arm(slot, s_.now);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

std::size_t Engine::apply_burst(std::span<const Event> events, DecisionSink sink) {
  if (deep_look_ahead_) {
    return apply_burst_deep(events, sink);
  }
  constexpr std::size_t kFar = 4;
  constexpr std::size_t kNear = 2;
  const std::size_t n = events.size();
  for (std::size_t i = 0; i < n && i < kFar; ++i) {
    prefetch_far(events[i]);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kFar < n) {
      prefetch_far(events[i + kFar]);
    }
    if (i + kNear < n) {
      prefetch_near(events[i + kNear]);
    }
    apply(events[i], sink);
  }
  return n;
}

// A software pipeline over the burst, for engines whose tables do not fit in the caches. Each
// look-ahead stage follows one link of a route request's chain of dependent loads (queue record
// -> ring record -> the first entries of the ring -> their agents' epochs -> the first valid
// agent's record -> its memberships -> their queues), reading only lines the stage before it
// asked for one event earlier, so that the misses of the events ahead overlap with the work of
// the event being applied. The ring's first valid entry, not its head: an agent that takes a call
// leaves stale entries in its other queues' rings, so a ring head is usually stale. Every read is
// a guess (the events before may change the ring or the agent); a wrong guess costs a wasted
// fetch, never a different decision. Measured in bench/RESULTS.md ("A look-ahead pipeline").
std::size_t Engine::apply_burst_deep(std::span<const Event> events, DecisionSink sink) {
  const auto n = static_cast<std::ptrdiff_t>(events.size());
  LookAhead look{};
  for (std::ptrdiff_t i = -kLookStages; i < n; ++i) {
    for (int stage = 0; stage < kLookStages; ++stage) {
      const std::ptrdiff_t j = i + kLookStages - stage;  // stage 0 looks furthest ahead
      if (j >= 0 && j < n) {
        const auto at = static_cast<std::size_t>(j);
        look_ahead(events[at], stage, look[at % look.size()]);
      }
    }
    if (i >= 0) {
      apply(events[static_cast<std::size_t>(i)], sink);
    }
  }
  return events.size();
}

// The first entries of a route request's first ready ring, up to the ring's wrap and at most one
// line of them: [first, first + count) in ring_entries_.
std::uint32_t Engine::ring_front(const Event& e, std::uint32_t& first) const {
  const QueueRecord& q = queues_[e.queue];
  if (q.ring_count == 0 || q.ready_count == 0) {
    return 0;
  }
  const detail::ReadyRing& ring = rings_[q.ring_begin];
  first = ring.begin + ring.head;
  constexpr std::uint32_t kLine = 64 / sizeof(detail::RingEntry);
  return std::min({ring.size, ring.capacity - ring.head, kLine});
}

void Engine::look_ahead(const Event& e, int stage, AgentIndex& agent) const {
  const bool route = e.type == EventType::RouteRequest && e.queue < queues_.size();
  std::uint32_t first = 0;
  switch (stage) {
    case 0:  // the event's own records
      agent = e.agent < agents_.size() ? e.agent : kNone;
      if (e.queue < queues_.size()) {
        prefetch_lines(&queues_[e.queue], sizeof(QueueRecord));
        __builtin_prefetch(&surge_[e.queue]);
        __builtin_prefetch(&queue_stats_[e.queue]);
      }
      if (e.call != 0) {
        call_map_.prefetch(e.call);
      }
      break;
    case 1:  // the queue's first ready ring; a call's record
      if (route) {
        const QueueRecord& q = queues_[e.queue];
        if (q.ring_count != 0) {
          __builtin_prefetch(&rings_[q.ring_begin]);
        }
      } else if (e.call != 0) {
        const std::uint32_t slot = call_map_.find(e.call);
        if (slot != kNone) {
          __builtin_prefetch(&calls_[slot]);
        }
      }
      break;
    case 2:  // the ring's first entries
      if (route) {
        const std::uint32_t count = ring_front(e, first);
        if (count != 0) {
          prefetch_lines(&ring_entries_[first], count * sizeof(detail::RingEntry));
        }
      }
      break;
    case 3:  // their agents' epochs (is the entry still valid?); a call's agent
      if (route) {
        const std::uint32_t count = ring_front(e, first);
        for (std::uint32_t k = 0; k < count; ++k) {
          __builtin_prefetch(&epochs_[ring_entries_[first + k].agent]);
        }
      } else if (agent == kNone && e.call != 0) {
        const std::uint32_t slot = call_map_.find(e.call);
        agent = slot == kNone ? kNone : calls_[slot].agent;
      }
      break;
    case 4:  // the agent the call will most likely get, or the event's own agent
      if (route && agent == kNone) {
        const std::uint32_t count = ring_front(e, first);
        for (std::uint32_t k = 0; k < count && agent == kNone; ++k) {
          if (ring_entry_valid(ring_entries_[first + k])) {
            agent = ring_entries_[first + k].agent;
          }
        }
      }
      if (agent != kNone) {
        __builtin_prefetch(&agents_[agent]);
        __builtin_prefetch(&agent_stats_[agent]);
        __builtin_prefetch(&epochs_[agent]);
        __builtin_prefetch(&ring_since_[agent]);
      }
      break;
    case 5:  // its memberships
      if (agent != kNone) {
        const AgentRecord& r = agents_[agent];
        if (r.members_count != 0) {
          prefetch_lines(&members_[r.members_begin], r.members_count * sizeof(MemberNode));
        }
      }
      break;
    default:  // their queues' ready counts
      if (agent != kNone) {
        const AgentRecord& r = agents_[agent];
        const std::uint32_t last = r.members_begin + std::min<std::uint32_t>(r.members_count, 16);
        for (std::uint32_t m = r.members_begin; m < last; ++m) {
          __builtin_prefetch(&queues_[members_[m].queue].ready_count);
        }
      }
      break;
  }
}

void Engine::prefetch_lines(const void* begin, std::size_t bytes) {
  constexpr std::uintptr_t kLine = 64;
  constexpr std::uintptr_t kMaxLines = 8;  // bounds the hint, not what the event reads
  const auto from = reinterpret_cast<std::uintptr_t>(begin);
  const std::uintptr_t end = from + bytes;
  std::uintptr_t k = 0;
  for (std::uintptr_t line = from & ~(kLine - 1); line < end && k < kMaxLines; line += kLine, ++k) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
}

void Engine::prefetch_far(const Event& e) const {
  if (e.queue < queues_.size()) {
    __builtin_prefetch(&queues_[e.queue]);
  }
  if (e.agent < agents_.size()) {
    __builtin_prefetch(&agents_[e.agent]);
    __builtin_prefetch(&agent_stats_[e.agent]);
  }
  if (e.call != 0) {
    call_map_.prefetch(e.call);
  }
}

// Reads only lines prefetch_far asked for (the queue record) or small, hot arrays (the rings), so
// that the look-ahead does not stall on what it prefetches.
void Engine::prefetch_near(const Event& e) const {
  if (e.type != EventType::RouteRequest || e.queue >= queues_.size()) {
    return;
  }
  const QueueRecord& q = queues_[e.queue];
  if (q.ring_count == 0 || q.ready_count == 0) {
    return;
  }
  const detail::ReadyRing& ring = rings_[q.ring_begin];
  if (ring.size == 0) {
    return;
  }
  __builtin_prefetch(&ring_entries_[ring.begin + ring.head]);
}

void Engine::apply(const Event& e, DecisionSink sink) {
  sink_ = &sink;
  ++counters_.events;
  const Micros t = std::max(e.time, s_.now);
  cause_ = EventType::Tick;
  wheel_.advance(t, [this](std::uint32_t id, Micros deadline) {
    s_.now = std::max(s_.now, deadline);
    on_timer(id, deadline);
  });
  s_.now = t;
  if (surge_planned_ && s_.now >= s_.next_surge_eval) {
    evaluate_surge();  // its decisions are the clock's (cause Tick), before the event's own
  }
  cause_ = e.type;
  switch (e.type) {
    case EventType::Tick:
      break;
    case EventType::AgentSignIn:
      on_sign_in(e);
      break;
    case EventType::AgentSignOut:
      on_sign_out(e, false);
      break;
    case EventType::ForceLogout:
      on_sign_out(e, true);
      break;
    case EventType::AgentReady:
      on_ready(e, false);
      break;
    case EventType::ForceReady:
      on_ready(e, true);
      break;
    case EventType::AgentNotReady:
      on_not_ready(e);
      break;
    case EventType::WrapUpDone:
      on_wrap_up_done(e);
      break;
    case EventType::RouteRequest:
      on_route_request(e);
      break;
    case EventType::OfferRejected:
      on_offer_rejected(e);
      break;
    case EventType::CallAnswered:
      on_answered(e);
      break;
    case EventType::CallHeld:
      on_hold(e, true);
      break;
    case EventType::CallRetrieved:
      on_hold(e, false);
      break;
    case EventType::CallReleased:
      on_released(e, false);
      break;
    case EventType::CallAbandoned:
      on_released(e, true);
      break;
    case EventType::TransferToQueue:
      on_transfer_to_queue(e);
      break;
    case EventType::TransferToAgent:
      if (!agent_exists(e.agent)) {
        error(Status::UnknownAgent, e);
        break;
      }
      on_transfer_to_agent(e, e.agent);
      break;
    case EventType::TransferToAgentId:
      on_transfer_to_agent(e, find_agent(e.number));
      break;
    case EventType::OutboundToQueue:
      on_outbound(e, kNone);
      break;
    case EventType::OutboundToAgentId:
      on_outbound(e, find_agent(e.number));
      break;
    case EventType::NewDay:
      on_new_day();
      break;
    case EventType::SurgeControl:
      on_surge_control(e);
      break;
    case EventType::ServiceControl:
      on_service_control(e);
      break;
    case EventType::SiteSummary:
      on_site_summary(e);
      break;
    default:
      error(Status::BadField, e);
      break;
  }
  sink_ = nullptr;
}

void Engine::set_state(CallRecord& c, CallState state) const {
  c.state = state;
  c.state_since = s_.now;
}

void Engine::emit(Decision d) {
  d.time = s_.now;
  d.cause = cause_;
  ++counters_.decisions;
  (*sink_)(d);
}

std::uint64_t EngineCounters::refused_total() const {
  std::uint64_t total = 0;
  for (const std::uint64_t n : refused) {
    total += n;
  }
  return total;
}

void Engine::error(Status status, const Event& e) {
  ++counters_.refused[static_cast<std::size_t>(status)];
  Decision d;
  d.type = DecisionType::Error;
  d.status = status;
  d.call = e.call;
  d.agent = e.agent;
  d.queue = e.queue;
  emit(d);
}

// ---------------------------------------------------------------------------------------------
// Timers: wrap-up, ring and reservation timeouts, wait rules; fired by apply() as time moves.

void Engine::on_timer(std::uint32_t id, Micros /*deadline*/) {
  if (id >= calls_.size()) {
    const AgentIndex a = id - static_cast<std::uint32_t>(calls_.size());
    end_wrap_up(a, 0, 0, false);
    agent_changed(a);
    return;
  }
  const CallSlot slot = id;  // timer IDs below max_calls are call slots
  CallRecord& c = calls_[slot];
  if (c.state == CallState::Ringing) {
    ring_no_answer(slot, Status::RingTimeout);
    return;
  }
  if (c.state == CallState::Queued) {
    const QueueParams& p = params_[c.queue];
    const detail::SelectionParams& sp = selection_params_[c.queue];
    if (sp.expand_count != 0 || (sp.ranked != 0 && sp.reserve_after_ms != 0)) {
      // An expand step may have lowered the call's floor, or its reserve agents may take it now:
      // a ready agent may take it.
      expand_step(slot);
      if (c.state != CallState::Queued) {
        return;
      }
      const bool rule_due =
          c.callback == 0 && c.next_wait_rule < p.wait_rules_count &&
          c.enqueued + static_cast<Micros>(rules_[p.wait_rules_begin + c.next_wait_rule].threshold) *
                  1000 <=
              s_.now;
      if (!rule_due) {
        arm_wait_timer(slot);
        return;
      }
    }
    const RuleRecord rule = rules_[p.wait_rules_begin + c.next_wait_rule];
    ++c.next_wait_rule;
    if (!apply_overflow(slot, rule)) {
      arm_wait_timer(slot);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Queries.

AgentView Engine::agent(AgentIndex a) const {
  const AgentRecord& r = agents_[a];
  AgentView v;
  v.number = r.number;
  v.state = r.published;
  v.not_ready_reason = r.not_ready_reason;
  v.pending_not_ready = r.pending_not_ready != 0;
  v.device = agent_cold_[a].device;
  v.signed_in_at = agent_cold_[a].signed_in_at;
  v.state_since = r.state_since;
  v.load = r.load;
  v.capacity = r.capacity;
  return v;
}

QueueView Engine::queue(QueueIndex qi) const {
  const QueueRecord& q = queues_[qi];
  QueueView v;
  v.waiting = q.waiting;
  v.ready_agents = q.ready_count;
  v.staffed = q.staffed;
  v.aht_ms = q.aht_ms;
  v.ewt_ms = ewt_for_position(qi, q.waiting + 1);
  v.policy = params_[qi].policy;
  v.media = params_[qi].media;
  v.sl_threshold_ms = params_[qi].sl_threshold_ms;
  v.sl_target_permille = params_[qi].sl_target_permille;
  v.surge = surge_[qi].active != 0;
  v.surge_force = surge_[qi].force;
  v.surge_since = surge_[qi].since;
  v.surge_cause = surge_[qi].cause;
  v.surge_exit_holding = surge_[qi].active != 0 && surge_[qi].below != 0;
  v.surge_exit_since = v.surge_exit_holding ? surge_[qi].below_since : 0;
  v.surge_exit_hold_ms = surge_params_[qi].exit_hold_ms;
  v.surge_min_dwell_ms = surge_params_[qi].min_dwell_ms;
  v.offered_last_min = offered_last_minute(qi);
  for (int p = 0; p < kPriorityLevels; ++p) {
    if (q.head[p] != kNone) {
      v.oldest_wait = std::max(v.oldest_wait, s_.now - calls_[q.head[p]].enqueued);
    }
  }
  return v;
}

// The call's view without its queue position (O(1)).
CallView Engine::view_of(const CallRecord& c) const {
  CallView v;
  v.state = c.state;
  v.queue = c.queue;
  v.agent = c.agent;
  v.arrived = c.arrived;
  v.enqueued = c.enqueued;
  v.state_since = c.state_since;
  v.priority = c.priority;
  v.media = c.media;
  v.outbound = c.outbound != 0;
  return v;
}

std::optional<CallView> Engine::call(CallId id) const {
  const CallSlot slot = find_call(id);
  if (slot == kNone) {
    return std::nullopt;
  }
  CallView v = view_of(calls_[slot]);
  if (v.state == CallState::Queued) {
    v.position = position_of(slot);
    v.ewt_ms = ewt_for_call(calls_[slot], v.position);
  }
  return v;
}

void Engine::for_each_call(FunctionRef<void(CallId, const CallView&)> visit) const {
  for_each_call(0, max_calls(), visit);
}

void Engine::for_each_call(CallSlot first, CallSlot end,
                           FunctionRef<void(CallId, const CallView&)> visit) const {
  end = std::min(end, max_calls());
  for (CallSlot slot = first; slot < end; ++slot) {
    const CallRecord& c = calls_[slot];
    if (c.state != CallState::Free) {
      visit(c.id, view_of(c));
    }
  }
}

}  // namespace acd::router
