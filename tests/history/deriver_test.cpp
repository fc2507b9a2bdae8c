// The deriver's records: focused cases (abandon while ringing and queued, overflow path, transfer
// path, hold time, wrap-up disposition, interval boundaries) and replay determinism.
#include "acd/history/deriver.hpp"

#include <gtest/gtest.h>

#include "acd/history/feed.hpp"

namespace acd::history {
namespace {

using router::AgentState;
using router::EngineConfig;
using router::Event;
using router::EventType;

constexpr Micros kS = 1'000'000;

EngineConfig small_centre() {
  EngineConfig c;
  c.skill_count = 1;
  c.max_calls = 16;
  router::QueueConfig q0;
  q0.name = "sales";
  q0.skills = {{0, 1, 0}};
  q0.ring_timeout_ms = 10'000;
  q0.wrap_up_ms = 30'000;
  q0.sl_threshold_ms = 20'000;
  q0.overflow = {{router::OverflowCondition::WaitAtLeast, router::OverflowAction::ToQueue, 60'000,
                  1}};
  router::QueueConfig q1 = q0;
  q1.name = "service";
  q1.wrap_up_ms = 0;
  q1.overflow.clear();
  c.queues = {q0, q1};
  for (router::AgentNumber n : {1001u, 1002u}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {{0, 5, 0}};
    c.agents.push_back(a);
  }
  return c;
}

class Centre {
 public:
  explicit Centre(DeriverConfig dc = {}) : config_(small_centre()), feed_(config_, dc) {}

  std::uint64_t go(EventType type, Micros at, router::CallId call = 0,
                   AgentIndex agent = router::kNone, QueueIndex queue = router::kNone) {
    Event e;
    e.type = type;
    e.time = at;
    e.call = call;
    e.agent = agent;
    e.queue = queue;
    return go(e);
  }
  std::uint64_t go(const Event& e) {
    EXPECT_TRUE(feed_.apply(++seq_, e, out_));
    return seq_;
  }
  void ready(AgentIndex a, Micros at) {
    go(EventType::AgentSignIn, at, 0, a);
    go(EventType::AgentReady, at, 0, a);
  }
  void call(router::CallId id, QueueIndex q, Micros at) {
    go(EventType::RouteRequest, at, id, router::kNone, q);
  }
  void flush(Micros at) { feed_.deriver().close_intervals(seq_, at, out_); }
  const CallDetail* cdr(router::CallId id) const {
    for (const CallDetail& c : out_.calls) {
      if (c.call == id) {
        return &c;
      }
    }
    return nullptr;
  }
  QueueInterval sum(QueueIndex q) const {
    QueueInterval s;
    for (const QueueInterval& r : out_.queue_intervals) {
      if (r.queue == q) {
        s.offered += r.offered;
        s.answered += r.answered;
        s.answered_in_sl += r.answered_in_sl;
        s.abandoned += r.abandoned;
        s.short_abandoned += r.short_abandoned;
        s.overflowed_out += r.overflowed_out;
        s.handled += r.handled;
        s.wait_answered_us += r.wait_answered_us;
        s.max_wait_us = std::max(s.max_wait_us, r.max_wait_us);
        s.talk_us += r.talk_us;
        s.hold_us += r.hold_us;
        s.wrap_us += r.wrap_us;
      }
    }
    return s;
  }
  Records& out() { return out_; }

