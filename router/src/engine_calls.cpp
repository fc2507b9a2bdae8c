// Calls after placement: offers declined or rung out, answer, hold and retrieve, release and
// abandon, transfers to a group or an agent, outbound reservations, and the new day. See
// router/DESIGN.md, "Transfers, outbound, overflow".
#include <algorithm>

#include "acd/router/engine.hpp"
#include "saturating_ms.hpp"

namespace acd::router {

using detail::AgentRecord;
using detail::CallRecord;
using detail::QueueParams;

using detail::add_ms;
using detail::to_ms;

// ---------------------------------------------------------------------------------------------
// The call an event names.

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

// ---------------------------------------------------------------------------------------------
// Offers not taken: declined, rung out, withdrawn.

void Engine::on_offer_rejected(const Event& e) {
  const CallSlot slot = call_in_state(e, {CallState::Ringing});
  if (slot == kNone) {
    return;
  }
  if (calls_[slot].outbound != 0) {
    error(Status::WrongCallState, e);  // a reservation is not declined: it is released
    return;
  }
  // A switch's report names the agent whose phone it rang: a report that arrives after the call
  // was offered to another agent (the ring timeout fired first) changes nothing.
  if (e.agent != kNone && e.agent != calls_[slot].agent) {
    error(Status::WrongCallState, e);
    return;
  }
  ring_no_answer(slot, e.agent != kNone && e.reason == kNoAnswerRangOut ? Status::RingTimeout
                                                                        : Status::OfferDeclined);
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

// ---------------------------------------------------------------------------------------------
// Answer, hold and retrieve, release.

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

// ---------------------------------------------------------------------------------------------
// Transfers.

// The call leaves its agent, who goes to after-call work, for a new leg: it is in transit (no
// agent, in no bucket), no longer answered. Returns the agent it left.
AgentIndex Engine::transfer_out(CallSlot slot) {
  CallRecord& c = calls_[slot];
  const AgentIndex from = c.agent;
  ++agent_stats_[from].transfers_out;
  task_finished(from, slot, c.queue != kNone ? params_[c.queue].wrap_up_ms : 0);
  c.agent = kNone;
  set_state(c, CallState::Free);
  c.outbound = 0;
  c.answered_at = 0;
  c.hold_ms = 0;
  return from;
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
  const AgentIndex from = transfer_out(slot);
  // A new leg: the call queues in the target group like a new arrival.
  c.queue = e.queue;
  c.enqueued = s_.now;
  c.seq = s_.next_seq++;
  c.next_wait_rule = 0;
  c.answer_counted = 0;
  c.priority = effective_priority(c);
  count_offered(e.queue);
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
  const AgentIndex from = transfer_out(slot);
  c.answer_counted = 1;  // answered already: this leg does not count again in queue statistics
  offer(slot, target);
  agent_changed(from);
}

// ---------------------------------------------------------------------------------------------
// Outbound reservations.

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

// ---------------------------------------------------------------------------------------------
// New day.

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

}  // namespace acd::router
