// The deriver's records against references computed without the decision stream, over seeded
// random call streams: the engine's own day statistics (kept by its internal accounting) for the
// interval aggregates and state records, and an observer that sees only the inputs and the
// engine's call views for the call detail records.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "acd/history/feed.hpp"
#include "../router/random_stream.hpp"

namespace acd::history {
namespace {

using router::AgentState;
using router::CallState;
using router::Event;
using router::EventType;

// What the observer expects of one call, from inputs and views alone.
struct Expected {
  router::CallId call = 0;
  Micros arrived = 0;
  bool outbound = false;
  std::uint8_t verification = 0;
  Micros answered = 0;
  AgentIndex first_agent = router::kNone;
  std::uint32_t holds = 0;
  Micros hold_us = 0;
  Micros hold_since = 0;
  bool held = false;
  std::uint32_t transfers = 0;
  bool ended_by_input = false;
  CallOutcome outcome = CallOutcome::Completed;
  Micros ended = 0;
  bool gone = false;
};

class Observer {
 public:
  // Before the engine applies `e`.
  void before(const router::Engine& engine, const Event& e) {
    refused_ = engine.counters().refused_total();
    t_ = std::max(engine.now(), e.time);
    before_ = engine.call(e.call);
  }
  // After: what the input did, judged by the engine's refusal count and views.
  void after(const router::Engine& engine, const Event& e) {
    const bool refused = engine.counters().refused_total() != refused_;
    if (!refused && (e.type == EventType::RouteRequest || e.type == EventType::OutboundToQueue ||
                     e.type == EventType::OutboundToAgentId)) {
      Expected x;
      x.call = e.call;
      x.arrived = t_;
      x.outbound = e.type != EventType::RouteRequest;
      x.verification = x.outbound ? 0 : e.verification;
      live_[e.call] = all_.size();
      all_.push_back(x);
    }
    const auto it = live_.find(e.call);
    if (!refused && it != live_.end() && before_) {
      Expected& x = all_[it->second];
      const std::optional<router::CallView> now = engine.call(e.call);
      switch (e.type) {
        case EventType::CallAnswered:
          if (x.answered == 0) {
            x.answered = t_;
            x.first_agent = before_->agent;
          }
          break;
        case EventType::CallHeld:
          ++x.holds;
          x.held = true;
          x.hold_since = t_;
          break;
        case EventType::CallRetrieved:
          x.held = false;
          x.hold_us += t_ - x.hold_since;
          break;
        case EventType::TransferToQueue:
        case EventType::TransferToAgent:
        case EventType::TransferToAgentId:
          if (!now || now->agent != before_->agent ||
              (now->state != CallState::Active && now->state != CallState::Held)) {
            ++x.transfers;
            if (x.held) {
              x.held = false;
              x.hold_us += t_ - x.hold_since;
            }
          }
          break;
        case EventType::CallReleased:
        case EventType::CallAbandoned:
          x.ended_by_input = true;
          x.ended = t_;
          if (x.held) {
            x.held = false;
            x.hold_us += t_ - x.hold_since;
          }
          switch (before_->state) {
            case CallState::Queued:
              x.outcome = CallOutcome::AbandonedQueued;
              break;
            case CallState::Ringing:
              x.outcome = before_->outbound ? CallOutcome::OutboundNotConnected
                                            : CallOutcome::AbandonedRinging;
              break;
            default:
              x.outcome = CallOutcome::Completed;
              break;
          }
          break;
        default:
          break;
      }
    }
    // Calls that left the engine.
    for (auto l = live_.begin(); l != live_.end();) {
      if (!engine.call(l->first)) {
        all_[l->second].gone = true;
        l = live_.erase(l);
      } else {
        ++l;
      }
    }
  }
  const std::vector<Expected>& all() const { return all_; }

