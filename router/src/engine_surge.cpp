// Surge mode per queue and emergency diversion by back-end service: the plans and services as the
// configuration gives them, the operator's SurgeControl and ServiceControl inputs, the periodic
// evaluation of each queue's metrics (with hysteresis and a minimum dwell), agents borrowed from
// other queues, and the surge step a call takes when no agent of its own queue is free. See
// router/DESIGN.md, "Surge mode and emergency diversion".
#include <algorithm>
#include <bit>

#include "acd/router/engine.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::QueueRecord;
using detail::RuleRecord;
using detail::SurgeActionRecord;
using detail::SurgeParams;
using detail::SurgeRecord;

namespace {

// Ready agents of a lender queue looked at per borrowing attempt: bounds the cost of a search
// whose lender's agents mostly lack the floor.
constexpr std::uint32_t kBorrowScan = 64;
// Waiting calls a queue entering surge offers to borrowed agents at once, at most.
constexpr std::uint32_t kSweepCalls = 256;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration: plans, services, reserved agents; and the index of who lends to whom.

void Engine::load_surge_params(const EngineConfig& config) {
  surge_params_.assign(config.queues.size(), SurgeParams{});
  surge_actions_.clear();
  queue_services_.clear();
  loans_.clear();
  surge_planned_ = false;
  for (QueueIndex q = 0; q < config.queues.size(); ++q) {
    const QueueConfig& qc = config.queues[q];
    SurgeParams& p = surge_params_[q];
    const SurgeLevels& in = qc.surge.enter;
    const SurgeLevels& out = qc.surge.exit;
    p.enter = {in.offered_per_min, in.queue_length, in.oldest_wait_ms, in.ewt_ms};
    p.exit = {out.offered_per_min, out.queue_length, out.oldest_wait_ms, out.ewt_ms};
    p.min_dwell_ms = qc.surge.min_dwell_ms;
    p.exit_hold_ms = qc.surge.exit_hold_ms;
    p.has_plan = has_surge_plan(qc) && !qc.retired ? 1 : 0;
    p.has_thresholds = std::any_of(p.enter.begin(), p.enter.end(), [](auto v) { return v != 0; });
    p.reserved_queue = qc.reserved ? 1 : 0;
    surge_planned_ = surge_planned_ || p.has_plan != 0;
    p.actions_begin = static_cast<std::uint32_t>(surge_actions_.size());
    for (const SurgeAction& a : qc.surge.actions) {
      SurgeActionRecord rec;
      rec.borrow = a.borrow ? 1 : 0;
      rec.action = a.action;
      rec.target = !a.borrow && a.action == OverflowAction::CallbackKeepPlace ? q : a.target;
      rec.min_level = a.min_level;
      rec.min_ewt_ms = a.min_ewt_ms;
      if (a.borrow) {
        loans_.push_back(Loan{a.target, q, static_cast<std::uint32_t>(surge_actions_.size())});
      }
      surge_actions_.push_back(rec);
    }
    p.actions_count = static_cast<std::uint8_t>(qc.surge.actions.size());
    p.services_begin = static_cast<std::uint32_t>(queue_services_.size());
    queue_services_.insert(queue_services_.end(), qc.services.begin(), qc.services.end());
    p.services_count = static_cast<std::uint8_t>(qc.services.size());
  }
  // By lender, then in the borrowers' configured order: an agent free in a lender queue looks at
  // the surging queues that borrow from it in this order.
  std::stable_sort(loans_.begin(), loans_.end(),
                   [](const Loan& x, const Loan& y) { return x.lender < y.lender; });
  service_rules_.clear();
  for (const ServiceConfig& sc : config.services) {
    RuleRecord rule;
    rule.when = OverflowCondition::WaitAtLeast;
    rule.action = sc.action;
    rule.target = sc.target;
    service_rules_.push_back(rule);
  }
  // Services keep their state across a reload by name: one added is up, one removed is gone,
  // whatever their places in the list.
  std::vector<std::uint32_t> down(config.services.size(), 0);
  std::vector<std::string> names;
  names.reserve(config.services.size());
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    names.push_back(config.services[i].name);
    for (std::size_t j = 0; j < service_names_.size() && j < service_down_.size(); ++j) {
      if (service_names_[j] == names.back()) {
        down[i] = service_down_[j];
        break;
      }
    }
  }
  service_down_ = std::move(down);
  service_names_ = std::move(names);
  surge_.resize(config.queues.size());
  agent_reserved_.assign(config.agents.size(), 0);
  for (AgentIndex a = 0; a < config.agents.size(); ++a) {
    agent_reserved_[a] = config.agents[a].reserved ? 1 : 0;
  }
  surge_eval_ms_ = std::max<std::uint32_t>(config.surge_eval_ms, 1);
  // A queue left in surge by a reload that took its plan away still needs an evaluation to leave.
  surge_planned_ = surge_planned_ || s_.surging > 0;
}

