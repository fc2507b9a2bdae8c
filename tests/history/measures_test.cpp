// The report measures (measures.hpp, docs/reports.md): hand-computed cases through the deriver
// (short abandons, abandons after the service-level threshold, the threshold itself, overflowed
// legs, calls crossing interval boundaries) and, over seeded random call streams, the measures of
// the deriver's intervals against a reference computed from the calls' own times alone.
#include "acd/history/measures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "acd/history/feed.hpp"
#include "../router/random_stream.hpp"

namespace acd::history {
namespace {

using router::AgentState;
using router::CallState;
using router::Event;
using router::EventType;

constexpr Micros kS = 1'000'000;
constexpr Micros kMinute = 60 * kS;

// Two queues of one skill, four agents. Queue 0 overflows to queue 1 after 30 s of waiting;
// neither has after-call work. Service level 20 s, short abandon under 5 s (the default).
router::EngineConfig two_queues() {
  router::EngineConfig c;
  c.skill_count = 1;
  c.max_calls = 64;
  router::QueueConfig q0;
  q0.name = "sales";
  q0.skills = {{0, 1, 0}};
  q0.ring_timeout_ms = 120'000;
  q0.wrap_up_ms = 0;
  q0.sl_threshold_ms = 20'000;
  router::QueueConfig q1 = q0;
  q1.name = "service";
  q0.overflow = {{router::OverflowCondition::WaitAtLeast, router::OverflowAction::ToQueue, 30'000,
                  1}};
  c.queues = {q0, q1};
  for (router::AgentNumber n : {2001u, 2002u, 2003u, 2004u}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {{0, 5, 0}};
    c.agents.push_back(a);
  }
  return c;
}

DeriverConfig one_minute() {
  DeriverConfig dc;
  dc.interval_us = kMinute;
  return dc;
}

// The log as a test writes it, with the records it closed.
class Log {
 public:
  explicit Log(router::EngineConfig config)
      : config_(std::move(config)), feed_(config_, one_minute()) {}

  void go(EventType type, Micros at, router::CallId call = 0, AgentIndex agent = router::kNone,
          QueueIndex queue = router::kNone) {
    Event e;
    e.type = type;
    e.time = at;
    e.call = call;
    e.agent = agent;
    e.queue = queue;
    ASSERT_TRUE(feed_.apply(++seq_, e, out_));
  }
  void ready(AgentIndex a, Micros at) {
    go(EventType::AgentSignIn, at, 0, a);
    go(EventType::AgentReady, at, 0, a);
  }
  void flush(Micros at) { (void)feed_.deriver().close_intervals(seq_, at, out_); }

  // The queue's intervals that start in [from, to), summed.
  QueueInterval queue(QueueIndex q, Micros from = 0, Micros to = ~Micros{0}) const {
    QueueInterval s;
    for (const QueueInterval& r : out_.queue_intervals) {
      if (r.queue == q && r.start >= from && r.start < to) {
        add(s, r);
      }
    }
    return s;
  }
  AgentInterval agent(AgentIndex a, Micros from = 0, Micros to = ~Micros{0}) const {
    AgentInterval s;
    for (const AgentInterval& r : out_.agent_intervals) {
      if (r.agent == a && r.start >= from && r.start < to) {
        add(s, r);
      }
    }
    return s;
  }
  const router::Engine& engine() const { return feed_.engine(); }

