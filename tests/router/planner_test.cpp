// acd-sim's planning mode: exact queueing results (Erlang C for one queue, for six dedicated
// queues and for one pool of all-skilled agents) within the run's own 95 % interval over days;
// the day's shape (periods, staffing, outages, busyness); the three service-level definitions;
// overflow and callback counts; common random numbers; determinism; and the scenario keys.
#include <gtest/gtest.h>

#include <cmath>

#include "planner.hpp"
#include "scenario_file.hpp"

namespace acd::sim_tool {
namespace {

using router::sim::Scenario;

// Erlang C from first principles: with offered load a = λ/μ and N agents, the M/M/N queue's
// stationary probabilities are p_k ∝ a^k/k! for k ≤ N and p_N (a/N)^(k-N) above; an arrival
// waits when it finds N or more in the system (PASTA), so
//   C = (a^N/N! · N/(N-a)) / (Σ_{k<N} a^k/k! + a^N/N! · N/(N-a)),
// and a waiting call waits Exp(Nμ - λ), so ASA over all calls = C / (Nμ - λ).
double erlang_c(int n, double a) {
  double term = 1;  // a^k / k!, scaled as we go (only ratios matter)
  double below = 0;
  for (int k = 0; k < n; ++k) {
    below += term;
    term *= a / (k + 1);
  }
  const double waiting = term * n / (n - a);
  return waiting / (below + waiting);
}
double erlang_c_asa(int n, double rate, double aht) {
  return erlang_c(n, rate * aht) / (n / aht - rate);
}

// A centre of `queues` queues (skill q each) and agents given by their skills.
Scenario centre(int queues, const std::vector<std::vector<int>>& agent_skills) {
  Scenario s;
  s.engine.skill_count = static_cast<std::uint32_t>(queues);
  for (int q = 0; q < queues; ++q) {
    router::QueueConfig c;
    c.name = "q" + std::to_string(q);
    c.skills = {router::SkillRequirement{static_cast<router::SkillId>(q), 1, 0}};
    s.engine.queues.push_back(c);
  }
  for (std::size_t i = 0; i < agent_skills.size(); ++i) {
    router::AgentConfig a;
    a.number = static_cast<router::AgentNumber>(1000 + i);
    for (const int k : agent_skills[i]) {
      a.skills.push_back(router::SkillLevel{static_cast<router::SkillId>(k), 5, 0});
    }
    s.engine.agents.push_back(a);
  }
  s.engine.max_calls = 65536;
  EXPECT_TRUE(router::validate_config(s.engine).empty());
  return s;
}

void add_streams(Scenario& s, double rate, double aht, double patience = 0) {
  for (std::size_t q = 0; q < s.engine.queues.size(); ++q) {
    router::sim::CallStream c;
    c.queue = static_cast<router::QueueIndex>(q);
    c.arrival_rate_per_s = rate;
    c.aht_s = aht;
    c.patience_s = patience;
    s.streams.push_back(c);
  }
}

// The exact value lies within the run's 95 % interval (times `widen`), and the interval is
// narrow enough (under 10 % of the value) for that to mean something.
void expect_exact(const std::vector<double>& per_day, double exact, const std::string& what,
                  double widen = 1, double narrow = 0.1) {
  const Estimate e = estimate(per_day);
  std::printf("%-40s %.4f ± %.4f vs exact %.4f\n", what.c_str(), e.mean, e.ci95, exact);
  EXPECT_LE(std::abs(e.mean - exact), widen * e.ci95) << what;
  EXPECT_LT(e.ci95, narrow * exact) << what << ": the run is too short to judge";
}

CentreDays run(const Scenario& s, const Plan& plan, std::uint64_t check_every = 0) {
  std::vector<CentreDays> r = run_days({Centre{"c", s, plan}}, check_every);
  EXPECT_TRUE(r[0].invariants_ok) << r[0].invariant_problem;
  return r[0];
}

// M/M/10 at 80 %: P(wait) and ASA over 20 days of 20,000 s.
TEST(PlannerErlang, SingleQueueMatchesErlangC) {
  std::vector<std::vector<int>> agents(10, std::vector<int>{0});
  Scenario s = centre(1, agents);
  add_streams(s, 0.8, 10);
  s.duration_s = 20000;
  s.warmup_s = 500;
  s.seed = 11;
  Plan plan;
  plan.days = 20;
  const CentreDays r = run(s, plan);
  expect_exact(r.total[kPWait], erlang_c(10, 8), "M/M/10 80 % P(wait)");
  expect_exact(r.total[kAsa], erlang_c_asa(10, 0.8, 10), "M/M/10 80 % ASA s");
  expect_exact(r.occupancy, 0.8, "M/M/10 80 % occupancy");
}

// Six call types, 90 agents (the end points of Wallace and Whitt's centre). Dedicated: 15 agents
// per type, six independent M/M/15 queues at 85 %.
TEST(PlannerErlang, DedicatedAgentsAreSixErlangCQueues) {
  std::vector<std::vector<int>> agents;
  for (int q = 0; q < 6; ++q) {
    for (int i = 0; i < 15; ++i) {
      agents.push_back({q});
    }
  }
  Scenario s = centre(6, agents);
  const double rate = 0.85 * 15 / 10;
  add_streams(s, rate, 10);
  s.duration_s = 6000;
  s.warmup_s = 500;
  s.seed = 5;
  Plan plan;
  plan.days = 20;
  const CentreDays r = run(s, plan);
  const double c = erlang_c(15, rate * 10);
  const double asa = erlang_c_asa(15, rate, 10);
  expect_exact(r.total[kPWait], c, "6 x M/M/15 P(wait), all queues");
  expect_exact(r.total[kAsa], asa, "6 x M/M/15 ASA s, all queues");
  // Twelve per-queue checks at 95 % would fail one in two correct runs: each gets two intervals,
  // and a sixth of the calls make an interval up to 20 % of the value.
  for (int q = 0; q < 6; ++q) {
    expect_exact(r.queues[q][kPWait], c, "M/M/15 P(wait) q" + std::to_string(q), 2, 0.2);
    expect_exact(r.queues[q][kAsa], asa, "M/M/15 ASA s q" + std::to_string(q), 2, 0.2);
  }
}

// All-skilled: every agent serves every type. Whatever order the engine serves the queues in, a
// work-conserving router leaves the number of calls in the centre that of one M/M/90 queue, so
// P(wait) and the mean wait over all calls are Erlang C's with 90 agents.
TEST(PlannerErlang, AllSkilledAgentsAreOneErlangCPool) {
  std::vector<std::vector<int>> agents(90, std::vector<int>{0, 1, 2, 3, 4, 5});
  Scenario s = centre(6, agents);
  const double rate = 0.95 * 15 / 10;  // 95 %: the pool waits rarely at 85 %
  add_streams(s, rate, 10);
  s.duration_s = 6000;
  s.warmup_s = 500;
  s.seed = 3;
  Plan plan;
  plan.days = 40;
  const CentreDays r = run(s, plan);
  expect_exact(r.total[kPWait], erlang_c(90, 6 * rate * 10), "M/M/90 95 % P(wait)");
  expect_exact(r.total[kAsa], erlang_c_asa(90, 6 * rate, 10), "M/M/90 95 % ASA s");
}

// The service-level definitions on a day written by hand: one agent; a call answered at once
// (in SL), one abandoning within the grace, one after 10 s, one after the threshold, and one
// answered late.
TEST(PlannerServiceLevel, ThreeDefinitionsSideBySide) {
  Scenario s = centre(1, {{0}});
  s.sl_threshold_s = 20;
  router::sim::CallStream stream;
  s.streams.push_back(stream);
  s.duration_s = 1000;
  Plan plan;
  plan.sl_grace_s = 5;
  Day day;
  day.callers = {{0, 100, std::numeric_limits<double>::infinity(), 0},
                 {1, 1, 3, 0},   // abandons at 3 s: within the grace
                 {2, 1, 30, 0},  // abandons at 30 s: after the threshold
                 {3, 1, std::numeric_limits<double>::infinity(), 0},  // answered at 100 s
                 {4, 1, 10, 0}};                                      // abandons at 10 s
  const DayResult r = run_day(s, plan, day, 10);
  ASSERT_TRUE(r.invariants_ok) << r.invariant_problem;
  EXPECT_EQ(r.total.offered, 5);
  EXPECT_EQ(r.total.answered, 2);
  EXPECT_EQ(r.total.in_sl, 1);
  EXPECT_EQ(r.total.abandoned, 3);
  EXPECT_DOUBLE_EQ(r.total.service_level(SlDefinition::Offered), 1.0 / 5);
  EXPECT_DOUBLE_EQ(r.total.service_level(SlDefinition::AnsweredAndLateAbandoned), 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.total.service_level(SlDefinition::ExcludingShortAbandons), 1.0 / 4);
  EXPECT_DOUBLE_EQ(r.total.asa_s(), 97.0 / 2);
}

// Periods: the rate steps 1/s, 0, 2/s over three 200-s periods; the report counts each.
TEST(PlannerDay, ArrivalRatePerPeriod) {
  Scenario s = centre(1, std::vector<std::vector<int>>(10, {0}));
  add_streams(s, 1, 1);
  s.duration_s = 600;
  Plan plan;
  plan.period_s = 200;
  plan.periods = 3;
  plan.streams = {StreamPeriods{{1, 0, 2}, {}, {}}};
  plan.report_interval_s = 200;
  plan.days = 10;
  const CentreDays r = run(s, plan);
  ASSERT_EQ(r.intervals.size(), 3u);
  EXPECT_NEAR(estimate(r.intervals[0][0][kOffered]).mean, 200, 20);
  EXPECT_EQ(estimate(r.intervals[1][0][kOffered]).mean, 0);
  EXPECT_NEAR(estimate(r.intervals[2][0][kOffered]).mean, 400, 30);
}

// Staffing per period: nobody signed in during the middle period, so its callers (patience 5 s)
// all hang up, while the periods around it answer nearly everyone in time.
TEST(PlannerDay, StaffingPerPeriod) {
  Scenario s = centre(1, std::vector<std::vector<int>>(10, {0}));
  add_streams(s, 0.5, 10, 5);
  s.duration_s = 900;
  Plan plan;
  plan.period_s = 300;
  plan.periods = 3;
  StaffingPlan team;
  for (router::AgentIndex a = 0; a < 10; ++a) {
    team.agents.push_back(a);
  }
  team.signed_in = {10, 0, 10};
  plan.staffing = {team};
  plan.report_interval_s = 300;
  plan.days = 5;
  const CentreDays r = run(s, plan, 50);
  EXPECT_GT(estimate(r.intervals[0][0][kSlOffered]).mean, 0.9);
  EXPECT_GT(estimate(r.intervals[1][0][kAbandonRate]).mean, 0.9);
  EXPECT_GT(estimate(r.intervals[2][0][kSlOffered]).mean, 0.9);
  // Nine agents of ten signed in a third of the day less: occupancy is of signed-in time.
  EXPECT_GT(estimate(r.occupancy).mean, 0.4);
}

// A site lost from 300 s to 600 s: its agents' calls are cut and they are out at once; the
// callers of that time hang up, and service comes back with the agents.
TEST(PlannerDay, OutageLosesAgentsAtOnce) {
  Scenario s = centre(1, std::vector<std::vector<int>>(10, {0}));
  add_streams(s, 0.5, 10, 5);
  s.duration_s = 900;
  Plan plan;
  Outage lost;
  lost.at_s = 300;
  lost.until_s = 600;
  for (router::AgentIndex a = 0; a < 10; ++a) {
    lost.agents.push_back(a);
  }
  plan.outages = {lost};
  plan.report_interval_s = 300;
  plan.days = 5;
  const CentreDays r = run(s, plan, 50);
  EXPECT_GT(estimate(r.intervals[0][0][kSlOffered]).mean, 0.9);
  EXPECT_GT(estimate(r.intervals[1][0][kAbandonRate]).mean, 0.9);
  EXPECT_GT(estimate(r.intervals[2][0][kSlOffered]).mean, 0.9);
}

// An outage cuts the calls in progress: the agent's 1,000-s call ends at 100 s, and the caller
// arriving at 150 s is answered when the agent is back at 200 s (not when the call would have
// ended).
TEST(PlannerDay, OutageCutsCallsInProgress) {
  Scenario s = centre(1, {{0}});
  router::sim::CallStream stream;
  s.streams.push_back(stream);
  s.duration_s = 1000;
  Plan plan;
  Outage lost;
  lost.at_s = 100;
  lost.until_s = 200;
  lost.agents = {0};
  plan.outages = {lost};
  Day day;
  const double never = std::numeric_limits<double>::infinity();
  day.callers = {{0, 1000, never, 0}, {150, 10, never, 0}};
  const DayResult r = run_day(s, plan, day, 10);
  ASSERT_TRUE(r.invariants_ok) << r.invariant_problem;
  EXPECT_EQ(r.total.answered, 2);
  EXPECT_DOUBLE_EQ(r.total.asa_s(), 50.0 / 2);
}

// The daily busyness factor: gamma with mean 1 and variance 1/shape, scaling every rate.
TEST(PlannerDay, BusynessIsGammaWithMeanOne) {
  Scenario s = centre(1, {{0}});
  add_streams(s, 0, 1);
  Plan plan;
  plan.busyness_shape = 4;
  double sum = 0, sum2 = 0;
  const int days = 4000;
  for (int d = 0; d < days; ++d) {
    const double b = draw_day(s, plan, d).busyness;
    sum += b;
    sum2 += b * b;
  }
  const double mean = sum / days;
  const double var = sum2 / days - mean * mean;
  EXPECT_NEAR(mean, 1.0, 0.02);
  EXPECT_NEAR(var, 0.25, 0.025);
  // And the rate follows it: a day's calls over its expectation is its factor.
  s.streams[0].arrival_rate_per_s = 10;
  s.duration_s = 1000;
  const Day day = draw_day(s, plan, 7);
  EXPECT_NEAR(static_cast<double>(day.callers.size()) / (10000 * day.busyness), 1.0, 0.05);
}

// Common random numbers: two copies of one centre see the same callers, so every per-day
// difference is exactly zero; the same seed gives the same numbers, another seed others.
TEST(PlannerCompare, SameCallersForEveryCentre) {
  Scenario s = centre(1, std::vector<std::vector<int>>(10, {0}));
  add_streams(s, 0.8, 10, 60);
  s.duration_s = 2000;
  Plan plan;
  plan.days = 5;
  plan.busyness_shape = 20;
  const std::vector<CentreDays> r = run_days({{"a", s, plan}, {"b", s, plan}});
  for (int m = 0; m < kMetricCount; ++m) {
    EXPECT_EQ(r[0].total[m], r[1].total[m]) << kMetricNames[m];
    const Estimate d = difference(r[0].total[m], r[1].total[m]);
    EXPECT_EQ(d.mean, 0);
    EXPECT_EQ(d.ci95, 0);
  }
  const std::vector<CentreDays> again = run_days({{"a", s, plan}});
  EXPECT_EQ(again[0].total[kAsa], r[0].total[kAsa]);
  s.seed = 2;
  const std::vector<CentreDays> other = run_days({{"a", s, plan}});
  EXPECT_NE(other[0].total[kAsa], r[0].total[kAsa]);
}

// Fewer agents in the second centre: the paired difference is measured per day, and its
// interval is narrower than the two centres' own intervals.
TEST(PlannerCompare, PairedDifferenceIsTighter) {
  Scenario a = centre(1, std::vector<std::vector<int>>(11, {0}));
  Scenario b = centre(1, std::vector<std::vector<int>>(10, {0}));
  add_streams(a, 0.8, 10);
  add_streams(b, 0.8, 10);
  a.duration_s = b.duration_s = 3000;
  Plan plan;
  plan.days = 10;
  plan.busyness_shape = 50;
  const std::vector<CentreDays> r = run_days({{"11", a, plan}, {"10", b, plan}});
  const Estimate d = difference(r[0].total[kAsa], r[1].total[kAsa]);
  EXPECT_GT(d.mean, 0);
  EXPECT_LT(d.ci95, estimate(r[1].total[kAsa]).ci95);
  EXPECT_EQ(r[0].total[kOffered], r[1].total[kOffered]);
}

// Student's t: the table and the expansion past 30 degrees of freedom.
TEST(PlannerStats, StudentT) {
  EXPECT_DOUBLE_EQ(student_t975(1), 12.706);
  EXPECT_DOUBLE_EQ(student_t975(19), 2.093);
  EXPECT_NEAR(student_t975(40), 2.021, 0.001);
  EXPECT_NEAR(student_t975(120), 1.980, 0.001);
  const Estimate e = estimate({1, 2, 3});
  EXPECT_DOUBLE_EQ(e.mean, 2);
  EXPECT_NEAR(e.ci95, 4.303 * 1 / std::sqrt(3.0), 1e-9);
  EXPECT_EQ(estimate({5}).ci95, 0);
}

}  // namespace
}  // namespace acd::sim_tool