SurgeCounters Engine::surge_counters(QueueIndex q) const {
  const SurgeRecord& r = surge_[q];
  return SurgeCounters{r.entries, r.borrowed, r.surge_overflows, r.callbacks, r.diverted};
}

// ---------------------------------------------------------------------------------------------
// Metrics.

// Every call offered to a queue (arrival, overflow, transfer) counts toward today's figures and
// toward the offered rate of the last minute.
void Engine::count_offered(QueueIndex q) {
  ++queue_stats_[q].offered;
  SurgeRecord& r = surge_[q];
  const auto period = static_cast<std::uint32_t>(s_.now / detail::kRateBucketUs);
  const std::size_t b = period % detail::kRateBuckets;
  if (r.bucket_period[b] != period) {
    r.bucket_period[b] = period;
    r.bucket_count[b] = 0;
  }
  ++r.bucket_count[b];
}

// Offered in the current 10-second period and the five before it (50 to 60 s).
std::uint32_t Engine::offered_last_minute(QueueIndex q) const {
  const SurgeRecord& r = surge_[q];
  const auto period = static_cast<std::uint32_t>(s_.now / detail::kRateBucketUs);
  std::uint32_t sum = 0;
  for (int b = 0; b < detail::kRateBuckets; ++b) {
    if (period - r.bucket_period[b] < static_cast<std::uint32_t>(detail::kRateBuckets)) {
      sum += r.bucket_count[b];
    }
  }
  return sum;
}

Micros Engine::oldest_wait(QueueIndex qi) const {
  const QueueRecord& q = queues_[qi];
  Micros oldest = 0;
  for (std::uint32_t bits = q.busy_priorities; bits != 0;) {
    const int p = 31 - std::countl_zero(bits);
    bits &= ~(1u << p);
    oldest = std::max(oldest, s_.now - calls_[q.head[p]].enqueued);
  }
  return oldest;
}

// ---------------------------------------------------------------------------------------------
// Evaluation: every surge_eval_ms of event time, and at once after an operator's force.