 private:
  EngineConfig config_;
  Feed feed_;
  Records out_;
  std::uint64_t seq_ = 0;
};

// A caller who hangs up while the agent's phone rings: abandoned while ringing, short, one offer.
TEST(Deriver, AbandonWhileRinging) {
  Centre c;
  c.ready(0, 1 * kS);
  c.call(7, 0, 10 * kS);
  ASSERT_EQ(c.cdr(7), nullptr);
  c.go(EventType::CallAbandoned, 13 * kS, 7);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, CallOutcome::AbandonedRinging);
  EXPECT_EQ(r->offers, 1u);
  EXPECT_EQ(r->answered, 0u);
  EXPECT_EQ(r->wait_us, 3 * kS);
  EXPECT_EQ(r->ended, 13 * kS);
  c.flush(3600 * kS);
  const QueueInterval q = c.sum(0);
  EXPECT_EQ(q.offered, 1u);
  EXPECT_EQ(q.abandoned, 1u);
  EXPECT_EQ(q.short_abandoned, 1u);  // 3 s < 5 s
  EXPECT_EQ(q.max_wait_us, 3 * kS);
}

// Nobody staffs the queue: the caller waits and hangs up after 6 s, abandoned while queued and not
// short.
TEST(Deriver, AbandonWhileQueued) {
  Centre c;
  c.call(7, 0, 10 * kS);
  c.go(EventType::CallAbandoned, 16 * kS, 7);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, CallOutcome::AbandonedQueued);
  EXPECT_EQ(r->offers, 0u);
  c.flush(3600 * kS);
  EXPECT_EQ(c.sum(0).abandoned, 1u);
  EXPECT_EQ(c.sum(0).short_abandoned, 0u);
}

// A call waits 60 s in sales, overflows to service, is answered there 10 s later: its path shows
// both queues, sales counts the overflow and the wait, service the answer and its own wait.
TEST(Deriver, OverflowPath) {
  Centre c;
  c.call(7, 0, 0);
  c.go(EventType::Tick, 61 * kS);  // the wait rule fires at 60 s
  c.ready(0, 70 * kS);
  c.go(EventType::CallAnswered, 72 * kS, 7);
  c.go(EventType::CallReleased, 100 * kS, 7);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, CallOutcome::Completed);
  ASSERT_EQ(r->path.size(), 2u);
  EXPECT_EQ(r->path[0].kind, StepKind::Arrival);
  EXPECT_EQ(r->path[0].queue, 0u);
  EXPECT_EQ(r->path[1].kind, StepKind::Overflow);
  EXPECT_EQ(r->path[1].queue, 1u);
  EXPECT_EQ(r->path[1].time, 60 * kS);
  EXPECT_EQ(r->overflows, 1u);
  EXPECT_EQ(r->first_queue, 0u);
  EXPECT_EQ(r->last_queue, 1u);
  EXPECT_EQ(r->wait_us, 72 * kS);
  EXPECT_EQ(r->talk_us, 28 * kS);
  EXPECT_EQ(r->wrap, WrapStatus::None);  // service has no after-call work
  c.flush(3600 * kS);
  const QueueInterval sales = c.sum(0);
  const QueueInterval service = c.sum(1);
  EXPECT_EQ(sales.offered, 1u);
  EXPECT_EQ(sales.overflowed_out, 1u);
  EXPECT_EQ(sales.answered, 0u);
  EXPECT_EQ(sales.max_wait_us, 60 * kS);
  EXPECT_EQ(service.offered, 1u);
  EXPECT_EQ(service.answered, 1u);
  EXPECT_EQ(service.wait_answered_us, 12 * kS);
  EXPECT_EQ(service.answered_in_sl, 1u);
  EXPECT_EQ(service.handled, 1u);
}

