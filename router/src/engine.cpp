// The routing engine: event handlers, matching, queues and timers. See router/DESIGN.md.
#include "acd/router/engine.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::MemberNode;
using detail::QueueParams;
using detail::QueueRecord;
using detail::RuleRecord;

namespace {

std::uint32_t to_ms(Micros us) {
  const Micros ms = us / 1000;
  return ms > 0xFFFF'FFFFull ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(ms);
}

void add_ms(std::uint32_t& counter, std::uint32_t ms) {
  const std::uint64_t sum = static_cast<std::uint64_t>(counter) + ms;
  counter = sum > 0xFFFF'FFFFull ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(sum);
}

std::uint32_t total_load(const AgentRecord& r) {
  std::uint32_t n = 0;
  for (auto l : r.load) {
    n += l;
  }
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction: flatten the configuration into pools.

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
  build_rings();
  build_reach();
  call_map_ = IdMap(config.max_calls);
}

// Flattens every queue's parameters and overflow rules (arrival rules, then wait rules by
// threshold with max wait among them) into params_ and rules_.
void Engine::load_queue_params(const EngineConfig& config) {
  params_.assign(config.queues.size(), QueueParams{});
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
  max_hops_ = next.max_overflow_hops;
  outbound_reserve_ms_ = next.outbound_reserve_ms;
  load_queue_params(next);
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
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

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
    const RuleRecord rule = rules_[p.wait_rules_begin + c.next_wait_rule];
    ++c.next_wait_rule;
    if (!apply_overflow(slot, rule)) {
      arm_wait_timer(slot);
    }
  }
}

// An offer rang out or was declined. An outbound reservation is simply released; an inbound call
// goes back to its place and the agent to not ready ("no answer").
void Engine::ring_no_answer(CallSlot slot, Status why) {
  CallRecord& c = calls_[slot];
  const AgentIndex a = c.agent;
  AgentRecord& r = agents_[a];
  wheel_.cancel(slot);
  r.ringing = 0;
  r.ringing_call = kNone;
  --r.load[static_cast<int>(c.media)];
  if (c.outbound != 0) {
    Decision d;
    d.type = DecisionType::OutboundFailed;
    d.status = why;
    d.call = c.id;
    d.agent = a;
    emit(d);
    map_erase(c.id);
    free_call(slot);
    agent_changed(a);
    return;
  }
  ++agent_stats_[a].no_answer;
  account(a);
  r.wants_ready = 0;
  r.not_ready_reason = kReasonNoAnswer;
  return_to_queue(slot, why);
  agent_changed(a);
}

// ---------------------------------------------------------------------------------------------
// Agents.

bool Engine::valid_agent(const Event& e) {
  if (!agent_exists(e.agent)) {
    error(Status::UnknownAgent, e);
    return false;
  }
  return true;
}

AgentIndex Engine::find_agent(AgentNumber number) const {
  auto it = std::lower_bound(numbers_.begin(), numbers_.end(), number,
                             [](const auto& entry, AgentNumber n) { return entry.number < n; });
  return it != numbers_.end() && it->number == number ? it->agent : kNone;
}

bool Engine::available(AgentIndex a, Media m) const {
  const AgentRecord& r = agents_[a];
  const int mi = static_cast<int>(m);
  if (r.signed_in == 0 || r.wants_ready == 0 || r.pending_not_ready != 0 || r.in_wrap_up != 0 ||
      r.ringing != 0 || r.load[mi] >= r.capacity[mi]) {
    return false;
  }
  // Voice is exclusive: a voice call only to an agent with no task, nothing else beside a voice
  // call.
  return m == Media::Voice ? total_load(r) == 0 : r.load[0] == 0;
}

Status Engine::why_unavailable(AgentIndex a, Media m) const {
  const AgentRecord& r = agents_[a];
  if (r.signed_in == 0) {
    return Status::TargetLoggedOut;
  }
  if (r.capacity[static_cast<int>(m)] == 0) {
    return Status::TargetLacksChannel;
  }
  if (r.wants_ready == 0 || r.pending_not_ready != 0) {
    return Status::TargetNotReady;
  }
  return available(a, m) ? Status::Ok : Status::TargetBusy;
}

