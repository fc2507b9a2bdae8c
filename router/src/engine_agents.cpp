// Agents: sign-in and sign-out, ready and not ready, after-call work, availability, the state
// derived from presence and tasks, and the day's state times. See router/DESIGN.md, "Agent
// states".
#include <algorithm>

#include "acd/router/engine.hpp"
#include "saturating_ms.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::QueueRecord;

using detail::add_ms;
using detail::to_ms;

namespace {

std::uint32_t total_load(const AgentRecord& r) {
  std::uint32_t n = 0;
  for (auto l : r.load) {
    n += l;
  }
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lookups and availability.

bool Engine::valid_agent(const Event& e) {
  if (!agent_exists(e.agent)) {
    error(Status::UnknownAgent, e);
    return false;
  }
  return true;
}

// The event's agent when it is signed in; otherwise an Error decision (UnknownAgent, or
// NotSignedIn) and kNone.
AgentIndex Engine::signed_in_agent(const Event& e) {
  if (!valid_agent(e)) {
    return kNone;
  }
  if (agents_[e.agent].signed_in == 0) {
    error(Status::NotSignedIn, e);
    return kNone;
  }
  return e.agent;
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

// ---------------------------------------------------------------------------------------------
// State: derived, accounted, published; settled after every change.

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
  CallSlot c = best_call_for(a);
  bool borrowed = false;
  if (c == kNone && s_.surging > 0) {
    // Nothing in its own queues: a queue in surge may borrow it (engine_surge.cpp).
    c = borrow_call_for(a);
    borrowed = c != kNone;
  }
  publish(a);
  if (c != kNone) {
    dequeue(c);
    if (borrowed) {
      ++surge_[calls_[c].queue].borrowed;
    }
    offer(c, a);  // refreshes the indexes
    return;
  }
  refresh_index(a);
}

// ---------------------------------------------------------------------------------------------
// Agent events.

void Engine::on_sign_in(const Event& e) {
  if (!valid_agent(e)) {
    return;
  }
  AgentRecord& r = agents_[e.agent];
  if (r.signed_in != 0) {
    if ((e.reason & kSignInMovesDesk) == 0) {
      error(Status::AlreadySignedIn, e);
      return;
    }
    // A desk move: leave the old desk as a sign-out does (refused while a call is up).
    Event out = e;
    out.type = EventType::AgentSignOut;
    on_sign_out(out, false);
    if (r.signed_in != 0) {
      return;  // AgentHasCalls, reported by on_sign_out
    }
  }
  r.signed_in = 1;
  agent_cold_[e.agent].device = e.device;
  agent_cold_[e.agent].signed_in_at = s_.now;
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
  const AgentIndex a = signed_in_agent(e);
  if (a == kNone) {
    return;
  }
  AgentRecord& r = agents_[a];
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
  const AgentIndex a = signed_in_agent(e);
  if (a == kNone) {
    return;
  }
  AgentRecord& r = agents_[a];
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
  const AgentIndex a = signed_in_agent(e);
  if (a == kNone) {
    return;
  }
  AgentRecord& r = agents_[a];
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
  const AgentIndex a = signed_in_agent(e);
  if (a == kNone) {
    return;
  }
  if (agents_[a].in_wrap_up == 0) {
    error(Status::WrongAgentState, e);
    return;
  }
  end_wrap_up(a, e.reason, e.device, true);
  agent_changed(a);
}

// ---------------------------------------------------------------------------------------------
// After-call work, and the end of a task.

void Engine::start_wrap_up(AgentIndex a, CallId call, std::uint32_t wrap_up_ms) {
  AgentRecord& r = agents_[a];
  CallId& wrap_up_call = agent_cold_[a].wrap_up_call;
  if (r.in_wrap_up != 0 && wrap_up_call != call) {
    // A second task ended during after-call work: the earlier one closes without a disposition.
    Decision d;
    d.type = DecisionType::WrapUpRecorded;
    d.status = Status::WrapUpTimedOut;
    d.agent = a;
    d.call = wrap_up_call;
    emit(d);
  }
  r.in_wrap_up = 1;
  wrap_up_call = call;
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
  d.call = agent_cold_[a].wrap_up_call;
  d.reason = disposition;
  d.number = note;
  emit(d);
  r.in_wrap_up = 0;
  agent_cold_[a].wrap_up_call = 0;
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

}  // namespace acd::router