// A caller who takes a callback after 60 s keeps the call's place: no overflow out, the wait runs
// on until an agent is offered the call, and the path shows the callback.
TEST(Deriver, CallbackKeepsThePlace) {
  EngineConfig config = small_centre();
  config.queues[0].overflow = {{router::OverflowCondition::WaitAtLeast,
                                router::OverflowAction::CallbackKeepPlace, 60'000, 0}};
  Feed feed(config, DeriverConfig{});
  Records out;
  std::uint64_t seq = 0;
  const auto go = [&](EventType type, Micros at, router::CallId call, AgentIndex agent,
                      QueueIndex queue) {
    Event e;
    e.type = type;
    e.time = at;
    e.call = call;
    e.agent = agent;
    e.queue = queue;
    EXPECT_TRUE(feed.apply(++seq, e, out));
  };
  go(EventType::RouteRequest, 0, 7, router::kNone, 0);
  go(EventType::Tick, 61 * kS, 0, router::kNone, router::kNone);
  go(EventType::AgentSignIn, 70 * kS, 0, 0, router::kNone);
  go(EventType::AgentReady, 70 * kS, 0, 0, router::kNone);
  go(EventType::CallAnswered, 75 * kS, 7, router::kNone, router::kNone);
  go(EventType::CallReleased, 100 * kS, 7, router::kNone, router::kNone);
  go(EventType::Tick, 200 * kS, 0, router::kNone, router::kNone);
  const CallDetail* r = nullptr;
  for (const CallDetail& c : out.calls) {
    if (c.call == 7) {
      r = &c;
    }
  }
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->outcome, CallOutcome::Completed);
  ASSERT_EQ(r->path.size(), 2u);
  EXPECT_EQ(r->path[1].kind, StepKind::Callback);
  EXPECT_EQ(r->path[1].time, 60 * kS);
  EXPECT_EQ(r->overflows, 0u);
  EXPECT_EQ(r->wait_us, 75 * kS);
  feed.deriver().close_intervals(seq, 3600 * kS, out);
  std::uint64_t overflowed = 0;
  std::uint64_t answered = 0;
  for (const QueueInterval& q : out.queue_intervals) {
    overflowed += q.overflowed_out;
    answered += q.answered;
  }
  EXPECT_EQ(overflowed, 0u);
  EXPECT_EQ(answered, 1u);
}

// Agent 0 answers in sales and transfers to service, where agent 1 answers. The record waits for
// agent 0's after-call work (sales has 30 s), then shows both agents and the path.
TEST(Deriver, TransferPath) {
  Centre c;
  c.ready(0, 1 * kS);
  c.call(7, 0, 10 * kS);
  c.go(EventType::CallAnswered, 12 * kS, 7);
  c.ready(1, 13 * kS);
  c.go(EventType::TransferToQueue, 20 * kS, 7, router::kNone, 1);
  c.go(EventType::CallAnswered, 22 * kS, 7);
  c.go(EventType::CallReleased, 40 * kS, 7);
  EXPECT_EQ(c.cdr(7), nullptr) << "agent 0 is still in after-call work";
  Event done;
  done.type = EventType::WrapUpDone;
  done.time = 45 * kS;
  done.agent = 0;
  done.reason = 9;
  done.device = 555;
  const std::uint64_t closing = c.go(done);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id.seq, closing);
  EXPECT_EQ(r->transfers, 1u);
  EXPECT_EQ(r->first_agent, 0u);
  EXPECT_EQ(r->last_agent, 1u);
  ASSERT_EQ(r->path.size(), 2u);
  EXPECT_EQ(r->path[1].kind, StepKind::TransferToQueue);
  EXPECT_EQ(r->path[1].queue, 1u);
  EXPECT_EQ(r->path[1].agent, 0u);
  EXPECT_EQ(r->talk_us, (8 + 18) * kS);
  EXPECT_EQ(r->wrap_us, 25 * kS);
  // The disposition is the last agent's (service has no after-call work): none.
  EXPECT_EQ(r->wrap, WrapStatus::None);
  c.flush(3600 * kS);
  EXPECT_EQ(c.sum(1).offered, 1u);
  EXPECT_EQ(c.sum(1).answered, 1u);
  EXPECT_EQ(c.sum(0).handled, 1u);
  EXPECT_EQ(c.sum(0).wrap_us, 25 * kS);
}

// A transfer to a named agent keeps the queue leg: the path names the target, the queue counts
// one answer only.
TEST(Deriver, TransferToAgentPath) {
  Centre c;
  c.ready(0, 1 * kS);
  c.call(7, 1, 10 * kS);
  c.go(EventType::CallAnswered, 12 * kS, 7);
  c.ready(1, 13 * kS);
  c.go(EventType::TransferToAgent, 20 * kS, 7, 1);
  c.go(EventType::CallAnswered, 21 * kS, 7);
  c.go(EventType::CallReleased, 30 * kS, 7);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->path.size(), 2u);
  EXPECT_EQ(r->path[1].kind, StepKind::TransferToAgent);
  EXPECT_EQ(r->path[1].agent, 0u);
  EXPECT_EQ(r->path[1].target, 1u);
  EXPECT_EQ(r->offers, 2u);
  c.flush(3600 * kS);
  EXPECT_EQ(c.sum(1).answered, 1u);
  EXPECT_EQ(c.sum(1).handled, 2u);
}