AgentState Engine::derive_state(AgentIndex a) const {
  const AgentRecord& r = agents_[a];
  if (r.signed_in == 0) {
    return AgentState::LoggedOut;
  }
  if (r.ringing != 0) {
    return AgentState::Reserved;
  }
  if (r.active != 0) {
    return AgentState::Busy;
  }
  if (r.in_wrap_up != 0) {
    return AgentState::WrapUp;
  }
  return r.wants_ready != 0 ? AgentState::Ready : AgentState::NotReady;
}

// Adds the time since state_since to the bucket of the published state.
void Engine::account(AgentIndex a) {
  AgentRecord& r = agents_[a];
  AgentStats& st = agent_stats_[a];
  const std::uint32_t ms = to_ms(s_.now - r.state_since);
  switch (r.published) {
    case AgentState::Ready:
      add_ms(st.ready_ms, ms);
      break;
    case AgentState::NotReady:
      add_ms(st.not_ready_ms[std::min<int>(r.not_ready_reason, kNotReadyReasons - 1)], ms);
      break;
    case AgentState::Reserved:
      add_ms(st.reserved_ms, ms);
      break;
    case AgentState::Busy:
      add_ms(st.busy_ms, ms);
      break;
    case AgentState::WrapUp:
      add_ms(st.wrap_up_ms, ms);
      break;
    case AgentState::LoggedOut:
      break;
  }
  r.state_since = s_.now;
}

// Emits AgentStateChanged when the state (or the not-ready reason) differs from the last one
// published.
void Engine::publish(AgentIndex a) {
  AgentRecord& r = agents_[a];
  const AgentState st = derive_state(a);
  if (st == r.published) {
    return;
  }
  account(a);
  r.published = st;
  Decision d;
  d.type = DecisionType::AgentStateChanged;
  d.agent = a;
  d.state = st;
  d.reason = st == AgentState::NotReady ? r.not_ready_reason : 0;
  emit(d);
}

// A pending not-ready takes effect once the agent has nothing left to do.
void Engine::settle(AgentIndex a) {
  AgentRecord& r = agents_[a];
  if (r.pending_not_ready != 0 && r.ringing == 0 && r.active == 0 && r.in_wrap_up == 0) {
    r.pending_not_ready = 0;
    r.wants_ready = 0;
    r.not_ready_reason = r.pending_reason;
  }
}

// After any change to an agent: index, publish, and hand it the best waiting call if it is free.
// A free agent with calls waiting takes one at once, without entering the ready indexes first.
void Engine::agent_changed(AgentIndex a) {
  settle(a);
  const CallSlot c = best_call_for(a);
  publish(a);
  if (c != kNone) {
    dequeue(c);
    offer(c, a);  // refreshes the indexes
    return;
  }
  refresh_index(a);
}

bool Engine::has_skills(detail::SkillRange skills, const SkillRequirement* req, int count) const {
  const SkillLevel* begin = agent_skills_.data() + skills.begin;
  const SkillLevel* end = begin + skills.count;
  for (int i = 0; i < count; ++i) {
    const SkillRequirement& need = req[i];
    const SkillLevel* it = std::lower_bound(
        begin, end, need.skill, [](const SkillLevel& s, SkillId id) { return s.skill < id; });
    if (it == end || it->skill != need.skill || it->level < need.min_level) {
      return false;
    }
  }
  return true;
}

void Engine::on_sign_in(const Event& e) {
  if (!valid_agent(e)) {
    return;
  }
  AgentRecord& r = agents_[e.agent];
  if (r.signed_in != 0) {
    error(Status::AlreadySignedIn, e);
    return;
  }
  r.signed_in = 1;
  r.device = e.device;
  r.signed_in_at = s_.now;
  r.state_since = s_.now;
  r.idle_since = s_.now;
  r.wants_ready = 0;
  r.not_ready_reason = kReasonSignIn;
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    ++queues_[members_[m].queue].staffed;
  }
  agent_changed(e.agent);
}

