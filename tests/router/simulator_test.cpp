// The simulator, driving the real engine, agrees with queueing theory: Erlang C (M/M/N) without
// abandonment and Erlang A (M/M/N+M) with exponential patience, within the run's own statistical
// error (95 % batch-means interval, doubled) plus a floor only as large as the clock's resolution
// needs. The settings are chosen so that a mean handle time off by 1-2 %, a patience off by 10 %
// or a wait averaged over offered instead of answered calls fails at least one of them (see
// docs/simulator.md, "How the simulator is checked against queueing theory").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "acd/router/erlang.hpp"
#include "acd/router/simulator.hpp"

namespace acd::router::sim {
namespace {

// Shares (P(wait), abandonment, service level): half a permille, a few calls of a batch of
// thousands, so that a share that is 0 or 1 in every batch (interval 0) is not judged on its last
// call. ASA: 1 ms, the engine's timer tick (the simulator's clock counts microseconds).
constexpr double kShareFloor = 0.0005;
constexpr double kAsaFloorS = 0.001;
// Occupancy has no interval: it is busy time over staffed time, within one percentage point.
constexpr double kOccupancyTolerance = 0.01;

void expect_close(const char* what, const Estimate& sim, double theory, double floor) {
  const double tolerance = 2 * sim.ci95 + floor;
  std::printf("  %-14s simulated %.5f +- %.5f  theory %.5f\n", what, sim.value, sim.ci95, theory);
  EXPECT_NEAR(sim.value, theory, tolerance)
      << what << ": simulated " << sim.value << " +- " << sim.ci95 << ", theory " << theory;
  EXPECT_LT(sim.ci95, 0.1 * std::max(theory, 0.05) + floor) << what << ": run too short to judge";
}

struct Setting {
  int agents;
  double rate;
  double aht;
  double patience;  // 0 = none
  double sl;
  double duration;
};

void PrintTo(const Setting& s, std::ostream* os) {
  *os << s.agents << " agents, " << s.rate << "/s, AHT " << s.aht << " s, patience " << s.patience
      << " s, " << s.duration << " s";
}

class ErlangC : public ::testing::TestWithParam<Setting> {};

// Erlang C: P(wait), ASA and service level of an M/M/N queue; every call offered is answered.
TEST_P(ErlangC, MatchesTheory) {
  const Setting s = GetParam();
  const Scenario scenario = single_queue(s.agents, s.rate, s.aht, HandleDist::Exponential, 0, 0,
                                         s.sl, s.duration, s.duration * 0.02, 12345);
  const Result r = run(scenario);
  const erlang::ErlangCResult theory = erlang::erlang_c_metrics(s.agents, s.rate, s.aht, s.sl);
  ASSERT_GT(r.offered, 100'000u);
  EXPECT_EQ(r.answered, r.offered) << "without patience every call is answered";
  EXPECT_EQ(r.abandoned, 0u);
  EXPECT_EQ(r.overflowed, 0u);
  expect_close("p_wait", r.p_wait, theory.p_wait, kShareFloor);
  expect_close("asa_s", r.asa_s, theory.asa_s, kAsaFloorS);
  expect_close("service_level", r.service_level, theory.service_level, kShareFloor);
  EXPECT_NEAR(r.occupancy, theory.occupancy, kOccupancyTolerance);
}

// 80 %, 90 % (a bank's 50 agents with 3-minute calls), 67 % with three agents, a low load (40 %,
// waits are rare) and a heavy one (93 %, where P(wait) moves most with the handle time).
INSTANTIATE_TEST_SUITE_P(Settings, ErlangC,
                         ::testing::Values(Setting{10, 1.0, 8.0, 0, 5, 600'000},
                                           Setting{50, 0.25, 180.0, 0, 20, 8'000'000},
                                           Setting{3, 0.2, 10.0, 0, 10, 600'000},
                                           Setting{5, 0.2, 10.0, 0, 10, 1'000'000},
                                           Setting{20, 1.86, 10.0, 0, 10, 1'000'000}));

class ErlangA : public ::testing::TestWithParam<Setting> {};

// Erlang A: P(wait), abandonment, ASA of answered calls and service level with impatient callers;
// every call offered is answered or abandons.
TEST_P(ErlangA, MatchesTheory) {
  const Setting s = GetParam();
  const Scenario scenario = single_queue(s.agents, s.rate, s.aht, HandleDist::Exponential,
                                         s.patience, 0, s.sl, s.duration, s.duration * 0.02, 777);
  const Result r = run(scenario);
  const erlang::ErlangAResult theory =
      erlang::erlang_a_metrics(s.agents, s.rate, s.aht, s.patience, s.sl);
  ASSERT_GT(r.offered, 100'000u);
  EXPECT_EQ(r.answered + r.abandoned, r.offered);
  EXPECT_EQ(r.overflowed, 0u);
  expect_close("p_wait", r.p_wait, theory.p_wait, kShareFloor);
  expect_close("abandon_rate", r.abandon_rate, theory.p_abandon, kShareFloor);
  expect_close("asa_s", r.asa_s, theory.asa_s, kAsaFloorS);
  expect_close("service_level", r.service_level, theory.service_level, kShareFloor);
  EXPECT_NEAR(r.occupancy, theory.occupancy, kOccupancyTolerance);
}

// Patience 20 s against 9 s calls at 90 %; an overloaded centre (125 %) that only abandonment
// keeps stable, where the wait follows the patience closely; and a second, short patience (5 s)
// with one caller in ten hanging up.
INSTANTIATE_TEST_SUITE_P(Settings, ErlangA,
                         ::testing::Values(Setting{10, 1.0, 9.0, 20.0, 5, 600'000},
                                           Setting{20, 25.0 / 180.0, 180.0, 60.0, 20, 2'000'000},
                                           Setting{10, 1.0, 9.0, 5.0, 5, 600'000}));

// Other handle-time distributions and after-call work run with every invariant intact; constant
// handle times wait less than exponential ones at the same load (M/D/N beats M/M/N).
TEST(Simulator, DistributionsAndWrapUpKeepInvariants) {
  Result exp_run =
      run(single_queue(8, 0.7, 10, HandleDist::Exponential, 0, 0, 10, 20'000, 500, 5), 97);
  Result const_run =
      run(single_queue(8, 0.7, 10, HandleDist::Constant, 0, 0, 10, 20'000, 500, 5), 97);
  Result logn_run =
      run(single_queue(8, 0.5, 10, HandleDist::Lognormal, 30, 3, 10, 20'000, 500, 5), 97);
  EXPECT_TRUE(exp_run.invariants_ok) << exp_run.invariant_problem;
  EXPECT_TRUE(const_run.invariants_ok) << const_run.invariant_problem;
  EXPECT_TRUE(logn_run.invariants_ok) << logn_run.invariant_problem;
  EXPECT_LT(const_run.asa_s.value, exp_run.asa_s.value);
  // With 3 s of after-call work per 10 s call, occupancy is load x 13 / 8 agents, less abandons.
  EXPECT_NEAR(logn_run.occupancy, 0.5 * 13 / 8 * (1 - logn_run.abandon_rate.value), 0.03);
}

// The same scenario and seed give the same result.
TEST(Simulator, Deterministic) {
  const Scenario s = single_queue(5, 0.4, 10, HandleDist::Lognormal, 25, 2, 10, 5'000, 100, 99);
  const Result a = run(s);
  const Result b = run(s);
  EXPECT_EQ(a.offered, b.offered);
  EXPECT_EQ(a.answered, b.answered);
  EXPECT_EQ(a.abandoned, b.abandoned);
  EXPECT_EQ(a.engine_events, b.engine_events);
  EXPECT_DOUBLE_EQ(a.asa_s.value, b.asa_s.value);
}

// Agents who use all of their queue's wrap-up time become free the moment it ends (the engine's
// timer, woken on time), exactly as agents who end the same after-call work themselves.
TEST(Simulator, WrapUpTimeEndsAfterCallWorkOnTime) {
  // Constant handle times and no patience: only arrivals draw numbers, so both runs see the same
  // calls. Agents end 20 s of after-call work themselves (the queue allows an hour more) ...
  const Scenario own = single_queue(3, 0.05, 30, HandleDist::Constant, 0, 20, 20, 200'000, 0, 5);
  // ... or the queue's 20 s wrap-up time ends it.
  Scenario limit = own;
  limit.engine.queues[0].wrap_up_ms = 20'000;
  limit.after_call_work_s.reset();
  const Result a = run(own, 101);
  const Result b = run(limit, 101);
  EXPECT_TRUE(b.invariants_ok) << b.invariant_problem;
  ASSERT_GT(a.waited, 1000u);
  EXPECT_EQ(a.offered, b.offered);
  EXPECT_NEAR(a.asa_s.value, b.asa_s.value, 0.01);  // the timer fires within its 1 ms tick
  EXPECT_NEAR(a.occupancy, b.occupancy, 0.001);
}

}  // namespace
}  // namespace acd::router::sim