// Two holds, the second still running at release: 10 s + 5 s on hold, the rest talk.
TEST(Deriver, HoldTime) {
  Centre c;
  c.ready(0, 0);
  c.call(7, 1, 1 * kS);
  c.go(EventType::CallAnswered, 2 * kS, 7);
  c.go(EventType::CallHeld, 10 * kS, 7);
  c.go(EventType::CallRetrieved, 20 * kS, 7);
  c.go(EventType::CallHeld, 30 * kS, 7);
  c.go(EventType::CallHeld, 31 * kS, 7);  // refused (already held): no second count
  c.go(EventType::CallReleased, 35 * kS, 7);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->holds, 2u);
  EXPECT_EQ(r->hold_us, 15 * kS);
  EXPECT_EQ(r->talk_us, 18 * kS);
  c.flush(3600 * kS);
  EXPECT_EQ(c.sum(1).hold_us, 15 * kS);
}

// The disposition and note of the agent's after-call work reach the record, which the WrapUpDone
// input closes; without one, the timeout closes it with no disposition.
TEST(Deriver, WrapUpDisposition) {
  Centre c;
  c.ready(0, 0);
  c.call(7, 0, 1 * kS);
  c.go(EventType::CallAnswered, 2 * kS, 7);
  c.go(EventType::CallReleased, 10 * kS, 7);
  EXPECT_EQ(c.cdr(7), nullptr);
  Event done;
  done.type = EventType::WrapUpDone;
  done.time = 14 * kS;
  done.agent = 0;
  done.reason = 23;
  done.device = 987654;
  c.go(done);
  const CallDetail* r = c.cdr(7);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->wrap, WrapStatus::Recorded);
  EXPECT_EQ(r->disposition, 23u);
  EXPECT_EQ(r->note, 987654u);
  EXPECT_EQ(r->wrap_us, 4 * kS);

  c.go(EventType::AgentReady, 15 * kS, 0, 0);
  c.call(8, 0, 20 * kS);
  c.go(EventType::CallAnswered, 21 * kS, 8);
  c.go(EventType::CallReleased, 25 * kS, 8);
  c.go(EventType::Tick, 100 * kS);  // the 30 s wrap-up ran out at 55 s
  const CallDetail* t = c.cdr(8);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->wrap, WrapStatus::Ended);
  EXPECT_EQ(t->disposition, 0u);
  EXPECT_EQ(t->wrap_us, 30 * kS);
}