void Engine::evaluate_surge() {
  const Micros step = static_cast<Micros>(surge_eval_ms_) * 1000;
  s_.next_surge_eval = (s_.now / step + 1) * step;
  for (QueueIndex q = 0; q < surge_params_.size(); ++q) {
    const SurgeParams& p = surge_params_[q];
    SurgeRecord& r = surge_[q];
    // The calls the plan took from the queue (borrowed agents, steps that sent them elsewhere)
    // since the previous evaluation: while it surges they are the part of the load the queue
    // length no longer shows.
    const std::uint32_t taken_total = r.borrowed + r.surge_overflows;
    const std::uint32_t taken = taken_total - r.taken_mark;
    r.taken_mark = taken_total;
    if (p.has_plan == 0) {
      if (r.active != 0) {
        set_surge(q, false, 0);
      }
      continue;
    }
    const SurgeForce force = r.force != SurgeForce::Auto ? r.force : s_.site_force;
    if (force != SurgeForce::Auto) {
      r.below = 0;
      if ((force == SurgeForce::On) != (r.active != 0)) {
        set_surge(q, force == SurgeForce::On, kSurgeByForce);
      }
      continue;
    }
    const QueueRecord& qr = queues_[q];
    auto ewt_behind = [&](std::uint64_t waiting) -> std::uint64_t {
      const std::uint32_t e = ewt_for_position(
          q, static_cast<std::uint32_t>(std::min<std::uint64_t>(waiting, kNone - 1)) + 1);
      // Nobody staffs the queue: a waiting call waits for ever, an empty queue is quiet.
      return e != kUnknownEwt ? e : waiting > 0 ? kUnknownEwt - 1 : 0;
    };
    const std::array<std::uint64_t, 4> now{offered_last_minute(q), qr.waiting,
                                           oldest_wait(q) / 1000, ewt_behind(qr.waiting)};
    if (r.active == 0) {
      std::uint16_t hit = 0;
      for (std::size_t i = 0; i < now.size(); ++i) {
        if (p.enter[i] != 0 && now[i] >= p.enter[i]) {
          hit = static_cast<std::uint16_t>(hit | (1u << i));
        }
      }
      if (hit != 0) {
        set_surge(q, true, hit);
      }
      continue;
    }
    // In surge: judged against the exit levels with the taken calls counted as waiting.
    std::array<std::uint64_t, 4> load = now;
    if (taken != 0) {
      load[1] = static_cast<std::uint64_t>(qr.waiting) + taken;
      load[3] = ewt_behind(load[1]);
    }
    bool below = true;
    for (std::size_t i = 0; i < load.size(); ++i) {
      below = below && (p.enter[i] == 0 || load[i] <= p.exit[i]);
    }
    if (!below) {
      r.below = 0;
      continue;
    }
    if (r.below == 0) {
      r.below = 1;
      r.below_since = s_.now;
    }
    if (s_.now - r.below_since >= static_cast<Micros>(p.exit_hold_ms) * 1000 &&
        s_.now - r.since >= static_cast<Micros>(p.min_dwell_ms) * 1000) {
      set_surge(q, false, 0);
    }
  }
}

void Engine::set_surge(QueueIndex q, bool on, std::uint16_t cause) {
  SurgeRecord& r = surge_[q];
  r.active = on ? 1 : 0;
  r.since = s_.now;
  r.below = 0;
  if (on) {
    ++r.entries;
    r.cause = cause;
    ++s_.surging;
  } else {
    --s_.surging;
  }
  Decision d;
  d.type = DecisionType::SurgeChanged;
  d.queue = q;
  d.number = on ? 1 : 0;
  d.reason = on ? cause : 0;
  d.position = queues_[q].waiting;
  d.ewt_ms = ewt_for_position(q, queues_[q].waiting + 1);
  emit(d);
  if (on) {
    surge_sweep(q);
  }
}