void Engine::on_sign_out(const Event& e, bool /*forced: audited by the control plane*/) {
  if (!valid_agent(e)) {
    return;
  }
  const AgentIndex a = e.agent;
  AgentRecord& r = agents_[a];
  if (r.signed_in == 0) {
    error(Status::NotSignedIn, e);
    return;
  }
  if (r.active != 0) {
    error(Status::AgentHasCalls, e);
    return;
  }
  if (r.ringing != 0) {
    const CallSlot c = r.ringing_call;
    CallRecord& call = calls_[c];
    r.ringing = 0;
    r.ringing_call = kNone;
    --r.load[static_cast<int>(call.media)];
    wheel_.cancel(c);
    if (call.outbound != 0) {
      Decision d;
      d.type = DecisionType::OutboundFailed;
      d.status = Status::AgentLeft;
      d.call = call.id;
      d.agent = a;
      emit(d);
      map_erase(call.id);
      free_call(c);
    } else {
      return_to_queue(c, Status::AgentLeft);
    }
  }
  if (r.in_wrap_up != 0) {
    end_wrap_up(a, 0, 0, false);
  }
  r.signed_in = 0;
  r.pending_not_ready = 0;
  r.wants_ready = 0;
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    --queues_[members_[m].queue].staffed;
  }
  refresh_index(a);
  publish(a);
}

void Engine::on_ready(const Event& e, bool /*forced*/) {
  if (!valid_agent(e)) {
    return;
  }
  const AgentIndex a = e.agent;
  AgentRecord& r = agents_[a];
  if (r.signed_in == 0) {
    error(Status::NotSignedIn, e);
    return;
  }
  r.pending_not_ready = 0;
  if (r.in_wrap_up != 0) {
    end_wrap_up(a, 0, 0, false);  // ready during after-call work ends it without a disposition
    r.wants_ready = 1;
    agent_changed(a);
    return;
  }
  if (r.wants_ready == 0) {
    r.wants_ready = 1;
    r.idle_since = s_.now;
  }
  agent_changed(a);
}

void Engine::on_not_ready(const Event& e) {
  if (!valid_agent(e)) {
    return;
  }
  const AgentIndex a = e.agent;
  AgentRecord& r = agents_[a];
  if (r.signed_in == 0) {
    error(Status::NotSignedIn, e);
    return;
  }
  if (r.ringing != 0 || r.active != 0 || r.in_wrap_up != 0) {
    r.pending_not_ready = 1;  // takes effect when the current work is done
    r.pending_reason = e.reason;
    agent_changed(a);
    return;
  }
  if (r.wants_ready == 0 && r.not_ready_reason == e.reason) {
    return;  // no change
  }
  // Publish explicitly: the state may stay NotReady with a new reason.
  account(a);
  r.wants_ready = 0;
  r.not_ready_reason = e.reason;
  refresh_index(a);
  r.published = derive_state(a);
  Decision d;
  d.type = DecisionType::AgentStateChanged;
  d.agent = a;
  d.state = r.published;
  d.reason = r.not_ready_reason;
  emit(d);
}

void Engine::on_wrap_up_done(const Event& e) {
  if (!valid_agent(e)) {
    return;
  }
  const AgentRecord& r = agents_[e.agent];
  if (r.signed_in == 0) {
    error(Status::NotSignedIn, e);
    return;
  }
  if (r.in_wrap_up == 0) {
    error(Status::WrongAgentState, e);
    return;
  }
  end_wrap_up(e.agent, e.reason, e.device, true);
  agent_changed(e.agent);
}

