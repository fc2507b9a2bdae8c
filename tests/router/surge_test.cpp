// Surge mode and emergency diversion in the engine: entry within one evaluation, the plan's steps
// in order, reserved capacity untouched, exit without oscillation, operator forces, services down
// and up, and determinism (a replay and a restored snapshot decide the same).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <random>
#include <vector>

#include "engine_fixture.hpp"

namespace acd::router::testing {
namespace {

constexpr QueueIndex kCards = 0;
constexpr QueueIndex kLoans = 1;
constexpr QueueIndex kPool = 2;
constexpr QueueIndex kFraud = 3;

// cards (skill 0, level 3) surges; loans (skill 1) lends; pool (skill 2) takes overflow; fraud
// (skill 3) is reserved. Agents: 0 cards; 1 loans; 2 loans with cards at 2 (the borrowing floor);
// 3 fraud with cards at 2 (its queue is reserved); 4 loans with cards at 2, reserved; 5 pool.
// The plan, first step that applies wins: borrow from loans, announcement from an EWT of 240 s,
// callback from 120 s, the pool from 60 s.
EngineConfig surge_config() {
  EngineConfig c;
  c.skill_count = 4;
  c.queues.push_back(make_queue("cards", {{0, 3, 0}}));
  c.queues.push_back(make_queue("loans", {{1, 1, 0}}));
  c.queues.push_back(make_queue("pool", {{2, 1, 0}}));
  c.queues.push_back(make_queue("fraud", {{3, 1, 0}}));
  c.queues[kFraud].reserved = true;
  QueueConfig& cards = c.queues[kCards];
  cards.expected_aht_ms = 60'000;
  cards.surge.enter.queue_length = 3;
  cards.surge.exit.queue_length = 1;
  cards.surge.min_dwell_ms = 10'000;
  SurgeAction borrow;
  borrow.borrow = true;
  borrow.target = kLoans;
  borrow.min_level = 2;
  SurgeAction to_pool;
  to_pool.action = OverflowAction::ToQueue;
  to_pool.target = kPool;
  to_pool.min_ewt_ms = 60'000;
  SurgeAction callback;
  callback.action = OverflowAction::CallbackKeepPlace;
  callback.min_ewt_ms = 120'000;
  SurgeAction announce;
  announce.action = OverflowAction::Announcement;
  announce.target = 7001;
  announce.min_ewt_ms = 240'000;
  cards.surge.actions = {borrow, announce, callback, to_pool};
  c.agents.push_back(make_agent(100, {{0, 5, 0}}));
  c.agents.push_back(make_agent(101, {{1, 5, 0}}));
  c.agents.push_back(make_agent(102, {{1, 5, 0}, {0, 2, 0}}));
  c.agents.push_back(make_agent(103, {{3, 5, 0}, {0, 2, 0}}));
  c.agents.push_back(make_agent(104, {{1, 5, 0}, {0, 2, 0}}));
  c.agents.back().reserved = true;
  c.agents.push_back(make_agent(105, {{2, 5, 0}}));
  c.services.push_back(ServiceConfig{"core", OverflowAction::Announcement, 7100});
  c.queues[kCards].services = {0};
  c.surge_eval_ms = 1000;
  return c;
}

std::vector<Decision> of_type(const std::vector<Decision>& ds, DecisionType t) {
  std::vector<Decision> out;
  std::copy_if(ds.begin(), ds.end(), std::back_inserter(out),
               [t](const Decision& d) { return d.type == t; });
  return out;
}

Event surge_control(QueueIndex q, SurgeForce f) {
  Event e;
  e.type = EventType::SurgeControl;
  e.queue = q;
  e.reason = static_cast<std::uint16_t>(f);
  return e;
}

Event service_control(std::uint64_t s, bool down) {
  Event e;
  e.type = EventType::ServiceControl;
  e.number = s;
  e.reason = down ? 1 : 0;
  return e;
}

// Three calls waiting (nobody ready) put cards in surge at the next evaluation, within a second.
TEST(Surge, EntersWithinOneEvaluation) {
  Harness h(surge_config());
  h.agent_event(EventType::AgentSignIn, 0, 0);  // staffed, not ready: EWT known
  h.route(1, kCards, 100);
  h.route(2, kCards, 200);
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  h.route(3, kCards, 300);  // the third waiting call: the level is reached at 300 ms
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  const auto changed = of_type(h.tick(1000), DecisionType::SurgeChanged);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].queue, kCards);
  EXPECT_EQ(changed[0].number, 1u);
  EXPECT_EQ(changed[0].reason, kSurgeByLength);
  EXPECT_EQ(changed[0].cause, EventType::Tick);
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  EXPECT_EQ(h.engine().surge_counters(kCards).entries, 1u);
}