 private:
  router::EngineConfig config_;
  Feed feed_;
  Records out_;
  std::uint64_t seq_ = 0;
};

// The formulas alone, on figures worked out by hand.
TEST(Measures, FormulasByHand) {
  QueueInterval q;
  q.offered = 10;
  q.answered = 6;
  q.answered_in_sl = 4;
  q.abandoned = 3;
  q.short_abandoned = 1;
  q.overflowed_out = 1;
  q.handled = 5;
  q.wait_answered_us = 45 * kS;
  q.max_wait_us = 31'500'000;
  q.talk_us = 500 * kS;
  q.hold_us = 40 * kS;
  q.wrap_us = 60 * kS;
  const QueueMeasures m = measures(q);
  EXPECT_DOUBLE_EQ(m.service_level_pct, 50.0);       // 4 / (6 + 3 - 1)
  EXPECT_DOUBLE_EQ(m.abandon_rate_pct, 200.0 / 9);   // (3 - 1) / (10 - 1)
  EXPECT_DOUBLE_EQ(m.asa_s, 7.5);                    // 45 / 6
  EXPECT_DOUBLE_EQ(m.max_wait_s, 31.5);
  EXPECT_DOUBLE_EQ(m.aht_s, 120.0);                  // (500 + 40 + 60) / 5
  EXPECT_EQ(m.offered, 10u);
  EXPECT_EQ(m.overflowed_out, 1u);

  AgentInterval a;
  a.handled = 4;
  a.talk_us = 300 * kS;
  a.hold_us = 20 * kS;
  a.wrap_us = 80 * kS;
  a.state_us[static_cast<std::size_t>(AgentState::LoggedOut)] = 999 * kS;  // never counted
  a.state_us[static_cast<std::size_t>(AgentState::NotReady)] = 100 * kS;
  a.state_us[static_cast<std::size_t>(AgentState::Ready)] = 200 * kS;
  a.state_us[static_cast<std::size_t>(AgentState::Reserved)] = 20 * kS;
  a.state_us[static_cast<std::size_t>(AgentState::Busy)] = 320 * kS;
  a.state_us[static_cast<std::size_t>(AgentState::WrapUp)] = 60 * kS;
  const AgentMeasures am = measures(a);
  EXPECT_DOUBLE_EQ(am.signed_in_s, 700.0);
  EXPECT_DOUBLE_EQ(am.ready_s, 200.0);
  EXPECT_DOUBLE_EQ(am.not_ready_s, 100.0);
  EXPECT_DOUBLE_EQ(am.occupancy_pct, 380.0 / 600 * 100);  // (busy + wrap) / (700 - 100)
  EXPECT_DOUBLE_EQ(am.aht_s, 100.0);                      // (300 + 20 + 80) / 4
  EXPECT_DOUBLE_EQ(am.state_s[static_cast<std::size_t>(AgentState::LoggedOut)], 0.0);
  EXPECT_DOUBLE_EQ(am.state_s[static_cast<std::size_t>(AgentState::Reserved)], 20.0);

  // Nothing to measure against: 0, never a division by zero or a negative rate (an interval in
  // which short abandons of calls offered earlier outnumber the calls offered in it).
  const QueueMeasures none = measures(QueueInterval{});
  EXPECT_EQ(none.service_level_pct, 0.0);
  EXPECT_EQ(none.abandon_rate_pct, 0.0);
  EXPECT_EQ(none.asa_s, 0.0);
  EXPECT_EQ(none.aht_s, 0.0);
  QueueInterval late;
  late.abandoned = 2;
  late.short_abandoned = 1;
  EXPECT_EQ(measures(late).abandon_rate_pct, 0.0);
  EXPECT_EQ(measures(late).service_level_pct, 0.0);
  EXPECT_EQ(measures(AgentInterval{}).occupancy_pct, 0.0);
}

// Service level: a wait of exactly the threshold is within; an abandon after the threshold counts
// against it, so does an abandon of exactly 5 s; a short abandon (4.999 s) counts neither way; a
// leg that overflowed out counts neither way in the queue it left. Abandon rate leaves the short
// abandons out of both sides.
TEST(Measures, ServiceLevelDefinitionsByHand) {
  Log log(two_queues());
  log.go(EventType::RouteRequest, 0, 1, router::kNone, 1);        // queued: nobody signed in
  log.go(EventType::RouteRequest, 1 * kS, 2, router::kNone, 1);   // queued
  log.go(EventType::CallAbandoned, 6 * kS, 2);                    // waited 5 s: not short
  log.go(EventType::RouteRequest, 7 * kS, 3, router::kNone, 1);
  log.go(EventType::CallAbandoned, 11'999'000, 3);                // 4.999 s: short
  log.ready(0, 19 * kS);                                          // call 1 rings
  log.go(EventType::CallAnswered, 20 * kS, 1);                    // waited 20 s: within
  log.go(EventType::RouteRequest, 21 * kS, 4, router::kNone, 1);  // queued: agent 0 busy
  log.go(EventType::CallAbandoned, 46 * kS, 4);                   // 25 s, after the threshold
  log.go(EventType::RouteRequest, 47 * kS, 5, router::kNone, 0);  // sales: overflows at 77 s
  log.go(EventType::Tick, 78 * kS);
  log.go(EventType::CallReleased, 100 * kS, 1);  // agent 0 free: takes call 5 in service
  log.go(EventType::CallAnswered, 101 * kS, 5);  // waited 24 s in service: outside
  log.go(EventType::CallReleased, 131 * kS, 5);
  log.flush(10 * kMinute);

  const QueueMeasures service = measures(log.queue(1));
  EXPECT_EQ(service.offered, 5u);  // calls 1..4, and 5 overflowed in
  EXPECT_EQ(service.answered, 2u);
  EXPECT_EQ(service.abandoned, 3u);
  EXPECT_EQ(service.short_abandoned, 1u);
  // In SL: call 1. Against: call 5 (24 s), abandons of 5 s and 25 s. Not counted: the short one.
  EXPECT_DOUBLE_EQ(service.service_level_pct, 25.0);
  EXPECT_DOUBLE_EQ(service.abandon_rate_pct, 50.0);  // (3 - 1) / (5 - 1)
  EXPECT_DOUBLE_EQ(service.asa_s, 22.0);             // (20 + 24) / 2
  EXPECT_DOUBLE_EQ(service.max_wait_s, 25.0);
  EXPECT_DOUBLE_EQ(service.aht_s, 55.0);             // (80 + 30) / 2
  const QueueMeasures sales = measures(log.queue(0));
  EXPECT_EQ(sales.offered, 1u);
  EXPECT_EQ(sales.overflowed_out, 1u);
  EXPECT_EQ(sales.service_level_pct, 0.0);   // nothing answered or abandoned there
  EXPECT_EQ(sales.abandon_rate_pct, 0.0);
  EXPECT_DOUBLE_EQ(sales.max_wait_s, 30.0);  // the wait that ended by the overflow
}

// A call offered in one interval and answered in the next; a short abandon whose call arrived in
// the interval before; an agent's states split exactly at the boundaries.
TEST(Measures, CrossingIntervalBoundariesByHand) {
  Log log(two_queues());
  log.ready(0, 30 * kS);
  log.go(EventType::RouteRequest, 59'900'000, 7, router::kNone, 1);  // rings agent 0
  log.go(EventType::CallAnswered, 60'500'000, 7);
  log.go(EventType::RouteRequest, 118 * kS, 8, router::kNone, 1);  // queued: agent 0 busy
  log.go(EventType::CallAbandoned, 121 * kS, 8);                   // 3 s: short, next interval
  log.go(EventType::CallReleased, 150 * kS, 7);
  log.go(EventType::AgentNotReady, 170 * kS, 0, 0);
  log.flush(4 * kMinute);

  const QueueMeasures first = measures(log.queue(1, 0, kMinute));
  EXPECT_EQ(first.offered, 1u);
  EXPECT_EQ(first.answered, 0u);
  EXPECT_EQ(first.service_level_pct, 0.0);
  const QueueMeasures second = measures(log.queue(1, kMinute, 2 * kMinute));
  EXPECT_EQ(second.offered, 1u);  // call 8
  EXPECT_EQ(second.answered, 1u);
  EXPECT_DOUBLE_EQ(second.asa_s, 0.6);
  EXPECT_DOUBLE_EQ(second.service_level_pct, 100.0);
  const QueueMeasures third = measures(log.queue(1, 2 * kMinute, 3 * kMinute));
  EXPECT_EQ(third.offered, 0u);
  EXPECT_EQ(third.abandoned, 1u);
  EXPECT_EQ(third.short_abandoned, 1u);
  EXPECT_EQ(third.abandon_rate_pct, 0.0);  // 0 / (0 - 1): no rate, not a negative one
  EXPECT_EQ(third.handled, 1u);
  EXPECT_DOUBLE_EQ(third.aht_s, 89.5);
  const QueueMeasures day = measures(log.queue(1));
  EXPECT_EQ(day.offered, 2u);
  EXPECT_DOUBLE_EQ(day.abandon_rate_pct, 0.0);  // (1 - 1) / (2 - 1)
  EXPECT_DOUBLE_EQ(day.service_level_pct, 100.0);

  // Agent 0: ready 30 s, ringing 0.1 s | ringing 0.5 s, busy 59.5 s | busy 30 s, ready 20 s,
  // not ready 10 s | not ready 60 s.
  const AgentMeasures a0 = measures(log.agent(0, 0, kMinute));
  EXPECT_DOUBLE_EQ(a0.signed_in_s, 30.0);
  EXPECT_DOUBLE_EQ(a0.ready_s, 29.9);
  EXPECT_DOUBLE_EQ(a0.state_s[static_cast<std::size_t>(AgentState::Reserved)], 0.1);
  EXPECT_DOUBLE_EQ(a0.occupancy_pct, 0.0);
  const AgentMeasures a1 = measures(log.agent(0, kMinute, 2 * kMinute));
  EXPECT_DOUBLE_EQ(a1.occupancy_pct, 59.5 / 60 * 100);
  EXPECT_EQ(a1.handled, 1u);
  const AgentMeasures a2 = measures(log.agent(0, 2 * kMinute, 3 * kMinute));
  EXPECT_DOUBLE_EQ(a2.signed_in_s, 60.0);
  EXPECT_DOUBLE_EQ(a2.not_ready_s, 10.0);
  EXPECT_DOUBLE_EQ(a2.occupancy_pct, 30.0 / 50 * 100);
  EXPECT_DOUBLE_EQ(a2.talk_s, 89.5);  // booked when the call ended
  const AgentMeasures a3 = measures(log.agent(0, 3 * kMinute, 4 * kMinute));
  EXPECT_DOUBLE_EQ(a3.not_ready_s, 60.0);
  EXPECT_EQ(a3.occupancy_pct, 0.0);
}

// ---- The reference: a random call stream, and the measures worked out from its calls alone ----

// What the stream did to one call, in its own times.
struct Fact {
  QueueIndex queue = 0;
  Micros arrived = 0;
  std::optional<Micros> rang;  // offered to `agent`
  AgentIndex agent = router::kNone;
  std::optional<Micros> answered;
  std::optional<Micros> abandoned;
  std::optional<Micros> released;
  Micros hold_us = 0;
};

// A span of one agent's state.
struct Span {
  AgentIndex agent;
  AgentState state;
  Micros start;
  Micros end;
};

struct Reference {
  std::vector<Fact> calls;
  std::vector<Span> spans;
};

Micros overlap(Micros a0, Micros a1, Micros b0, Micros b1) {
  const Micros s = std::max(a0, b0);
  const Micros e = std::min(a1, b1);
  return e > s ? e - s : 0;
}

bool in(Micros t, Micros from, Micros to) { return t >= from && t < to; }

// The queue measures of docs/reports.md straight from the calls: every leg ends in the queue it
// began in (the stream has no overflow or transfer), each event counts where it happened.
QueueMeasures expected_queue(const Reference& r, QueueIndex q, Micros from, Micros to,
                             Micros sl_us, Micros short_us) {
  double offered = 0, answered = 0, in_sl = 0, abandoned = 0, short_ab = 0, handled = 0;
  double wait_sum = 0, handle_sum = 0;
  Micros max_wait = 0;
  for (const Fact& f : r.calls) {
    if (f.queue != q) {
      continue;
    }
    offered += in(f.arrived, from, to);
    if (f.answered && in(*f.answered, from, to)) {
      const Micros wait = *f.answered - f.arrived;
      answered += 1;
      in_sl += wait <= sl_us + 999 ? 1 : 0;  // whole milliseconds at or below the threshold
      wait_sum += static_cast<double>(wait);
      max_wait = std::max(max_wait, wait);
    }
    if (f.abandoned && in(*f.abandoned, from, to)) {
      const Micros wait = *f.abandoned - f.arrived;
      abandoned += 1;
      short_ab += wait < short_us ? 1 : 0;
      max_wait = std::max(max_wait, wait);
    }
    if (f.released && in(*f.released, from, to)) {
      handled += 1;
      handle_sum += static_cast<double>(*f.released - *f.answered);  // talk + hold, no wrap-up
    }
  }
  QueueMeasures m;
  m.offered = static_cast<std::uint64_t>(offered);
  m.answered = static_cast<std::uint64_t>(answered);
  m.abandoned = static_cast<std::uint64_t>(abandoned);
  m.short_abandoned = static_cast<std::uint64_t>(short_ab);
  m.handled = static_cast<std::uint64_t>(handled);
  const double sl_base = answered + abandoned - short_ab;
  m.service_level_pct = sl_base > 0 ? 100 * in_sl / sl_base : 0;
  m.abandon_rate_pct =
      offered - short_ab > 0 ? 100 * (abandoned - short_ab) / (offered - short_ab) : 0;
  m.asa_s = answered > 0 ? wait_sum / answered / 1e6 : 0;
  m.max_wait_s = static_cast<double>(max_wait) / 1e6;
  m.aht_s = handled > 0 ? handle_sum / handled / 1e6 : 0;
  return m;
}

AgentMeasures expected_agent(const Reference& r, AgentIndex a, Micros from, Micros to) {
  AgentMeasures m;
  std::array<Micros, router::kAgentStateCount> us{};
  for (const Span& s : r.spans) {
    if (s.agent == a) {
      us[static_cast<std::size_t>(s.state)] += overlap(s.start, s.end, from, to);
    }
  }
  double talk = 0, hold = 0;
  for (const Fact& f : r.calls) {
    if (f.agent != a) {
      continue;
    }
    m.handled += f.answered && in(*f.answered, from, to) ? 1 : 0;
    if (f.released && in(*f.released, from, to)) {
      hold += static_cast<double>(f.hold_us);
      talk += static_cast<double>(*f.released - *f.answered - f.hold_us);
    }
  }
  auto st = [&](AgentState x) {
    return static_cast<double>(us[static_cast<std::size_t>(x)]) / 1e6;
  };
  m.talk_s = talk / 1e6;
  m.hold_s = hold / 1e6;
  m.ready_s = st(AgentState::Ready);
  m.not_ready_s = st(AgentState::NotReady);
  m.signed_in_s = st(AgentState::NotReady) + st(AgentState::Ready) + st(AgentState::Reserved) +
                  st(AgentState::Busy) + st(AgentState::WrapUp);
  const double available = m.signed_in_s - m.not_ready_s;
  m.occupancy_pct = available > 0 ? 100 * st(AgentState::Busy) / available : 0;
  m.aht_s = m.handled > 0 ? (talk + hold) / 1e6 / static_cast<double>(m.handled) : 0;
  return m;
}

// Plays a random day's morning on queue 1 and queue 1 only (no overflow): arrivals, callers who
// give up after a random patience (some within 5 s), agents who answer after a random ring, hold,
// release, and agents who take a not-ready break when idle. The stream decides every time; the
// engine only decides which agent rings and when, which the test reads off its call views.
Reference play(Log& log, std::uint64_t seed, Micros end) {
  router::testing::Dice dice(seed);
  Reference ref;
  enum class Do { Arrive, GiveUp, Answer, Hold, Retrieve, Release, Break, Back };
  std::multimap<Micros, std::pair<Do, std::size_t>> plan;  // what, which call or agent
  constexpr AgentIndex kAgents = 4;
  std::array<AgentState, kAgents> state{};
  std::array<Micros, kAgents> since{};
  auto enter = [&](AgentIndex a, AgentState s, Micros t) {
    if (state[a] != AgentState::LoggedOut && t > since[a]) {
      ref.spans.push_back({a, state[a], since[a], t});
    }
    state[a] = s;
    since[a] = t;
  };
  for (AgentIndex a = 0; a < kAgents; ++a) {
    log.ready(a, 0);
    enter(a, AgentState::Ready, 0);
  }
  Micros t = 0;
  for (std::size_t i = 0;; ++i) {
    t += 1 + dice.below(25 * kS);  // microsecond times, not rounded
    if (t >= end - 20 * kMinute) {
      break;
    }
    plan.emplace(t, std::pair{Do::Arrive, i});
  }
  for (AgentIndex a = 0; a < kAgents; ++a) {
    plan.emplace(dice.below(end / 2), std::pair{Do::Break, a});
  }
  std::vector<std::size_t> waiting;  // calls not yet offered or answered
  while (!plan.empty()) {
    const auto [at, what] = *plan.begin();
    plan.erase(plan.begin());
    const auto [action, i] = what;
    Fact* f = i < ref.calls.size() ? &ref.calls[i] : nullptr;
    switch (action) {
      case Do::Arrive: {
        Fact fact;
        fact.queue = 1;
        fact.arrived = at;
        ref.calls.push_back(fact);
        log.go(EventType::RouteRequest, at, 100 + i, router::kNone, 1);
        const Micros patience = dice.chance(20) ? dice.below(6 * kS) : dice.below(90 * kS);
        plan.emplace(at + patience, std::pair{Do::GiveUp, i});
        waiting.push_back(i);
        break;
      }
      case Do::GiveUp:
        if (!f->answered) {
          f->abandoned = at;
          log.go(EventType::CallAbandoned, at, 100 + i);
          if (f->rang) {
            enter(f->agent, AgentState::Ready, at);
          }
          std::erase(waiting, i);
        }
        break;
      case Do::Answer:
        if (!f->abandoned) {
          f->answered = at;
          log.go(EventType::CallAnswered, at, 100 + i);
          enter(f->agent, AgentState::Busy, at);
          const Micros talk = 1 + dice.below(200 * kS);
          if (dice.chance(30)) {
            const Micros h0 = at + dice.below(talk);
            const Micros h1 = h0 + 1 + dice.below(30 * kS);
            plan.emplace(h0, std::pair{Do::Hold, i});
            plan.emplace(h1, std::pair{Do::Retrieve, i});
            plan.emplace(h1 + talk, std::pair{Do::Release, i});
          } else {
            plan.emplace(at + talk, std::pair{Do::Release, i});
          }
        }
        break;
      case Do::Hold:
        log.go(EventType::CallHeld, at, 100 + i);
        f->hold_us -= at;
        break;
      case Do::Retrieve:
        log.go(EventType::CallRetrieved, at, 100 + i);
        f->hold_us += at;
        break;
      case Do::Release:
        f->released = at;
        log.go(EventType::CallReleased, at, 100 + i);
        enter(f->agent, AgentState::Ready, at);
        break;
      case Do::Break:  // an idle agent goes not ready for a while; a busy one tries later
        if (state[i] == AgentState::Ready) {
          log.go(EventType::AgentNotReady, at, 0, static_cast<AgentIndex>(i));
          enter(static_cast<AgentIndex>(i), AgentState::NotReady, at);
          plan.emplace(at + 1 + dice.below(15 * kMinute), std::pair{Do::Back, i});
        } else {
          plan.emplace(at + 1 + dice.below(kMinute), std::pair{Do::Break, i});
        }
        break;
      case Do::Back:
        log.go(EventType::AgentReady, at, 0, static_cast<AgentIndex>(i));
        enter(static_cast<AgentIndex>(i), AgentState::Ready, at);
        break;
    }
    // Which waiting calls did the engine offer, and to whom?
    for (std::size_t k = 0; k < waiting.size();) {
      Fact& w = ref.calls[waiting[k]];
      const std::optional<router::CallView> v = log.engine().call(100 + waiting[k]);
      if (v && v->state == CallState::Ringing) {
        w.rang = at;
        w.agent = v->agent;
        enter(v->agent, AgentState::Reserved, at);
        plan.emplace(at + dice.below(15 * kS), std::pair{Do::Answer, waiting[k]});
        waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(k));
      } else {
        ++k;
      }
    }
  }
  for (AgentIndex a = 0; a < kAgents; ++a) {
    enter(a, AgentState::LoggedOut, end);
  }
  log.flush(end);
  return ref;
}

void expect_same(const QueueMeasures& got, const QueueMeasures& want, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(got.offered, want.offered);
  EXPECT_EQ(got.answered, want.answered);
  EXPECT_EQ(got.abandoned, want.abandoned);
  EXPECT_EQ(got.short_abandoned, want.short_abandoned);
  EXPECT_EQ(got.handled, want.handled);
  EXPECT_NEAR(got.service_level_pct, want.service_level_pct, 1e-9);
  EXPECT_NEAR(got.abandon_rate_pct, want.abandon_rate_pct, 1e-9);
  EXPECT_NEAR(got.asa_s, want.asa_s, 1e-9);
  EXPECT_NEAR(got.max_wait_s, want.max_wait_s, 1e-9);
  EXPECT_NEAR(got.aht_s, want.aht_s, 1e-9);
}

void expect_same(const AgentMeasures& got, const AgentMeasures& want, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(got.handled, want.handled);
  EXPECT_NEAR(got.talk_s, want.talk_s, 1e-6);
  EXPECT_NEAR(got.hold_s, want.hold_s, 1e-6);
  EXPECT_NEAR(got.signed_in_s, want.signed_in_s, 1e-6);
  EXPECT_NEAR(got.ready_s, want.ready_s, 1e-6);
  EXPECT_NEAR(got.not_ready_s, want.not_ready_s, 1e-6);
  EXPECT_NEAR(got.occupancy_pct, want.occupancy_pct, 1e-6);
  EXPECT_NEAR(got.aht_s, want.aht_s, 1e-6);
}

// Over seeded random streams: every interval, every hour and the whole period, for the queue and
// each agent, the measures of the deriver's records equal the reference's.
TEST(Measures, EqualAReferenceFromRandomCallStreams) {
  constexpr Micros kEnd = 3 * 60 * kMinute;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Log log(two_queues());
    const Reference ref = play(log, seed, kEnd);
    ASSERT_GT(ref.calls.size(), 300u);
    std::vector<std::pair<Micros, Micros>> periods = {{0, kEnd}};
    for (Micros h = 0; h < kEnd; h += 60 * kMinute) {
      periods.emplace_back(h, h + 60 * kMinute);
    }
    for (Micros m = 0; m < kEnd; m += kMinute) {
      periods.emplace_back(m, m + kMinute);
    }
    std::uint64_t abandons = 0, shorts = 0, answered = 0;
    for (const auto& [from, to] : periods) {
      const std::string where = std::to_string(from / kS) + "..." + std::to_string(to / kS) + " s";
      const QueueMeasures want = expected_queue(ref, 1, from, to, 20 * kS, 5 * kS);
      expect_same(measures(log.queue(1, from, to)), want, "service " + where);
      for (AgentIndex a = 0; a < 4; ++a) {
        expect_same(measures(log.agent(a, from, to)), expected_agent(ref, a, from, to),
                    "agent " + std::to_string(a) + " " + where);
      }
      if (from == 0 && to == kEnd) {
        abandons = want.abandoned;
        shorts = want.short_abandoned;
        answered = want.answered;
      }
    }
    // The stream exercised what it is meant to.
    EXPECT_GT(answered, 100u);
    EXPECT_GT(shorts, 5u);
    EXPECT_GT(abandons, shorts + 5);
    if (HasFailure()) {
      return;
    }
  }
}

}  // namespace
}  // namespace acd::history