void Engine::start_wrap_up(AgentIndex a, CallId call, std::uint32_t wrap_up_ms) {
  AgentRecord& r = agents_[a];
  if (r.in_wrap_up != 0 && r.wrap_up_call != call) {
    // A second task ended during after-call work: the earlier one closes without a disposition.
    Decision d;
    d.type = DecisionType::WrapUpRecorded;
    d.status = Status::WrapUpTimedOut;
    d.agent = a;
    d.call = r.wrap_up_call;
    emit(d);
  }
  r.in_wrap_up = 1;
  r.wrap_up_call = call;
  wheel_.arm(static_cast<std::uint32_t>(calls_.size()) + a,
             s_.now + static_cast<Micros>(wrap_up_ms) * 1000);
}

void Engine::end_wrap_up(AgentIndex a, std::uint16_t disposition, std::uint64_t note,
                         bool recorded) {
  AgentRecord& r = agents_[a];
  wheel_.cancel(static_cast<std::uint32_t>(calls_.size()) + a);
  Decision d;
  d.type = DecisionType::WrapUpRecorded;
  d.status = recorded ? Status::Ok : Status::WrapUpTimedOut;
  d.agent = a;
  d.call = r.wrap_up_call;
  d.reason = disposition;
  d.number = note;
  emit(d);
  r.in_wrap_up = 0;
  r.wrap_up_call = 0;
  r.idle_since = s_.now;
}

// An agent's task (call) is over, by release or transfer: free the capacity, start after-call work.
void Engine::task_finished(AgentIndex a, CallSlot slot, std::uint32_t wrap_up_ms) {
  AgentRecord& r = agents_[a];
  CallRecord& c = calls_[slot];
  --r.load[static_cast<int>(c.media)];
  --r.active;
  r.idle_since = s_.now;
  const Micros held = c.state == CallState::Held ? s_.now - c.hold_since : 0;
  const std::uint32_t hold_ms = c.hold_ms + to_ms(held);
  const std::uint32_t handle_ms = to_ms(s_.now - c.answered_at);
  AgentStats& st = agent_stats_[a];
  add_ms(st.hold_ms, hold_ms);
  add_ms(st.talk_ms, handle_ms > hold_ms ? handle_ms - hold_ms : 0);
  if (c.queue != kNone && c.outbound == 0) {
    QueueStats& qs = queue_stats_[c.queue];
    qs.handle_ms += handle_ms;
    ++qs.handled;
    QueueRecord& q = queues_[c.queue];
    const auto delta = static_cast<std::int64_t>(handle_ms) - static_cast<std::int64_t>(q.aht_ms);
    q.aht_ms = static_cast<std::uint32_t>(std::max<std::int64_t>(1, q.aht_ms + delta / 16));
  }
  if (wrap_up_ms > 0) {
    start_wrap_up(a, c.id, wrap_up_ms);
  }
}

// ---------------------------------------------------------------------------------------------
// Calls: pool, ID map, queues.

CallSlot Engine::alloc_call(CallId id) {
  const CallSlot slot = s_.free_call;
  CallRecord& c = calls_[slot];
  s_.free_call = c.next;
  c = CallRecord{};
  c.id = id;
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
  if (uses_rings(params_[q].policy)) {
    return ring_find(q, c, skipped);
  }
  std::uint32_t remaining = queues_[q].ready_count;
  for (std::uint32_t m = index_first(q); m != kNone && remaining > 0; m = index_next(q, m)) {
    --remaining;
    const AgentIndex a = members_[m].agent;
    if (c.req_count == 0 || has_skills(a, c)) {
      return a;
    }
    ++skipped;
  }
  return kNone;
}

CallSlot Engine::first_matching_call(QueueIndex qi, AgentIndex a) {
  const QueueRecord& q = queues_[qi];
  for (std::uint32_t bits = q.busy_priorities; bits != 0;) {
    const int p = 31 - std::countl_zero(bits);
    bits &= ~(1u << p);
    for (CallSlot c = q.head[p]; c != kNone; c = calls_[c].next) {
      if (calls_[c].req_count == 0 || has_skills(a, calls_[c])) {
        return c;
      }
      ++counters_.call_scan_steps;
    }
  }
  return kNone;
}