// In surge, a call no cards agent takes goes through the plan in order: a borrowed loans agent
// with cards at the floor; else by its EWT the announcement (>= 240 s), a callback that keeps its
// place (>= 120 s), the pool (>= 60 s). Reserved agents and the reserved queue are never used.
TEST(Surge, StepsInOrderAndReservedCapacityUntouched) {
  Harness h(surge_config());
  h.agent_event(EventType::AgentSignIn, 0, 0);  // cards, not ready: EWT = position × 60 s
  h.sign_in_ready(1, 0);                        // loans, no cards skill
  h.sign_in_ready(2, 0);                        // loans, cards at 2: borrowable
  h.sign_in_ready(3, 0);                        // fraud queue member: not a lender
  h.sign_in_ready(4, 0);                        // loans, cards at 5, but reserved
  h.send(surge_control(kCards, SurgeForce::On), 10);
  ASSERT_TRUE(h.engine().queue(kCards).surge);

  // 1: borrow agent 2 (not 1: below the floor; not 4: reserved).
  auto ds = h.route(1, kCards, 20);
  ASSERT_EQ(ds.front().type, DecisionType::Offer);
  EXPECT_EQ(ds.front().agent, 2u);
  EXPECT_EQ(h.engine().surge_counters(kCards).borrowed, 1u);

  // 2: nobody to borrow; EWT for position 1 is 60 s: to the pool.
  ds = h.route(2, kCards, 30);
  ASSERT_EQ(ds.front().type, DecisionType::Overflowed);
  EXPECT_EQ(ds.front().action, OverflowAction::ToQueue);
  EXPECT_EQ(ds.front().target, kPool);

  // Two calls wait in cards while surge is off; then on again: EWT grows with the queue.
  h.send(surge_control(kCards, SurgeForce::Off), 40);
  h.route(3, kCards, 50);
  h.route(4, kCards, 60);
  h.send(surge_control(kCards, SurgeForce::On), 70);
  // Position 3: EWT 180 s >= 120 s: a callback that keeps its place.
  ds = h.route(5, kCards, 80);
  ASSERT_EQ(ds.front().type, DecisionType::Overflowed);
  EXPECT_EQ(ds.front().action, OverflowAction::CallbackKeepPlace);
  EXPECT_EQ(ds.front().target, kCards);
  EXPECT_EQ(ds.front().position, 3u);
  EXPECT_EQ(h.engine().call(5)->state, CallState::Queued);
  ds = h.route(6, kCards, 90);  // position 4: EWT 240 s: the announcement
  EXPECT_EQ(ds.front().action, OverflowAction::Announcement);
  EXPECT_EQ(ds.front().target, 7001u);
  EXPECT_FALSE(h.engine().call(6).has_value());
  const SurgeCounters sc = h.engine().surge_counters(kCards);
  EXPECT_EQ(sc.callbacks, 1u);
  EXPECT_EQ(sc.surge_overflows, 2u);

  // Reserved capacity: agents 3 and 4 stayed ready, untouched, through all of it.
  EXPECT_EQ(h.engine().agent(3).state, AgentState::Ready);
  EXPECT_EQ(h.engine().agent(4).state, AgentState::Ready);
  EXPECT_EQ(h.engine().agent_stats(3).offered, 0u);
  EXPECT_EQ(h.engine().agent_stats(4).offered, 0u);

  // The callback keeps its place: when the cards agent is ready, call 3 (first) is offered, and
  // call 5 later in turn, no wait rule having touched it.
  const auto offers = of_type(h.agent_event(EventType::AgentReady, 0, 100), DecisionType::Offer);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers.front().call, 3u);
}