// A queue entering surge hands its waiting calls (the first kSweepCalls, best first) to agents
// its plan may borrow, as far as there are any free.
void Engine::surge_sweep(QueueIndex qi) {
  const SurgeParams& p = surge_params_[qi];
  if (loans_.empty() || queues_[qi].waiting == 0) {
    return;
  }
  std::uint32_t looked = 0;
  const std::uint32_t ewt = ewt_for_position(qi, queues_[qi].waiting);
  for (int prio = kPriorityLevels - 1; prio >= 0 && looked < kSweepCalls; --prio) {
    CallSlot slot = queues_[qi].head[prio];
    while (slot != kNone && looked < kSweepCalls) {
      ++looked;
      const CallSlot next = calls_[slot].next;
      for (std::uint32_t i = 0; i < p.actions_count; ++i) {
        const std::uint32_t ai = p.actions_begin + i;
        const SurgeActionRecord& a = surge_actions_[ai];
        if (a.borrow == 0 || (ewt != kUnknownEwt && ewt < a.min_ewt_ms)) {
          continue;
        }
        const AgentIndex agent = find_borrowed_agent(calls_[slot], ai);
        if (agent != kNone) {
          dequeue(slot);
          ++surge_[qi].borrowed;
          offer(slot, agent);
          break;
        }
      }
      slot = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Borrowing agents of other queues.

// May surge lend agent `a` to queue `home`: not reserved, and each of home's skills at `floor`
// or more (floor 0: any agent).
bool Engine::borrowable(AgentIndex a, QueueIndex home, std::uint8_t floor) const {
  if (agent_reserved_[a] != 0) {
    return false;
  }
  if (floor == 0) {
    return true;
  }
  const QueueParams& p = params_[home];
  std::array<SkillRequirement, kMaxQueueSkills> need{};
  for (int i = 0; i < p.skill_count; ++i) {
    need[i] = SkillRequirement{p.skills[i].skill, floor, 0};
  }
  const AgentRecord& r = agents_[a];
  return has_skills(detail::SkillRange{r.skills_begin, r.skills_count}, need.data(),
                    p.skill_count);
}

// The first ready agent of the lender of surge step `action`, in the lender's policy order, that
// may be borrowed for call `c` (and has its extra skills); kNone if none among the first
// kBorrowScan ready agents.
AgentIndex Engine::find_borrowed_agent(const CallRecord& c, std::uint32_t action) const {
  const SurgeActionRecord& a = surge_actions_[action];
  const QueueIndex lender = a.target;
  if (!queue_exists(lender) || queues_[lender].ready_count == 0) {
    return kNone;
  }
  std::uint32_t looked = 0;
  auto fits = [&](AgentIndex x) {
    ++looked;
    return available(x, c.media) && borrowable(x, c.queue, a.min_level) &&
           (c.req_count == 0 || has_skills(x, c));
  };
  const QueueRecord& q = queues_[lender];
  if (uses_rings(params_[lender].policy)) {
    for (std::uint32_t r = q.ring_begin; r < q.ring_begin + q.ring_count; ++r) {
      const detail::ReadyRing& ring = rings_[r];
      const detail::RingEntry* entries = ring_entries_.data() + ring.begin;
      for (std::uint32_t i = 0; i < ring.size && looked < kBorrowScan; ++i) {
        const detail::RingEntry& e = entries[(ring.head + i) % ring.capacity];
        if (ring_entry_valid(e) && fits(e.agent)) {
          return e.agent;
        }
      }
    }
    return kNone;
  }
  std::uint32_t remaining = q.ready_count;
  for (std::uint32_t m = index_first(lender); m != kNone && remaining > 0 && looked < kBorrowScan;
       m = index_next(lender, m)) {
    --remaining;
    if (fits(members_[m].agent)) {
      return members_[m].agent;
    }
  }
  return kNone;
}

// For an agent with nothing to do in its own queues: the first waiting call of a surging queue
// that borrows from one of them (lenders in the agent's order, borrowers in configured order).
// O(queues the agent serves × log loans) while some queue surges; never called otherwise.
CallSlot Engine::borrow_call_for(AgentIndex a) {
  if (agent_reserved_[a] != 0) {
    return kNone;
  }
  const AgentRecord& r = agents_[a];
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    const QueueIndex lender = members_[m].queue;
    auto it = std::lower_bound(loans_.begin(), loans_.end(), lender,
                               [](const Loan& l, QueueIndex q) { return l.lender < q; });
    for (; it != loans_.end() && it->lender == lender; ++it) {
      const QueueIndex home = it->home;
      const SurgeActionRecord& step = surge_actions_[it->action];
      if (!surging(home) || queues_[home].waiting == 0 || !available(a, params_[home].media) ||
          !borrowable(a, home, step.min_level)) {
        continue;
      }
      const std::uint32_t ewt = ewt_for_position(home, queues_[home].waiting);
      if (ewt != kUnknownEwt && ewt < step.min_ewt_ms) {
        continue;
      }
      const CallSlot c = first_matching_call(home, a);
      if (c != kNone) {
        return c;
      }
    }
  }
  return kNone;
}

// ---------------------------------------------------------------------------------------------
// The surge step of a call no agent of its queue took, and the diversion of a down service.

bool Engine::surge_step(const CallRecord& c, AgentIndex& borrowed, RuleRecord& rule) const {
  const SurgeParams& p = surge_params_[c.queue];
  const std::uint32_t ewt = ewt_for_call(c, position_at_tail(c));
  for (std::uint32_t i = 0; i < p.actions_count; ++i) {
    const SurgeActionRecord& a = surge_actions_[p.actions_begin + i];
    if (ewt != kUnknownEwt && ewt < a.min_ewt_ms) {
      continue;
    }
    if (a.borrow != 0) {
      const AgentIndex agent = find_borrowed_agent(c, p.actions_begin + i);
      if (agent != kNone) {
        borrowed = agent;
        return true;
      }
      continue;
    }
    if (a.action == OverflowAction::ToQueue && surging(a.target)) {
      continue;  // never push calls into a queue that is itself in surge
    }
    rule = RuleRecord{};
    rule.when = OverflowCondition::EwtAtLeast;
    rule.action = a.action;
    rule.target = a.target;
    return true;
  }
  return false;
}

// The diversion of the first down service the queue depends on; nullptr if all are up.
const RuleRecord* Engine::service_rule(QueueIndex q) const {
  const SurgeParams& p = surge_params_[q];
  for (std::uint32_t i = 0; i < p.services_count; ++i) {
    const std::uint32_t s = queue_services_[p.services_begin + i];
    if (service_down_[s] != 0) {
      return &service_rules_[s];
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Operator inputs.

void Engine::on_surge_control(const Event& e) {
  if (e.reason > static_cast<std::uint16_t>(SurgeForce::Off)) {
    error(Status::BadField, e);
    return;
  }
  const auto force = static_cast<SurgeForce>(e.reason);
  if (e.queue == kNone) {
    s_.site_force = force;
  } else if (!queue_exists(e.queue)) {
    error(Status::UnknownQueue, e);
    return;
  } else if (surge_params_[e.queue].has_plan == 0) {
    error(Status::NoSurgePlan, e);
    return;
  } else {
    surge_[e.queue].force = force;
  }
  if (surge_planned_) {
    evaluate_surge();  // the force takes effect at this input, not at the next evaluation
  }
}

void Engine::on_service_control(const Event& e) {
  if (e.reason > 1) {
    error(Status::BadField, e);
    return;
  }
  if (e.number >= service_down_.size()) {
    error(Status::UnknownService, e);
    return;
  }
  const auto s = static_cast<std::uint32_t>(e.number);
  const std::uint32_t down = e.reason;
  if (service_down_[s] == down) {
    return;  // already so: nothing changes
  }
  service_down_[s] = down;
  std::uint32_t diverted = 0;
  if (down != 0) {
    // Calls waiting for a dependent queue get the diversion now (callers who asked to be called
    // back keep their place: they are not on the line).
    for (QueueIndex q = 0; q < queues_.size(); ++q) {
      const RuleRecord* rule = service_rule(q);
      if (rule == nullptr || queues_[q].waiting == 0) {
        continue;
      }
      const RuleRecord divert = *rule;
      for (int prio = kPriorityLevels - 1; prio >= 0; --prio) {
        CallSlot slot = queues_[q].head[prio];
        while (slot != kNone) {
          const CallSlot next = calls_[slot].next;
          if (calls_[slot].callback == 0) {
            ++surge_[q].diverted;
            ++diverted;
            apply_overflow(slot, divert, Status::ServiceDown);
          }
          slot = next;
        }
      }
    }
  }
  Decision d;
  d.type = DecisionType::ServiceChanged;
  d.number = s;
  d.reason = static_cast<std::uint16_t>(down);
  d.position = diverted;
  emit(d);
}

}  // namespace acd::router