// The best waiting call, across the queues the agent is available for: highest priority (aged
// by waiting time so that no queue starves), then the longest wait relative to the queue's
// service-level threshold, then the earliest arrival.
CallSlot Engine::best_call_for(AgentIndex a) {
  const AgentRecord& r = agents_[a];
  CallSlot best = kNone;
  std::uint64_t best_priority = 0;
  std::uint64_t best_wait = 0;
  std::uint64_t best_threshold = 1;
  for (std::uint32_t m = r.members_begin; m < r.members_begin + r.members_count; ++m) {
    const MemberNode& node = members_[m];
    if (!available(a, params_[node.queue].media) || queues_[node.queue].waiting == 0) {
      continue;
    }
    const CallSlot c = first_matching_call(node.queue, a);
    if (c == kNone) {
      continue;
    }
    const QueueParams& p = params_[node.queue];
    const std::uint64_t wait = s_.now - calls_[c].enqueued;
    const std::uint64_t aged =
        calls_[c].priority +
        (p.priority_aging_ms != 0 ? wait / (p.priority_aging_ms * 1000ull) : 0);
    const std::uint64_t threshold = p.sl_threshold_ms;
    bool better = best == kNone;
    if (!better) {
      if (aged != best_priority) {
        better = aged > best_priority;
      } else if (wait * best_threshold != best_wait * threshold) {
        better = wait * best_threshold > best_wait * threshold;
      } else {
        better = calls_[c].seq < calls_[best].seq;
      }
    }
    if (better) {
      best = c;
      best_priority = aged;
      best_wait = wait;
      best_threshold = threshold;
    }
  }
  return best;
}

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
  if (c.next_wait_rule < p.wait_rules_count) {
    const RuleRecord& rule = rules_[p.wait_rules_begin + c.next_wait_rule];
    wheel_.arm(slot, c.enqueued + static_cast<Micros>(rule.threshold) * 1000);
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
    if (hit) {
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
  const AgentIndex a = best_agent_for(slot);
  if (a != kNone) {
    c.unservable = 0;
    offer(slot, a);
    return;
  }
  c.unservable = servable(c) ? 0 : 1;
  counters_.unservable_calls += c.unservable;
  if (const RuleRecord* rule = placement_rule(c, arrival_rules)) {
    apply_overflow(slot, *rule);
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
Decision Engine::overflow_decision(const CallRecord& c, const RuleRecord& rule, bool moves) const {
  Decision d;
  d.type = DecisionType::Overflowed;
  d.call = c.id;
  d.queue = c.queue;
  d.action = rule.action;
  d.target = rule.target;
  if (rule.action == OverflowAction::ToQueue && !moves) {
    d.action = OverflowAction::Busy;
    d.status = Status::OverflowLoop;
  }
  return d;
}

std::uint8_t Engine::effective_priority(const CallRecord& c) const {
  return static_cast<std::uint8_t>(std::min<int>(
      kPriorityLevels - 1, c.base_priority + params_[c.queue].tier_priority_boost[c.tier]));
}

// Applies an overflow rule to a call that is not in any queue bucket or is queued. Returns true
// (always, today) when the call has left its queue: moved to another queue or out of the engine.
bool Engine::apply_overflow(CallSlot slot, const RuleRecord& rule) {
  CallRecord& c = calls_[slot];
  if (c.state == CallState::Queued) {
    dequeue(slot);
    record_wait_end(slot, false);
  }
  ++queue_stats_[c.queue].overflowed_out;
  const bool moves = rule.action == OverflowAction::ToQueue && c.hops < max_hops_;
  emit(overflow_decision(c, rule, moves));
  if (moves) {
    ++c.hops;
    c.queue = rule.target;
    c.enqueued = s_.now;
    c.seq = s_.next_seq++;
    c.next_wait_rule = 0;
    c.answer_counted = 0;
    set_state(c, CallState::Free);  // in transit: in no bucket, with no agent
    c.priority = effective_priority(c);
    ++queue_stats_[c.queue].offered;
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

// An offer was not taken (ring-no-answer, rejected, agent left): the call returns to its old
// place in its queue, or straight to another free agent.
void Engine::return_to_queue(CallSlot slot, Status why) {
  CallRecord& c = calls_[slot];
  Decision d;
  d.type = DecisionType::RingNoAnswer;
  d.status = why;
  d.call = c.id;
  d.agent = c.agent;
  d.queue = c.queue;
  emit(d);
  c.agent = kNone;
  set_state(c, CallState::Free);
  place_call(slot, false);
}

void Engine::end_call(CallSlot slot, bool abandoned) {
  CallRecord& c = calls_[slot];
  Decision d;
  d.type = DecisionType::CallEnded;
  d.call = c.id;
  d.queue = c.queue;
  d.agent = c.agent;
  d.reason = abandoned ? 1 : 0;
  emit(d);
  map_erase(c.id);
  free_call(slot);
}

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
  c.arrived = s_.now;
  c.enqueued = s_.now;
  c.seq = s_.next_seq++;
  init_call(c, e);
  ++queue_stats_[e.queue].offered;
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
  init_call(c, e);
  std::uint64_t skipped = 0;
  for (;;) {
    if (const AgentIndex a = find_agent_for(c, skipped); a != kNone) {
      d.type = DecisionType::Offer;
      d.queue = c.queue;
      d.agent = a;
      d.number = agents_[a].number;
      say(d);
      return;
    }
    c.unservable = servable(c) ? 0 : 1;
    const RuleRecord* rule = placement_rule(c, true);
    if (rule == nullptr) {
      d.type = DecisionType::Queued;
      d.queue = c.queue;
      d.position = position_at_tail(c);
      d.ewt_ms = ewt_for_call(c, d.position);
      say(d);
      return;
    }
    const bool moves = rule->action == OverflowAction::ToQueue && c.hops < max_hops_;
    say(overflow_decision(c, *rule, moves));
    if (!moves) {
      return;
    }
    ++c.hops;
    c.queue = rule->target;
    c.priority = effective_priority(c);
  }
}

// The slot of the event's call when that call is in one of the `allowed` states; otherwise an
// Error decision (UnknownCall, or WrongCallState) and kNone.
CallSlot Engine::call_in_state(const Event& e, std::initializer_list<CallState> allowed) {
  const CallSlot slot = find_call(e.call);
  if (slot == kNone) {
    error(Status::UnknownCall, e);
    return kNone;
  }
  if (std::find(allowed.begin(), allowed.end(), calls_[slot].state) == allowed.end()) {
    error(Status::WrongCallState, e);
    return kNone;
  }
  return slot;
}

void Engine::on_offer_rejected(const Event& e) {
  const CallSlot slot = call_in_state(e, {CallState::Ringing});
  if (slot == kNone) {
    return;
  }
  if (calls_[slot].outbound != 0) {
    error(Status::WrongCallState, e);  // a reservation is not declined: it is released
    return;
  }
  ring_no_answer(slot, Status::OfferDeclined);
}

void Engine::on_answered(const Event& e) {
  const CallSlot slot = call_in_state(e, {CallState::Ringing});
  if (slot == kNone) {
    return;
  }
  CallRecord& c = calls_[slot];
  const AgentIndex a = c.agent;
  AgentRecord& r = agents_[a];
  wheel_.cancel(slot);
  r.ringing = 0;
  r.ringing_call = kNone;
  ++r.active;
  set_state(c, CallState::Active);
  c.answered_at = s_.now;
  if (c.outbound == 0) {
    ++agent_stats_[a].answered;
    if (c.answer_counted == 0) {
      c.answer_counted = 1;
      QueueStats& qs = queue_stats_[c.queue];
      const std::uint32_t wait_ms = to_ms(s_.now - c.enqueued);
      ++qs.answered;
      qs.wait_answered_ms += wait_ms;
      if (wait_ms <= params_[c.queue].sl_threshold_ms) {
        ++qs.answered_in_sl;
      }
      record_wait_end(slot, true);
    }
  }
  agent_changed(a);
}

void Engine::on_hold(const Event& e, bool hold) {
  const CallSlot slot = call_in_state(e, {hold ? CallState::Active : CallState::Held});
  if (slot == kNone) {
    return;
  }
  CallRecord& c = calls_[slot];
  if (hold) {
    set_state(c, CallState::Held);
    c.hold_since = s_.now;
  } else {
    set_state(c, CallState::Active);
    add_ms(c.hold_ms, to_ms(s_.now - c.hold_since));
  }
}

void Engine::on_released(const Event& e, bool abandon_only) {
  const CallSlot slot = abandon_only ? call_in_state(e, {CallState::Queued, CallState::Ringing})
                                     : call_in_state(e, {CallState::Queued, CallState::Ringing,
                                                         CallState::Active, CallState::Held});
  if (slot == kNone) {
    return;
  }
  CallRecord& c = calls_[slot];
  switch (c.state) {
    case CallState::Queued:
      dequeue(slot);
      record_wait_end(slot, false);
      ++queue_stats_[c.queue].abandoned;
      end_call(slot, true);
      return;
    case CallState::Ringing: {
      const AgentIndex a = c.agent;
      AgentRecord& r = agents_[a];
      r.ringing = 0;
      r.ringing_call = kNone;
      --r.load[static_cast<int>(c.media)];
      if (c.outbound == 0 && c.answer_counted == 0) {
        record_wait_end(slot, false);
        ++queue_stats_[c.queue].abandoned;
      }
      end_call(slot, c.outbound == 0);
      agent_changed(a);
      return;
    }
    case CallState::Active:
    case CallState::Held: {
      const AgentIndex a = c.agent;
      const std::uint32_t wrap_up = c.queue != kNone ? params_[c.queue].wrap_up_ms : 0;
      task_finished(a, slot, wrap_up);
      end_call(slot, false);
      agent_changed(a);
      return;
    }
    case CallState::Free:  // not a call in the engine: call_in_state refused it
      break;
  }
}

void Engine::on_transfer_to_queue(const Event& e) {
  const CallSlot slot = call_in_state(e, {CallState::Active, CallState::Held});
  if (slot == kNone) {
    return;
  }
  CallRecord& c = calls_[slot];
  if (!queue_exists(e.queue)) {
    error(Status::UnknownQueue, e);
    return;
  }
  const QueueParams& p = params_[e.queue];
  Decision failed;
  failed.type = DecisionType::TransferFailed;
  failed.call = c.id;
  failed.queue = e.queue;
  if (p.media != c.media) {
    failed.status = Status::MediaMismatch;
    emit(failed);
    return;
  }
  if (c.verification < p.min_verification) {
    failed.status = Status::VerificationRequired;
    emit(failed);
    return;
  }
  const AgentIndex from = c.agent;
  ++agent_stats_[from].transfers_out;
  task_finished(from, slot, c.queue != kNone ? params_[c.queue].wrap_up_ms : 0);
  // A new leg: the call queues in the target group like a new arrival.
  c.agent = kNone;
  set_state(c, CallState::Free);
  c.outbound = 0;
  c.queue = e.queue;
  c.enqueued = s_.now;
  c.seq = s_.next_seq++;
  c.next_wait_rule = 0;
  c.answer_counted = 0;
  c.answered_at = 0;
  c.hold_ms = 0;
  c.priority = effective_priority(c);
  ++queue_stats_[e.queue].offered;
  place_call(slot, true);
  agent_changed(from);
}

void Engine::on_transfer_to_agent(const Event& e, AgentIndex target) {
  const CallSlot slot = call_in_state(e, {CallState::Active, CallState::Held});
  if (slot == kNone) {
    return;
  }
  CallRecord& c = calls_[slot];
  Decision failed;
  failed.type = DecisionType::TransferFailed;
  failed.call = c.id;
  failed.agent = target;
  failed.number = e.number;
  if (target == kNone) {
    failed.status = Status::NoSuchAgent;
    emit(failed);
    return;
  }
  if (c.queue == kNone) {
    failed.status =
        Status::NoQueueForCall;  // an outbound call without a group: nowhere to fall back
    emit(failed);
    return;
  }
  if (target == c.agent) {
    failed.status = Status::TargetIsSelf;
    emit(failed);
    return;
  }
  const Status why = why_unavailable(target, c.media);
  if (why != Status::Ok) {
    failed.status = why;
    emit(failed);
    return;
  }
  const AgentIndex from = c.agent;
  ++agent_stats_[from].transfers_out;
  task_finished(from, slot, c.queue != kNone ? params_[c.queue].wrap_up_ms : 0);
  c.agent = kNone;
  set_state(c, CallState::Free);
  c.answered_at = 0;
  c.hold_ms = 0;
  c.outbound = 0;
  c.answer_counted = 1;  // answered already: this leg does not count again in queue statistics
  offer(slot, target);
  agent_changed(from);
}

void Engine::on_outbound(const Event& e, AgentIndex target) {
  if (e.call == 0) {
    error(Status::InvalidCallId, e);
    return;
  }
  const bool by_queue = e.type == EventType::OutboundToQueue;
  if (by_queue && !queue_exists(e.queue)) {
    error(Status::UnknownQueue, e);
    return;
  }
  if (find_call(e.call) != kNone) {
    error(Status::DuplicateCall, e);
    return;
  }
  const Media media = by_queue ? params_[e.queue].media : e.media;
  if (static_cast<int>(media) >= kMediaCount) {
    error(Status::BadField, e);
    return;
  }
  Decision failed;
  failed.type = DecisionType::OutboundFailed;
  failed.call = e.call;
  failed.queue = by_queue ? e.queue : kNone;
  failed.number = e.number;
  if (s_.free_call == kNone) {
    failed.status = Status::CallPoolFull;
    emit(failed);
    return;
  }
  if (!by_queue) {
    const Status why = target == kNone ? Status::NoSuchAgent : why_unavailable(target, media);
    if (why != Status::Ok) {
      failed.status = why;
      emit(failed);
      return;
    }
  }
  const CallSlot slot = alloc_call(e.call);
  CallRecord& c = calls_[slot];
  c.arrived = s_.now;
  c.enqueued = s_.now;
  c.seq = s_.next_seq++;
  c.media = media;
  c.outbound = 1;
  c.queue = by_queue ? e.queue : kNone;
  if (by_queue) {
    target = best_agent_for(slot);
    if (target == kNone) {
      failed.status = Status::NoAgentAvailable;
      emit(failed);
      map_erase(c.id);
      free_call(slot);
      return;
    }
  }
  AgentRecord& r = agents_[target];
  set_state(c, CallState::Ringing);
  c.agent = target;
  r.ringing = 1;
  r.ringing_call = slot;
  ++r.load[static_cast<int>(media)];
  ++agent_stats_[target].outbound;
  wheel_.arm(slot, s_.now + static_cast<Micros>(outbound_reserve_ms_) * 1000);
  Decision d;
  d.type = DecisionType::OutboundReserved;
  d.call = c.id;
  d.agent = target;
  d.queue = c.queue;
  d.number = r.number;
  emit(d);
  agent_changed(target);
}

void Engine::on_new_day() {
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    agents_[a].state_since = s_.now;
  }
  std::fill(agent_stats_.begin(), agent_stats_.end(), AgentStats{});
  std::fill(queue_stats_.begin(), queue_stats_.end(), QueueStats{});
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    if (agents_[a].signed_in != 0) {
      refresh_index(a);  // keys built on today's figures start again
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
  v.device = r.device;
  v.signed_in_at = r.signed_in_at;
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