// One-minute intervals: a ready span from 30 s to 150 s is split 30/60/30 s; a call offered at
// 59.9 s counts offered in the first interval and answered in the second; rows carry the seq of
// the input that crossed the boundary.
TEST(Deriver, IntervalBoundaries) {
  DeriverConfig dc;
  dc.interval_us = 60 * kS;
  Centre c(dc);
  c.go(EventType::AgentSignIn, 30 * kS, 0, 0);
  c.go(EventType::AgentReady, 30 * kS, 0, 0);
  c.go(EventType::AgentSignIn, 59 * kS, 0, 1);  // not ready: no call for it
  c.call(7, 1, 59'900'000);                      // offered to agent 0 ...
  const std::uint64_t crossing = c.go(EventType::CallAnswered, 60'500'000, 7);  // ... answered
  c.go(EventType::CallReleased, 90 * kS, 7);
  c.go(EventType::AgentNotReady, 150 * kS, 0, 0);
  c.flush(180 * kS);
  std::vector<AgentInterval> a0;
  for (const AgentInterval& r : c.out().agent_intervals) {
    if (r.agent == 0) {
      a0.push_back(r);
    }
  }
  ASSERT_EQ(a0.size(), 3u);
  EXPECT_EQ(a0[0].start, 0u);
  EXPECT_EQ(a0[1].start, 60 * kS);
  EXPECT_EQ(a0[2].start, 120 * kS);
  EXPECT_EQ(a0[0].id.seq, crossing);
  const auto ready = static_cast<std::size_t>(AgentState::Ready);
  const auto reserved = static_cast<std::size_t>(AgentState::Reserved);
  const auto busy = static_cast<std::size_t>(AgentState::Busy);
  EXPECT_EQ(a0[0].state_us[ready] + a0[0].state_us[reserved], 30 * kS);
  EXPECT_EQ(a0[0].state_us[reserved], 100'000u);
  EXPECT_EQ(a0[1].state_us[reserved], 500'000u);
  EXPECT_EQ(a0[1].state_us[busy], 29'500'000u);
  EXPECT_EQ(a0[1].state_us[ready], 30 * kS);
  EXPECT_EQ(a0[2].state_us[ready], 30 * kS);
  EXPECT_EQ(a0[1].handled, 1u);
  EXPECT_EQ(a0[1].talk_us, 29'500'000u);
  std::vector<QueueInterval> q1;
  for (const QueueInterval& r : c.out().queue_intervals) {
    if (r.queue == 1) {
      q1.push_back(r);
    }
  }
  ASSERT_EQ(q1.size(), 2u);
  EXPECT_EQ(q1[0].start, 0u);
  EXPECT_EQ(q1[0].offered, 1u);
  EXPECT_EQ(q1[0].answered, 0u);
  EXPECT_EQ(q1[1].start, 60 * kS);
  EXPECT_EQ(q1[1].answered, 1u);
  EXPECT_EQ(q1[1].wait_answered_us, 600'000u);
  // Agent 1 is not ready (sign-in reason 0) from 59 s to the flush at 180 s.
  std::array<Micros, router::kNotReadyReasons> nr{};
  for (const AgentInterval& r : c.out().agent_intervals) {
    if (r.agent == 1) {
      nr[0] += r.not_ready_us[0];
    }
  }
  EXPECT_EQ(nr[0], 121 * kS);
}

// Service level counts a wait of exactly the threshold (20 s) as within; short abandons are those
// under the threshold (5 s), so 5 s exactly is not short.
TEST(Deriver, ThresholdsAreInclusiveAndExclusive) {
  Centre c;
  c.call(7, 1, 0);
  c.ready(0, 19 * kS);  // offered at 19 s
  c.go(EventType::CallAnswered, 20 * kS, 7);
  c.call(8, 1, 30 * kS);  // agent 0 is busy: queued
  c.go(EventType::CallAbandoned, 35 * kS, 8);
  c.call(9, 1, 40 * kS);
  c.go(EventType::CallAbandoned, 44'999'000, 9);
  c.go(EventType::CallReleased, 50 * kS, 7);
  c.go(EventType::AgentNotReady, 51 * kS, 0, 0);
  c.call(10, 1, 60 * kS);  // queued until the agent is ready again
  c.go(EventType::AgentReady, 80 * kS, 0, 0);
  c.go(EventType::CallAnswered, 80'001'000, 10);
  c.flush(3600 * kS);
  const QueueInterval q = c.sum(1);
  EXPECT_EQ(q.answered, 2u);
  EXPECT_EQ(q.answered_in_sl, 1u);  // 20 s in, 20.001 s out
  EXPECT_EQ(q.abandoned, 2u);
  EXPECT_EQ(q.short_abandoned, 1u);  // 4.999 s short, 5 s not
}

// The same log gives the same records, IDs included; an input replayed is refused.
TEST(Deriver, ReplayIsIdentical) {
  auto run = [] {
    Centre c;
    c.ready(0, 0);
    c.call(7, 0, 1 * kS);
    c.go(EventType::CallAnswered, 2 * kS, 7);
    c.go(EventType::CallReleased, 10 * kS, 7);
    c.call(8, 0, 12 * kS);
    c.go(EventType::CallAbandoned, 13 * kS, 8);
    c.go(EventType::Tick, 2000 * kS);
    return c.out();
  };
  const Records a = run();
  const Records b = run();
  EXPECT_EQ(a.calls, b.calls);
  EXPECT_EQ(a.states, b.states);
  EXPECT_EQ(a.queue_intervals, b.queue_intervals);
  EXPECT_EQ(a.agent_intervals, b.agent_intervals);
  EXPECT_EQ(a.calls.size(), 2u);

  Deriver d(small_centre(), {});
  Records out;
  Event tick;
  EXPECT_TRUE(d.apply(5, tick, {}, out));
  EXPECT_FALSE(d.apply(5, tick, {}, out));
  EXPECT_FALSE(d.apply(4, tick, {}, out));
}

}  // namespace
}  // namespace acd::history