// An agent of a lender queue that becomes free takes a waiting call of a surging queue when its
// own queue has none; a reserved one never does.
TEST(Surge, FreeLenderAgentIsBorrowed) {
  Harness h(surge_config());
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.route(1, kCards, 10);
  h.route(2, kCards, 20);
  h.route(3, kCards, 30);
  h.tick(1000);  // surge on
  ASSERT_TRUE(h.engine().queue(kCards).surge);
  h.agent_event(EventType::AgentSignIn, 4, 1100);
  // reserved: stays ready
  EXPECT_TRUE(of_type(h.agent_event(EventType::AgentReady, 4, 1100), DecisionType::Offer).empty());
  h.agent_event(EventType::AgentSignIn, 2, 1200);
  const auto offers = of_type(h.agent_event(EventType::AgentReady, 2, 1200), DecisionType::Offer);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].call, 1u);
  EXPECT_EQ(offers[0].agent, 2u);
}

// Hysteresis and dwell: a queue length moving between the exit and enter levels keeps the queue
// in surge; it leaves only once at or below the exit level and after the minimum dwell, and does
// not re-enter until the enter level is reached again.
TEST(Surge, ExitsWithoutOscillation) {
  EngineConfig c = surge_config();
  c.queues[kCards].surge.actions.clear();  // thresholds only: calls just wait
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  for (CallId id = 1; id <= 3; ++id) {
    h.route(id, kCards, id * 10);
  }
  h.tick(1000);
  ASSERT_TRUE(h.engine().queue(kCards).surge);
  int changes = 0;
  std::uint64_t t = 1000;
  // Length goes 3 -> 2 -> 3 -> 2 ... for 30 s: between exit (1) and enter (3).
  CallId next = 4;
  for (int i = 0; i < 30; ++i) {
    t += 1000;
    const std::vector<Decision> ds = i % 2 == 0 ? h.call_event(EventType::CallAbandoned, next - 3, t)
                                                : h.route(next++, kCards, t);
    changes += static_cast<int>(of_type(ds, DecisionType::SurgeChanged).size());
  }
  EXPECT_EQ(changes, 0);
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  // Down to one call: at or below exit, dwell long passed: leaves at the next evaluation.
  std::vector<CallId> waiting;
  h.engine().for_each_call([&](CallId id, const CallView& v) {
    if (v.state == CallState::Queued) {
      waiting.push_back(id);
    }
  });
  for (std::size_t i = 1; i < waiting.size(); ++i) {
    h.call_event(EventType::CallAbandoned, waiting[i], t);
  }
  ASSERT_EQ(h.engine().queue(kCards).waiting, 1u);
  const auto left = of_type(h.tick(t + 1000), DecisionType::SurgeChanged);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].number, 0u);
  // Two waiting again (below enter): no re-entry.
  h.route(900, kCards, t + 1100);
  EXPECT_TRUE(of_type(h.tick(t + 5000), DecisionType::SurgeChanged).empty());
  EXPECT_FALSE(h.engine().queue(kCards).surge);
}

// Counts the entries into and exits from surge among decisions.
struct SurgeChanges {
  int entries = 0;
  int exits = 0;
  void operator()(const std::vector<Decision>& ds) {
    for (const Decision& d : of_type(ds, DecisionType::SurgeChanged)) {
      ++(d.number != 0 ? entries : exits);
    }
  }
};

