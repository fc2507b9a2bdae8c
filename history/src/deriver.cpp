// The deriver: the log's inputs and the engine's decisions in, call detail records, agent state
// records and interval aggregates out. The measures are defined in history/DESIGN.md.
#include "acd/history/deriver.hpp"

#include <algorithm>
#include <cassert>

namespace acd::history {

using router::AgentState;
using router::Decision;
using router::DecisionType;
using router::Event;
using router::EventType;
using router::kNone;

namespace {

bool is_outbound(EventType t) {
  return t == EventType::OutboundToQueue || t == EventType::OutboundToAgentId;
}

}  // namespace

Deriver::Deriver(const router::EngineConfig& engine, const DeriverConfig& config)
    : engine_(engine),
      config_(config),
      agents_(engine.agents.size()),
      qrows_(engine.queues.size()),
      arows_(engine.agents.size()),
      qtouched_(engine.queues.size(), 0),
      atouched_(engine.agents.size(), 0) {
  assert(config_.interval_us > 0);
}

std::size_t Deriver::open_calls() const { return calls_.size() - free_.size(); }

// ---------------------------------------------------------------------------------------------
// Calls held open.

std::uint32_t Deriver::find(CallId id) const {
  const auto it = live_.find(id);
  return it == live_.end() ? kNoSlot : it->second;
}

std::uint32_t Deriver::open_call(CallId id) {
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    calls_[slot] = Call{};
  } else {
    slot = static_cast<std::uint32_t>(calls_.size());
    calls_.emplace_back();
  }
  calls_[slot].used = true;
  calls_[slot].cdr.call = id;
  live_[id] = slot;
  return slot;
}

void Deriver::forget(std::uint32_t slot) {
  const auto it = live_.find(calls_[slot].cdr.call);
  if (it != live_.end() && it->second == slot) {
    live_.erase(it);
  }
}

// A call's record is final once the call has left the engine and no after-call work of it runs.
void Deriver::maybe_emit(std::uint32_t slot) {
  Call& c = calls_[slot];
  if (c.where != Where::Gone || c.wraps_pending != 0) {
    return;
  }
  c.cdr.id = next_id();
  out_->calls.push_back(std::move(c.cdr));
  c = Call{};
  free_.push_back(slot);
}

// ---------------------------------------------------------------------------------------------
// Intervals.

QueueInterval& Deriver::qrow(QueueIndex q) {
  qtouched_[q] = 1;
  return qrows_[q];
}

AgentInterval& Deriver::arow(AgentIndex a) {
  atouched_[a] = 1;
  return arows_[a];
}

// Adds an agent's open state to the current interval, up to `upto`.
void Deriver::credit(AgentIndex a, Micros upto) {
  Agent& ag = agents_[a];
  if (upto <= ag.accounted) {
    return;
  }
  const Micros d = upto - ag.accounted;
  ag.accounted = upto;
  if (ag.open.state == AgentState::LoggedOut) {
    return;
  }
  AgentInterval& row = arow(a);
  row.state_us[static_cast<std::size_t>(ag.open.state)] += d;
  if (ag.open.state == AgentState::NotReady) {
    row.not_ready_us[std::min<std::size_t>(ag.open.reason, router::kNotReadyReasons - 1)] += d;
  }
}

void Deriver::close_current() {
  const Micros end = interval_start_ + config_.interval_us;
  for (AgentIndex a = 0; a < agents_.size(); ++a) {
    credit(a, end);
  }
  for (QueueIndex q = 0; q < qrows_.size(); ++q) {
    if (qtouched_[q] != 0) {
      QueueInterval row = qrows_[q];
      row.id = next_id();
      row.start = interval_start_;
      row.queue = q;
      out_->queue_intervals.push_back(row);
      qrows_[q] = QueueInterval{};
      qtouched_[q] = 0;
    }
  }
  for (AgentIndex a = 0; a < arows_.size(); ++a) {
    if (atouched_[a] != 0) {
      AgentInterval row = arows_[a];
      row.id = next_id();
      row.start = interval_start_;
      row.agent = a;
      out_->agent_intervals.push_back(row);
      arows_[a] = AgentInterval{};
      atouched_[a] = 0;
    }
  }
  interval_start_ = end;
}