 private:
  std::uint64_t refused_ = 0;
  Micros t_ = 0;
  std::optional<router::CallView> before_;
  std::map<router::CallId, std::size_t> live_;
  std::vector<Expected> all_;
};

void run_seed(std::uint64_t seed, int events) {
  SCOPED_TRACE(seed);
  const router::EngineConfig config = router::testing::random_domain(seed);
  DeriverConfig dc;
  dc.interval_us = 15ull * 60 * 1'000'000;
  Feed feed(config, dc);
  router::testing::StreamGenerator gen(seed, config);
  Observer observer;
  Records out;
  std::uint64_t seq = 0;
  for (int i = 0; i < events; ++i) {
    Event e = gen.next(feed.engine());
    if (e.type == EventType::NewDay) {
      e.type = EventType::Tick;  // the engine's day figures must cover the whole stream
    }
    // Timers due by the input's time fire on a tick of their own first, so that the observer's
    // view before the input is the one the input meets.
    Event tick;
    tick.time = e.time;
    observer.before(feed.engine(), tick);
    ASSERT_TRUE(feed.apply(++seq, tick, out));
    observer.after(feed.engine(), tick);
    observer.before(feed.engine(), e);
    ASSERT_TRUE(feed.apply(++seq, e, out));
    observer.after(feed.engine(), e);
    if (i % 64 == 0) {
      gen.forget_gone(feed.engine());
    }
  }
  // Release every call still in the engine and let after-call work time out, so that every call
  // has its record.
  std::vector<router::CallId> left;
  feed.engine().for_each_call([&](router::CallId id, const router::CallView&) {
    left.push_back(id);
  });
  Micros t = feed.engine().now();
  for (const router::CallId id : left) {
    Event e;
    e.type = EventType::CallReleased;
    e.call = id;
    e.time = t;
    observer.before(feed.engine(), e);
    ASSERT_TRUE(feed.apply(++seq, e, out));
    observer.after(feed.engine(), e);
  }
  Event tick;
  tick.time = t + 3'600'000'000ull;
  observer.before(feed.engine(), tick);
  ASSERT_TRUE(feed.apply(++seq, tick, out));
  observer.after(feed.engine(), tick);
  const Micros flush_at = tick.time + 2 * dc.interval_us;
  ASSERT_TRUE(feed.deriver().close_intervals(seq, flush_at, out));
  EXPECT_EQ(feed.deriver().open_calls(), 0u);

  // IDs are unique.
  std::set<RecordId> ids;
  for (const auto& r : out.calls) {
    EXPECT_TRUE(ids.insert(r.id).second);
  }
  for (const auto& r : out.states) {
    EXPECT_TRUE(ids.insert(r.id).second);
  }
  for (const auto& r : out.queue_intervals) {
    EXPECT_TRUE(ids.insert(r.id).second);
  }
  for (const auto& r : out.agent_intervals) {
    EXPECT_TRUE(ids.insert(r.id).second);
  }

  // Queue aggregates = the engine's own queue statistics.
  const auto& engine = feed.engine();
  for (QueueIndex q = 0; q < engine.queue_count(); ++q) {
    SCOPED_TRACE(q);
    std::uint64_t offered = 0, answered = 0, abandoned = 0, overflowed = 0, in_sl = 0, handled = 0;
    Micros wait = 0, max_wait = 0, handle = 0;
    for (const QueueInterval& r : out.queue_intervals) {
      if (r.queue != q) {
        continue;
      }
      EXPECT_EQ(r.start % dc.interval_us, 0u);
      offered += r.offered;
      answered += r.answered;
      abandoned += r.abandoned;
      overflowed += r.overflowed_out;
      in_sl += r.answered_in_sl;
      handled += r.handled;
      wait += r.wait_answered_us;
      max_wait = std::max(max_wait, r.max_wait_us);
      handle += r.talk_us + r.hold_us;
      EXPECT_LE(r.short_abandoned, r.abandoned);
    }
    const router::QueueStats& s = engine.queue_stats(q);
    EXPECT_EQ(offered, s.offered);
    EXPECT_EQ(answered, s.answered);
    EXPECT_EQ(abandoned, s.abandoned);
    EXPECT_EQ(overflowed, s.overflowed_out);
    EXPECT_EQ(in_sl, s.answered_in_sl);
    EXPECT_EQ(handled, s.handled);
    EXPECT_EQ(wait / 1000, s.wait_answered_ms);
    EXPECT_EQ(max_wait / 1000, s.longest_wait_ms);
    EXPECT_EQ(handle / 1000, s.handle_ms);
  }

  // Agent aggregates and state records = the engine's own agent statistics (state times are
  // closed spans: the records; the intervals hold the open ones too, up to the flush).
  for (AgentIndex a = 0; a < engine.agent_count(); ++a) {
    SCOPED_TRACE(a);
    const router::AgentStats& s = engine.agent_stats(a);
    std::array<Micros, router::kAgentStateCount> spans{};
    std::array<Micros, router::kNotReadyReasons> nr_spans{};
    Micros last_end = 0;
    for (const AgentStateRecord& r : out.states) {
      if (r.agent != a) {
        continue;
      }
      EXPECT_LE(r.start, r.end);
      EXPECT_GE(r.start, last_end);
      last_end = r.end;
      spans[static_cast<std::size_t>(r.state)] += (r.end - r.start);
      if (r.state == AgentState::NotReady) {
        nr_spans[std::min<std::size_t>(r.reason, router::kNotReadyReasons - 1)] += r.end - r.start;
      }
    }
    EXPECT_EQ(spans[static_cast<std::size_t>(AgentState::Ready)] / 1000, s.ready_ms);
    EXPECT_EQ(spans[static_cast<std::size_t>(AgentState::Reserved)] / 1000, s.reserved_ms);
    EXPECT_EQ(spans[static_cast<std::size_t>(AgentState::Busy)] / 1000, s.busy_ms);
    EXPECT_EQ(spans[static_cast<std::size_t>(AgentState::WrapUp)] / 1000, s.wrap_up_ms);
    for (int r = 0; r < router::kNotReadyReasons; ++r) {
      EXPECT_EQ(nr_spans[static_cast<std::size_t>(r)] / 1000, s.not_ready_ms[static_cast<std::size_t>(r)]);
    }
    std::uint64_t handled = 0, no_answer = 0, transfers = 0;
    Micros talk = 0, hold = 0;
    std::array<Micros, router::kAgentStateCount> in_intervals{};
    for (const AgentInterval& r : out.agent_intervals) {
      if (r.agent != a) {
        continue;
      }
      handled += r.handled;
      no_answer += r.no_answer;
      transfers += r.transfers_out;
      talk += r.talk_us;
      hold += r.hold_us;
      for (std::size_t k = 0; k < in_intervals.size(); ++k) {
        in_intervals[k] += r.state_us[k];
      }
    }
    EXPECT_EQ(handled, s.answered);
    EXPECT_EQ(no_answer, s.no_answer);
    EXPECT_EQ(transfers, s.transfers_out);
    EXPECT_EQ(talk / 1000, s.talk_ms);
    EXPECT_EQ(hold / 1000, s.hold_ms);
    // Interval state time = the closed spans + the open span up to the end of the last interval
    // closed.
    const OpenState& open = feed.deriver().agent_state(a);
    std::array<Micros, router::kAgentStateCount> want = spans;
    want[static_cast<std::size_t>(AgentState::LoggedOut)] = 0;
    if (open.state != AgentState::LoggedOut) {
      want[static_cast<std::size_t>(open.state)] +=
          flush_at / dc.interval_us * dc.interval_us - open.since;
    }
    EXPECT_EQ(in_intervals, want);
  }

  // Call detail records = the observer's calls, one each.
  std::map<std::pair<router::CallId, Micros>, const CallDetail*> by_call;
  for (const CallDetail& r : out.calls) {
    EXPECT_TRUE(by_call.emplace(std::make_pair(r.call, r.arrived), &r).second);
  }
  std::size_t matched = 0;
  std::size_t counts[kCallOutcomeCount] = {};
  for (const Expected& x : observer.all()) {
    ASSERT_TRUE(x.gone);
    const auto it = by_call.find({x.call, x.arrived});
    ASSERT_NE(it, by_call.end()) << "no record for call " << x.call;
    const CallDetail& r = *it->second;
    SCOPED_TRACE(x.call);
    ++matched;
    ++counts[static_cast<int>(r.outcome)];
    EXPECT_EQ(r.outbound, x.outbound);
    EXPECT_EQ(r.verification, x.verification);
    EXPECT_EQ(r.answered, x.answered);
    EXPECT_EQ(r.first_agent, x.first_agent);
    EXPECT_EQ(r.holds, x.holds);
    EXPECT_EQ(r.hold_us, x.hold_us);
    EXPECT_EQ(r.transfers, x.transfers);
    if (x.ended_by_input) {
      EXPECT_EQ(r.outcome, x.outcome);
      EXPECT_EQ(r.ended, x.ended);
    } else {
      EXPECT_TRUE(r.outcome == CallOutcome::OverflowedOut || r.outcome == CallOutcome::Rejected ||
                  r.outcome == CallOutcome::OutboundNotConnected)
          << to_string(r.outcome);
    }
    EXPECT_EQ(r.wait_us, (x.answered != 0 ? x.answered : r.ended) - x.arrived);
    EXPECT_GE(r.ended, r.arrived);
    EXPECT_EQ(r.path.empty(), false);
  }
  EXPECT_EQ(matched, out.calls.size());
  // The stream reaches every outcome.
  for (int o = 0; o < kCallOutcomeCount; ++o) {
    EXPECT_GT(counts[o], 0u) << to_string(static_cast<CallOutcome>(o));
  }
}

// Records equal the references over three seeded streams of 60k inputs each.
TEST(DeriverReference, RandomStreams) {
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    run_seed(seed, 60'000);
  }
}

}  // namespace
}  // namespace acd::history