// A sawtooth queue depth (1 2 3 2 1 0 waiting, one step a second, for a minute) reaches the enter
// level (3) every 6 s and stays at or below the exit level (1) for three evaluations in a row
// (2 s) each time. With an exit hold of 3 s and no dwell, the queue enters surge once and stays;
// when the queue stays empty it leaves once, 3 s after the exit levels began to hold.
TEST(Surge, SawtoothQueueDepthEntersOnce) {
  EngineConfig c = surge_config();
  QueueConfig& cards = c.queues[kCards];
  cards.surge.actions.clear();   // thresholds only: calls just wait
  cards.surge.min_dwell_ms = 0;  // only the exit hold keeps the queue in surge
  cards.surge.exit_hold_ms = 3'000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  SurgeChanges changes;
  std::vector<CallId> waiting;  // oldest first
  CallId next = 1;
  constexpr std::size_t kSaw[] = {1, 2, 3, 2, 1, 0};
  for (std::uint64_t s = 1; s <= 60; ++s) {
    const std::uint64_t t = s * 1000 - 500;  // the depth is set between two evaluations
    const std::size_t depth = kSaw[(s - 1) % 6];
    while (waiting.size() < depth) {
      changes(h.route(next, kCards, t));
      waiting.push_back(next++);
    }
    while (waiting.size() > depth) {
      changes(h.call_event(EventType::CallAbandoned, waiting.front(), t));
      waiting.erase(waiting.begin());
    }
    changes(h.tick(s * 1000));
    ASSERT_EQ(h.engine().queue(kCards).waiting, depth);
  }
  EXPECT_EQ(changes.entries, 1);
  EXPECT_EQ(changes.exits, 0);
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  // The queue stays empty: at or below the exit level since 59 s (one waiting), so it leaves at
  // the evaluation of 62 s, and only then.
  changes(h.tick(61'000));
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  changes(h.tick(62'000));
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  for (std::uint64_t t = 63'000; t <= 80'000; t += 1000) {
    changes(h.tick(t));
  }
  EXPECT_EQ(changes.entries, 1);
  EXPECT_EQ(changes.exits, 1);
  EXPECT_EQ(h.engine().surge_counters(kCards).entries, 1u);
}

// The plan's step empties the queue (every call no agent takes goes to the IVR, the waiting ones
// hang up after a second): the queue length falls to 0 while the surge goes on. The calls the
// step took since the previous evaluation count as waiting for the exit test, so 20 s of calls
// at 4 a second enter surge once, and the queue leaves once the calls stop.
TEST(Surge, StepThatEmptiesTheQueueDoesNotEndTheSurge) {
  EngineConfig c = surge_config();
  QueueConfig& cards = c.queues[kCards];
  SurgeAction ivr;
  ivr.action = OverflowAction::ToIvr;
  ivr.target = 7000;
  cards.surge.actions = {ivr};
  cards.surge.min_dwell_ms = 2'000;
  cards.surge.exit_hold_ms = 0;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);  // staffed, never ready
  SurgeChanges changes;
  std::vector<std::pair<CallId, std::uint64_t>> queued;  // call, when it queued
  std::uint64_t stopped = 0;
  for (CallId id = 1; id <= 80; ++id) {
    const std::uint64_t t = id * 250;
    while (!queued.empty() && queued.front().second + 1000 <= t) {
      if (const auto call = h.engine().call(queued.front().first);
          call && call->state == CallState::Queued) {
        changes(h.call_event(EventType::CallAbandoned, queued.front().first, t));
      }
      queued.erase(queued.begin());
    }
    const auto& ds = h.route(id, kCards, t);
    if (of_type(ds, DecisionType::Queued).size() == 1) {
      queued.emplace_back(id, t);
    }
    changes(ds);
    stopped = t;
  }
  EXPECT_EQ(changes.entries, 1);
  EXPECT_EQ(changes.exits, 0);
  EXPECT_GT(h.engine().surge_counters(kCards).surge_overflows, 40u);  // the step took calls
  // The calls stop; the last waiting ones hang up: the queue leaves within two evaluations.
  for (const auto& [id, when] : queued) {
    changes(h.call_event(EventType::CallAbandoned, id, when + 1000));
  }
  for (std::uint64_t t = stopped + 1000; t <= stopped + 10'000; t += 1000) {
    changes(h.tick(t));
    if (changes.exits == 1) {
      EXPECT_LE(t, stopped + 3'000);
      break;
    }
  }
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  EXPECT_EQ(changes.entries, 1);
  EXPECT_EQ(changes.exits, 1);
}

// The minimum dwell holds a queue in surge even when its metrics fall below the exit level.
TEST(Surge, MinimumDwellHoldsSurge) {
  EngineConfig c = surge_config();
  c.queues[kCards].surge.actions.clear();
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  for (CallId id = 1; id <= 3; ++id) {
    h.route(id, kCards, id);
  }
  h.tick(1000);  // in surge since 1 s; dwell 10 s
  for (CallId id = 1; id <= 3; ++id) {
    h.call_event(EventType::CallAbandoned, id, 1500);
  }
  h.tick(10'000);
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  EXPECT_EQ(of_type(h.tick(11'000), DecisionType::SurgeChanged).size(), 1u);
  EXPECT_FALSE(h.engine().queue(kCards).surge);
}

// The exit hold is visible in the queue's view: it starts at the first evaluation that finds every
// exit level met, stops (and restarts later) when one is exceeded, and is over once the queue
// has left. The plan's hold and dwell ride along for the remainders acdctl and the metrics show.
TEST(Surge, ExitHoldIsVisible) {
  EngineConfig c = surge_config();
  c.queues[kCards].surge.actions.clear();
  c.queues[kCards].surge.exit_hold_ms = 3000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  for (CallId id = 1; id <= 3; ++id) {
    h.route(id, kCards, id);
  }
  h.tick(1000);  // in surge since 1 s; dwell 10 s, hold 3 s
  ASSERT_TRUE(h.engine().queue(kCards).surge);
  EXPECT_FALSE(h.engine().queue(kCards).surge_exit_holding);
  EXPECT_EQ(h.engine().queue(kCards).surge_exit_hold_ms, 3000u);
  EXPECT_EQ(h.engine().queue(kCards).surge_min_dwell_ms, 10'000u);
  for (CallId id = 1; id <= 3; ++id) {
    h.call_event(EventType::CallAbandoned, id, 1500);
  }
  h.tick(2000);
  EXPECT_TRUE(h.engine().queue(kCards).surge_exit_holding);
  EXPECT_EQ(h.engine().queue(kCards).surge_exit_since, 2'000'000);
  h.tick(3000);  // still holding: the start stays where it was
  EXPECT_EQ(h.engine().queue(kCards).surge_exit_since, 2'000'000);
  for (CallId id = 4; id <= 5; ++id) {  // two waiting: above the exit level (1)
    h.route(id, kCards, 3500);
  }
  h.tick(4000);
  EXPECT_FALSE(h.engine().queue(kCards).surge_exit_holding);
  EXPECT_EQ(h.engine().queue(kCards).surge_exit_since, 0);
  for (CallId id = 4; id <= 5; ++id) {
    h.call_event(EventType::CallAbandoned, id, 4500);
  }
  h.tick(5000);
  EXPECT_TRUE(h.engine().queue(kCards).surge_exit_holding);
  EXPECT_EQ(h.engine().queue(kCards).surge_exit_since, 5'000'000);
  h.tick(10'000);  // hold over (3 s), dwell not (10 s from 1 s)
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  EXPECT_EQ(of_type(h.tick(11'000), DecisionType::SurgeChanged).size(), 1u);
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  EXPECT_FALSE(h.engine().queue(kCards).surge_exit_holding);
}

// Operator forces: per queue on and off override the thresholds until auto; the site-wide force
// applies to every queue with a plan; a queue without a plan, an unknown queue or force is refused.
TEST(Surge, OperatorForces) {
  Harness h(surge_config());
  auto changed = of_type(h.send(surge_control(kNone, SurgeForce::On), 0), DecisionType::SurgeChanged);
  ASSERT_EQ(changed.size(), 1u);  // only cards has a plan
  EXPECT_EQ(changed[0].reason, kSurgeByForce);
  EXPECT_EQ(changed[0].cause, EventType::SurgeControl);
  EXPECT_EQ(h.engine().site_surge_force(), SurgeForce::On);
  h.send(surge_control(kCards, SurgeForce::Off), 10);  // the queue's force wins over the site's
  EXPECT_FALSE(h.engine().queue(kCards).surge);
  h.send(surge_control(kCards, SurgeForce::Auto), 20);  // back to the site's force
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  h.send(surge_control(kNone, SurgeForce::Auto), 30);  // thresholds: quiet queue, but dwell 10 s
  EXPECT_TRUE(h.engine().queue(kCards).surge);
  h.tick(20'000);
  EXPECT_FALSE(h.engine().queue(kCards).surge);

  const std::uint64_t before = h.engine().state_hash();
  EXPECT_EQ(h.send(surge_control(kLoans, SurgeForce::On), 20'000).front().status,
            Status::NoSurgePlan);
  EXPECT_EQ(h.send(surge_control(99, SurgeForce::On), 20'000).front().status, Status::UnknownQueue);
  Event bad = surge_control(kCards, SurgeForce::On);
  bad.reason = 3;
  EXPECT_EQ(h.send(bad, 20'000).front().status, Status::BadField);
  EXPECT_EQ(h.engine().state_hash(), before);
}

// A service marked down diverts the waiting calls of its queues and every new one to its
// announcement; marked up, routing is normal again. Unknown service, bad value: refused.
TEST(Surge, ServiceDownDivertsAndUpRestores) {
  Harness h(surge_config());
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.route(1, kCards, 10);
  h.route(2, kCards, 20);
  h.route(3, kLoans, 30);  // loans does not depend on the service
  const auto& ds = h.send(service_control(0, true), 40);
  const auto over = of_type(ds, DecisionType::Overflowed);
  ASSERT_EQ(over.size(), 2u);
  EXPECT_EQ(over[0].action, OverflowAction::Announcement);
  EXPECT_EQ(over[0].target, 7100u);
  EXPECT_EQ(over[0].status, Status::ServiceDown);
  const auto svc = of_type(ds, DecisionType::ServiceChanged);
  ASSERT_EQ(svc.size(), 1u);
  EXPECT_EQ(svc[0].position, 2u);
  EXPECT_TRUE(h.engine().service_down(0));
  EXPECT_TRUE(h.engine().call(3).has_value());
  // New calls, even with an agent ready, get the diversion.
  h.agent_event(EventType::AgentReady, 0, 50);
  EXPECT_EQ(h.route(4, kCards, 60).front().status, Status::ServiceDown);
  EXPECT_EQ(h.engine().surge_counters(kCards).diverted, 3u);
  h.send(service_control(0, false), 70);
  EXPECT_EQ(h.route(5, kCards, 80).front().type, DecisionType::Offer);

  const std::uint64_t before = h.engine().state_hash();
  EXPECT_EQ(h.send(service_control(7, true), 80).front().status, Status::UnknownService);
  Event bad = service_control(0, true);
  bad.reason = 2;
  EXPECT_EQ(h.send(bad, 80).front().status, Status::BadField);
  EXPECT_EQ(h.engine().state_hash(), before);
}

// The preview follows surge steps and diversions like the real thing.
TEST(Surge, PreviewMatchesApply) {
  Harness h(surge_config());
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.sign_in_ready(2, 0);
  h.send(surge_control(kCards, SurgeForce::On), 10);
  Event e;
  e.type = EventType::RouteRequest;
  e.call = 1;
  e.queue = kCards;
  std::vector<Decision> preview;
  h.engine().preview_route(e, [&](const Decision& d) { preview.push_back(d); });
  ASSERT_EQ(preview.size(), 1u);
  EXPECT_EQ(preview[0].type, DecisionType::Offer);
  EXPECT_EQ(preview[0].agent, 2u);
  h.send(service_control(0, true), 20);
  preview.clear();
  h.engine().preview_route(e, [&](const Decision& d) { preview.push_back(d); });
  ASSERT_EQ(preview.size(), 1u);
  EXPECT_EQ(preview[0].status, Status::ServiceDown);
}

// Determinism: a seeded stream of calls, agent changes, ticks, forces and service changes gives
// the same decisions and state hash on a second engine, and an engine restored from a snapshot
// taken midway continues identically.
TEST(Surge, ReplayAndRestoreDecideTheSame) {
  const EngineConfig c = surge_config();
  std::mt19937_64 rng(42);
  std::vector<Event> events;
  std::uint64_t t = 0;
  CallId next_call = 1;
  for (int i = 0; i < 20'000; ++i) {
    t += rng() % 400;
    Event e;
    e.time = t * 1000;
    const auto pick = static_cast<unsigned>(rng() % 100);
    if (pick < 45) {
      e.type = EventType::RouteRequest;
      e.call = next_call++;
      e.queue = static_cast<QueueIndex>(rng() % 3);
    } else if (pick < 60) {
      e.type = rng() % 2 ? EventType::CallAnswered : EventType::CallReleased;
      e.call = 1 + rng() % next_call;
    } else if (pick < 75) {
      static constexpr EventType kAgentEvents[] = {EventType::AgentSignIn, EventType::AgentReady,
                                                   EventType::AgentNotReady,
                                                   EventType::WrapUpDone};
      e.type = kAgentEvents[rng() % 4];
      e.agent = static_cast<AgentIndex>(rng() % 6);
    } else if (pick < 77) {
      e = surge_control(rng() % 3 == 0 ? kNone : kCards, static_cast<SurgeForce>(rng() % 3));
      e.time = t * 1000;
    } else if (pick < 78) {
      e = service_control(0, rng() % 2 == 0);
      e.time = t * 1000;
    } else {
      e.type = EventType::CallAbandoned;
      e.call = 1 + rng() % next_call;
    }
    events.push_back(e);
  }
  auto run = [&](Engine& engine, std::size_t from, std::size_t to, std::vector<Decision>& out) {
    for (std::size_t i = from; i < to; ++i) {
      engine.apply(events[i], [&](const Decision& d) { out.push_back(d); });
    }
  };
  Engine a(c);
  Engine b(c);
  std::vector<Decision> da;
  std::vector<Decision> db;
  const std::size_t half = events.size() / 2;
  run(a, 0, half, da);
  run(b, 0, half, db);
  Engine restored(c);
  ASSERT_TRUE(restored.restore(a.snapshot()));
  std::vector<Decision> dr;
  const std::size_t mark = da.size();
  run(a, half, events.size(), da);
  run(b, half, events.size(), db);
  run(restored, half, events.size(), dr);
  ASSERT_EQ(da.size(), db.size());
  EXPECT_EQ(0, std::memcmp(da.data(), db.data(), da.size() * sizeof(Decision)));
  EXPECT_EQ(a.state_hash(), b.state_hash());
  ASSERT_EQ(dr.size(), da.size() - mark);
  EXPECT_EQ(0, std::memcmp(dr.data(), da.data() + mark, dr.size() * sizeof(Decision)));
  EXPECT_EQ(restored.state_hash(), a.state_hash());
  std::string why;
  EXPECT_TRUE(a.check_invariants(&why)) << why;
  // The stream did exercise surge: entries, borrowing and diversions happened.
  const SurgeCounters sc = a.surge_counters(kCards);
  EXPECT_GT(sc.entries, 0u);
  EXPECT_GT(sc.borrowed + sc.surge_overflows + sc.callbacks, 0u);
  EXPECT_GT(sc.diverted, 0u);
}

// validate_config: exit at or above enter, exit without enter, a plan borrowing from itself, from
// a reserved queue or overflowing into one, an unknown service.
TEST(Surge, ConfigErrors) {
  auto first_error = [](const EngineConfig& c) {
    const auto e = validate_config(c);
    return e.empty() ? std::string() : e.front();
  };
  EngineConfig c = surge_config();
  EXPECT_EQ(first_error(c), "");
  c.queues[kCards].surge.exit.queue_length = 3;
  EXPECT_NE(first_error(c).find("must be below its enter level"), std::string::npos);
  c = surge_config();
  c.queues[kCards].surge.exit.ewt_ms = 10;
  EXPECT_NE(first_error(c).find("without an enter level"), std::string::npos);
  c = surge_config();
  c.queues[kCards].surge.actions[0].target = kCards;
  EXPECT_NE(first_error(c).find("borrows from itself"), std::string::npos);
  c = surge_config();
  c.queues[kCards].surge.actions[0].target = kFraud;
  EXPECT_NE(first_error(c).find("reserved capacity"), std::string::npos);
  c = surge_config();
  c.queues[kCards].surge.actions[3].target = kFraud;
  EXPECT_NE(first_error(c).find("reserved capacity"), std::string::npos);
  c = surge_config();
  c.queues[kCards].surge.actions[3].target = kCards;
  EXPECT_NE(first_error(c).find("overflows into itself"), std::string::npos);
  c = surge_config();
  c.queues[kCards].services = {3};
  EXPECT_NE(first_error(c).find("service 3 does not exist"), std::string::npos);
}

// A service's diversion gets the checks of an overflow target: the media of every queue that
// depends on it, a removed queue, a queue that needs the service itself, a loop between services,
// a site that does not exist.
TEST(Surge, ServiceDiversionErrors) {
  auto errors = [](const EngineConfig& c, std::size_t sites = 4) {
    std::string all;
    for (const std::string& e : validate_config(c, sites)) {
      all += e + "\n";
    }
    return all;
  };
  EngineConfig c = surge_config();
  c.services[0] = ServiceConfig{"core", OverflowAction::ToQueue, kPool};
  EXPECT_EQ(errors(c), "");
  c.queues[kPool].media = Media::Chat;
  EXPECT_NE(errors(c).find("service 0 (core): target queue 2 has another media than queue 0 "
                           "(cards)"),
            std::string::npos)
      << errors(c);
  c = surge_config();
  c.services[0] = ServiceConfig{"core", OverflowAction::ToQueue, kPool};
  c.queues[kPool].retired = true;
  EXPECT_NE(errors(c).find("service 0 (core): target queue 2 is removed"), std::string::npos)
      << errors(c);
  c = surge_config();
  c.services[0] = ServiceConfig{"core", OverflowAction::ToQueue, kLoans};
  c.queues[kLoans].services = {0};
  EXPECT_NE(errors(c).find("depends on this service"), std::string::npos) << errors(c);
  // core diverts to loans, which needs ledger; ledger diverts to cards, which needs core.
  c = surge_config();
  c.services[0] = ServiceConfig{"core", OverflowAction::ToQueue, kLoans};
  c.services.push_back(ServiceConfig{"ledger", OverflowAction::ToQueue, kCards});
  c.queues[kLoans].services = {1};
  EXPECT_NE(errors(c).find("diversions loop: core -> ledger -> core"), std::string::npos)
      << errors(c);
  c = surge_config();
  c.services[0] = ServiceConfig{"core", OverflowAction::ToSite, 4};
  EXPECT_NE(errors(c).find("service 0 (core): site 4 does not exist"), std::string::npos)
      << errors(c);
  EXPECT_EQ(errors(c, 5), "");
}

// The down state follows each service by name through a reload in place and a rebuilt engine:
// services reordered, one added, one removed.
TEST(Surge, ServiceStateFollowsItsNameAcrossReload) {
  EngineConfig c = surge_config();
  c.services.push_back(ServiceConfig{"ledger", OverflowAction::Busy, 0});
  c.services.push_back(ServiceConfig{"cards-db", OverflowAction::Busy, 0});
  c.queues[kLoans].services = {1};
  Harness h(c);
  h.send(service_control(1, true), 10);  // ledger down
  EngineConfig next = c;
  next.services = {ServiceConfig{"fx", OverflowAction::Busy, 0},
                   ServiceConfig{"ledger", OverflowAction::Busy, 0},
                   ServiceConfig{"core", OverflowAction::Announcement, 7100}};
  next.queues[kCards].services = {2};
  next.queues[kLoans].services = {1};
  std::swap(next.services[0], next.services[1]);  // ledger first, then fx
  next.queues[kLoans].services = {0};
  Engine rebuilt(next);
  ASSERT_TRUE(rebuilt.take_over(h.engine(), [](const Decision&) {}).ok());
  ASSERT_TRUE(h.engine().reconfigure(next));
  for (const Engine* e : {&rebuilt, &h.engine()}) {
    ASSERT_EQ(e->service_count(), 3u);
    EXPECT_TRUE(e->service_down(0));   // ledger
    EXPECT_FALSE(e->service_down(1));  // fx, added
    EXPECT_FALSE(e->service_down(2));  // core
  }
}

}  // namespace
}  // namespace acd::router::testing