// Moves time to t, closing the intervals it passes. Intervals in which nothing happened and no
// agent was signed in are skipped without a row.
void Deriver::advance(Micros t) {
  if (!started_) {
    started_ = true;
    interval_start_ = t / config_.interval_us * config_.interval_us;
    for (Agent& ag : agents_) {
      ag.accounted = interval_start_;
      ag.open.since = t;  // the first logged-out span starts where the log does
    }
  }
  now_ = std::max(now_, t);
  while (now_ >= interval_start_ + config_.interval_us) {
    close_current();
    if (signed_in_ == 0) {
      const Micros start = now_ / config_.interval_us * config_.interval_us;
      for (Agent& ag : agents_) {
        ag.accounted = std::max(ag.accounted, start);
      }
      interval_start_ = std::max(interval_start_, start);
    }
  }
}

bool Deriver::close_intervals(std::uint64_t seq, Micros time, Records& out) {
  if (seq < seq_) {
    return false;
  }
  if (seq != seq_) {
    seq_ = seq;
    index_ = 0;
  }
  out_ = &out;
  advance(time);
  out_ = nullptr;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Applying one input.

bool Deriver::apply(std::uint64_t seq, const Event& input, std::span<const Decision> decisions,
                    Records& out) {
  if (seq <= seq_) {
    return false;
  }
  out_ = &out;
  seq_ = seq;
  index_ = 0;
  bool failed = false;
  for (const Decision& d : decisions) {
    failed = failed || (d.cause == input.type && input.type != EventType::Tick &&
                        (d.type == DecisionType::Error || d.type == DecisionType::TransferFailed));
  }
  std::size_t i = 0;
  // Timers fired before the input, each at its deadline.
  while (i < decisions.size() && decisions[i].cause == EventType::Tick &&
         input.type != EventType::Tick) {
    advance(decisions[i].time);
    on_decision(decisions[i], input);
    ++i;
  }
  if (input.type == EventType::Tick) {
    for (; i < decisions.size(); ++i) {
      advance(decisions[i].time);
      on_decision(decisions[i], input);
    }
  }
  advance(std::max(now_, input.time));
  if (!failed) {
    on_input(input);
  }
  for (; i < decisions.size(); ++i) {
    advance(decisions[i].time);
    on_decision(decisions[i], input);
  }
  out_ = nullptr;
  return true;
}

void Deriver::arrive(std::uint32_t slot, const Event& e, Micros t) {
  Call& c = calls_[slot];
  c.cdr.arrived = t;
  c.cdr.verification = e.verification;
  c.cdr.priority = e.priority;
  c.cdr.tier = e.tier;
  c.cdr.first_queue = e.queue;
  c.cdr.path.push_back(PathStep{t, e.queue, kNone, kNone, StepKind::Arrival});
}

void Deriver::enter_queue(Call& c, QueueIndex q, Micros t) {
  c.leg_queue = q;
  c.leg_entered = t;
  c.leg_answered = false;
  c.where = Where::Transit;
  ++qrow(q).offered;
}

// A wait in a queue ends (answered, abandoned, overflowed while waiting): the longest wait.
void Deriver::wait_end(Call& c, Micros t) {
  QueueInterval& row = qrow(c.leg_queue);
  row.max_wait_us = std::max(row.max_wait_us, t - c.leg_entered);
}

// An answered task ends (release or transfer): talk and hold, and the agent's after-call work.
void Deriver::end_task(Call& c, Micros t) {
  const AgentIndex a = c.agent;
  const Micros hold = c.task.hold_us + (c.task.held ? t - c.task.hold_since : 0);
  const Micros handle = t - c.task.answered;
  const Micros talk = handle > hold ? handle - hold : 0;
  c.cdr.talk_us += talk;
  c.cdr.hold_us += hold;
  AgentInterval& ar = arow(a);
  ar.talk_us += talk;
  ar.hold_us += hold;
  if (c.leg_queue != kNone && !c.outbound_leg) {
    QueueInterval& qr = qrow(c.leg_queue);
    ++qr.handled;
    qr.talk_us += talk;
    qr.hold_us += hold;
  }
  c.task = Task{};
  ++c.tasks_ended;
  if (c.leg_queue != kNone && engine_.queues[c.leg_queue].wrap_up_ms > 0) {
    Agent& ag = agents_[a];
    if (ag.wrap_call != kNoSlot) {
      // The engine closes the earlier after-call work without a disposition.
      close_wrap(a, false, 0, 0, t);
    }
    const auto slot = static_cast<std::uint32_t>(&c - calls_.data());
    ag.wrap_call = slot;
    ag.wrap_since = t;
    ag.wrap_queue = c.leg_queue;
    ag.wrap_task = c.tasks_ended;
    ++c.wraps_pending;
  }
}

void Deriver::close_wrap(AgentIndex a, bool recorded, std::uint16_t disposition,
                         std::uint64_t note, Micros t) {
  Agent& ag = agents_[a];
  const std::uint32_t slot = ag.wrap_call;
  Call& c = calls_[slot];
  const Micros d = t - ag.wrap_since;
  c.cdr.wrap_us += d;
  qrow(ag.wrap_queue).wrap_us += d;
  arow(a).wrap_us += d;
  if (ag.wrap_task == c.tasks_ended) {
    c.cdr.wrap = recorded ? WrapStatus::Recorded : WrapStatus::Ended;
    c.cdr.disposition = recorded ? disposition : 0;
    c.cdr.note = recorded ? note : 0;
  }
  ag.wrap_call = kNoSlot;
  --c.wraps_pending;
  maybe_emit(slot);
}

void Deriver::end_call(Call& c, std::uint32_t slot, Micros t) {
  c.cdr.ended = t;
  c.cdr.last_queue = c.leg_queue;
  if (c.cdr.answered == 0) {
    c.cdr.wait_us = t - c.cdr.arrived;
  }
  c.where = Where::Gone;
  forget(slot);
  maybe_emit(slot);
}

void Deriver::close_state(AgentIndex a, Micros t) {
  credit(a, t);
  Agent& ag = agents_[a];
  AgentStateRecord r;
  r.id = next_id();
  r.agent = a;
  r.state = ag.open.state;
  r.reason = ag.open.state == AgentState::NotReady ? ag.open.reason : 0;
  r.start = ag.open.since;
  r.end = t;
  out_->states.push_back(r);
}

// Changes an input makes without a decision of their own; called only if the engine did not
// refuse the input.
void Deriver::on_input(const Event& e) {
  const Micros t = now_;
  switch (e.type) {
    case EventType::CallAnswered: {
      const std::uint32_t slot = find(e.call);
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      c.where = Where::Active;
      c.task = Task{t, 0, 0, false};
      if (c.cdr.answered == 0) {
        c.cdr.answered = t;
        c.cdr.first_agent = c.agent;
        c.cdr.wait_us = t - c.cdr.arrived;
      }
      if (!c.outbound_leg) {
        ++arow(c.agent).handled;
        if (!c.leg_answered) {
          c.leg_answered = true;
          const Micros wait = t - c.leg_entered;
          QueueInterval& row = qrow(c.leg_queue);
          ++row.answered;
          row.wait_answered_us += wait;
          if (wait / 1000 <= engine_.queues[c.leg_queue].sl_threshold_ms) {
            ++row.answered_in_sl;
          }
          wait_end(c, t);
        }
      }
      return;
    }
    case EventType::CallHeld:
    case EventType::CallRetrieved: {
      const std::uint32_t slot = find(e.call);
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      if (e.type == EventType::CallHeld) {
        c.where = Where::Held;
        c.task.held = true;
        c.task.hold_since = t;
        ++c.cdr.holds;
      } else {
        c.where = Where::Active;
        c.task.held = false;
        c.task.hold_us += t - c.task.hold_since;
      }
      return;
    }
    case EventType::TransferToQueue:
    case EventType::TransferToAgent:
    case EventType::TransferToAgentId: {
      const std::uint32_t slot = find(e.call);
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      const AgentIndex from = c.agent;
      ++arow(from).transfers_out;
      end_task(c, t);
      ++c.cdr.transfers;
      c.agent = kNone;
      c.outbound_leg = false;
      if (e.type == EventType::TransferToQueue) {
        c.cdr.path.push_back(PathStep{t, e.queue, from, kNone, StepKind::TransferToQueue});
        enter_queue(c, e.queue, t);
      } else {
        // The leg keeps its queue and counts as answered there; the target is the next offer.
        c.cdr.path.push_back(PathStep{t, c.leg_queue, from, kNone, StepKind::TransferToAgent});
        c.leg_answered = true;
        c.where = Where::Transit;
      }
      return;
    }
    default:
      return;
  }
}

void Deriver::on_decision(const Decision& d, const Event& input) {
  const Micros t = d.time;
  std::uint32_t slot = d.call != 0 ? find(d.call) : kNoSlot;
  // A new call: the route request's first decision, or an outbound request's.
  if (slot == kNoSlot && d.call == input.call && d.call != 0) {
    const bool inbound = input.type == EventType::RouteRequest &&
                         (d.type == DecisionType::Offer || d.type == DecisionType::Queued ||
                          d.type == DecisionType::Overflowed || d.type == DecisionType::Rejected);
    const bool outbound = is_outbound(input.type) && (d.type == DecisionType::OutboundReserved ||
                                                      d.type == DecisionType::OutboundFailed);
    if (inbound) {
      slot = open_call(d.call);
      arrive(slot, input, t);
      if (d.type != DecisionType::Rejected) {
        enter_queue(calls_[slot], input.queue, t);
      } else {
        calls_[slot].leg_queue = input.queue;
      }
    } else if (outbound) {
      slot = open_call(d.call);
      Call& c = calls_[slot];
      c.cdr.arrived = t;
      c.cdr.outbound = true;
      c.cdr.first_queue = d.queue;
      c.cdr.path.push_back(PathStep{t, d.queue, d.agent, kNone, StepKind::Outbound});
      c.leg_queue = d.queue;
      c.leg_entered = t;
      c.outbound_leg = true;
    }
  }
  switch (d.type) {
    case DecisionType::Offer: {
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      c.where = Where::Ringing;
      c.agent = d.agent;
      ++c.cdr.offers;
      PathStep& last = c.cdr.path.back();
      if (last.kind == StepKind::TransferToAgent && last.target == kNone) {
        last.target = d.agent;
      }
      return;
    }
    case DecisionType::SurgeChanged:
    case DecisionType::ServiceChanged:
      return;  // mode changes: the engine's own records (metrics, the audit of the command)
    case DecisionType::Queued:
      if (slot != kNoSlot) {
        calls_[slot].where = Where::Queued;
      }
      return;
    case DecisionType::Overflowed: {
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      if (d.action == router::OverflowAction::CallbackKeepPlace) {
        // The caller hung up for a callback: the call keeps its place (and its wait goes on)
        // until an agent is offered it, and the switch dials the caller back.
        c.cdr.path.push_back(PathStep{t, c.leg_queue, kNone, kNone, StepKind::Callback});
        return;
      }
      if (c.where == Where::Queued) {
        wait_end(c, t);
      }
      ++qrow(c.leg_queue).overflowed_out;
      ++c.cdr.overflows;
      if (d.action == router::OverflowAction::ToQueue) {
        c.cdr.path.push_back(PathStep{t, d.target, kNone, kNone, StepKind::Overflow});
        enter_queue(c, d.target, t);
        return;
      }
      c.cdr.outcome = CallOutcome::OverflowedOut;
      c.cdr.status = d.status;
      c.cdr.overflow_action = d.action;
      c.cdr.overflow_target = d.target;
      end_call(c, slot, t);
      return;
    }
    case DecisionType::Rejected: {
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      c.cdr.outcome = CallOutcome::Rejected;
      c.cdr.status = d.status;
      end_call(c, slot, t);
      return;
    }
    case DecisionType::RingNoAnswer: {
      if (d.status != router::Status::AgentLeft && d.agent < agents_.size()) {
        ++arow(d.agent).no_answer;
      }
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      ++c.cdr.ring_no_answers;
      c.agent = kNone;
      c.where = Where::Transit;
      return;
    }
    case DecisionType::OutboundReserved:
      if (slot != kNoSlot) {
        calls_[slot].where = Where::Ringing;
        calls_[slot].agent = d.agent;
      }
      return;
    case DecisionType::OutboundFailed: {
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      c.cdr.outcome = CallOutcome::OutboundNotConnected;
      c.cdr.status = d.status;
      end_call(c, slot, t);
      return;
    }
    case DecisionType::CallEnded: {
      if (slot == kNoSlot) {
        return;
      }
      Call& c = calls_[slot];
      switch (c.where) {
        case Where::Queued:
        case Where::Ringing: {
          if (c.where == Where::Ringing && c.outbound_leg) {
            c.cdr.outcome = CallOutcome::OutboundNotConnected;
            break;
          }
          c.cdr.outcome = c.where == Where::Queued ? CallOutcome::AbandonedQueued
                                                   : CallOutcome::AbandonedRinging;
          if (c.where == Where::Queued || !c.leg_answered) {
            const Micros wait = t - c.leg_entered;
            QueueInterval& row = qrow(c.leg_queue);
            ++row.abandoned;
            if (wait < static_cast<Micros>(config_.short_abandon_ms) * 1000) {
              ++row.short_abandoned;
            }
            wait_end(c, t);
          }
          break;
        }
        case Where::Active:
        case Where::Held:
          c.cdr.outcome = CallOutcome::Completed;
          c.cdr.last_agent = c.agent;
          end_task(c, t);
          break;
        case Where::Transit:
        case Where::Gone:
          break;
      }
      end_call(c, slot, t);
      return;
    }
    case DecisionType::WrapUpRecorded: {
      if (d.agent >= agents_.size()) {
        return;
      }
      Agent& ag = agents_[d.agent];
      if (ag.wrap_call != kNoSlot && calls_[ag.wrap_call].cdr.call == d.call) {
        close_wrap(d.agent, d.status == router::Status::Ok, d.reason, d.number, t);
      }
      return;
    }
    case DecisionType::AgentStateChanged: {
      if (d.agent >= agents_.size()) {
        return;
      }
      Agent& ag = agents_[d.agent];
      close_state(d.agent, t);
      const bool was_in = ag.open.state != AgentState::LoggedOut;
      const bool is_in = d.state != AgentState::LoggedOut;
      signed_in_ = signed_in_ + (is_in ? 1 : 0) - (was_in ? 1 : 0);
      ag.open = OpenState{d.state, d.state == AgentState::NotReady ? d.reason : std::uint16_t{0},
                          t};
      return;
    }
    case DecisionType::TransferFailed:
    case DecisionType::Error:
    case DecisionType::kCount:
      return;
  }
}

std::string_view to_string(CallOutcome o) {
  switch (o) {
    case CallOutcome::Completed:
      return "completed";
    case CallOutcome::AbandonedQueued:
      return "abandoned_queued";
    case CallOutcome::AbandonedRinging:
      return "abandoned_ringing";
    case CallOutcome::OverflowedOut:
      return "overflowed_out";
    case CallOutcome::Rejected:
      return "rejected";
    case CallOutcome::OutboundNotConnected:
      return "outbound_not_connected";
  }
  return "?";
}

std::string_view to_string(StepKind k) {
  switch (k) {
    case StepKind::Arrival:
      return "arrival";
    case StepKind::Overflow:
      return "overflow";
    case StepKind::TransferToQueue:
      return "transfer_to_queue";
    case StepKind::TransferToAgent:
      return "transfer_to_agent";
    case StepKind::Outbound:
      return "outbound";
    case StepKind::Callback:
      return "callback";
  }
  return "?";
}

std::string_view to_string(WrapStatus w) {
  switch (w) {
    case WrapStatus::None:
      return "none";
    case WrapStatus::Recorded:
      return "recorded";
    case WrapStatus::Ended:
      return "ended";
  }
  return "?";
}

}  // namespace acd::history
