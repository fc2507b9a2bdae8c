// The planning keys of a scenario file: what they fill in, each mistake with its file and line,
// and a queue's overflow and callback counts through a file's centre.
#include <gtest/gtest.h>

#include "planner.hpp"
#include "scenario_file.hpp"

namespace acd::sim_tool {
namespace {

std::string dump(const std::vector<std::string>& problems) {
  std::string all;
  for (const auto& p : problems) {
    all += p + "\n";
  }
  return all;
}

bool has(const std::vector<std::string>& problems, const std::string& where,
         const std::string& text) {
  for (const auto& p : problems) {
    if (p.rfind(where + ": ", 0) == 0 && p.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

const char* kCentre = R"(skills = ["cards"]
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent_group]]
first_id = 100
count = 10
skills = { cards = 5 }
)";  // 8 lines: the simulation tables below start at line 9

TEST(PlannerFile, ReadsPeriodsStaffingOutagesAndVariants) {
  ScenarioFile f;
  const auto problems = read_scenario(std::string(kCentre) + R"(
[simulation]
days = 12
period_s = 1800
busyness_shape = 25
sl_grace_s = 3
service_level = "answered_and_late_abandoned"
report_interval_s = 900
[[stream]]
queue = "cards"
rate_per_s = [0.1, 0.3, 0.2]
aht_s = 200
patience_s = [60, 60, 30]
[[simulation.staffing]]
first_id = 102
count = 8
signed_in = [2, 8, 4]
[[simulation.outage]]
first_id = 100
count = 2
at_s = 3600
until_s = 4000
[[simulation.variant]]
name = "skills-first"
config = "other.toml"
)",
                                      "plan.toml", f);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  EXPECT_TRUE(f.planning);
  const Plan& p = f.plan;
  EXPECT_EQ(p.days, 12);
  EXPECT_EQ(p.periods, 3u);
  EXPECT_EQ(p.period_s, 1800);
  EXPECT_EQ(f.scenario.duration_s, 5400);  // three periods, no duration_s
  EXPECT_EQ(p.busyness_shape, 25);
  EXPECT_EQ(p.sl_grace_s, 3);
  EXPECT_EQ(p.sl, SlDefinition::AnsweredAndLateAbandoned);
  EXPECT_EQ(p.report_interval_s, 900);
  ASSERT_EQ(p.streams.size(), 1u);
  EXPECT_EQ(p.streams[0].rate_per_s, (std::vector<double>{0.1, 0.3, 0.2}));
  EXPECT_TRUE(p.streams[0].aht_s.empty());
  EXPECT_EQ(f.scenario.streams[0].aht_s, 200);
  EXPECT_EQ(p.streams[0].patience_s, (std::vector<double>{60, 60, 30}));
  ASSERT_EQ(p.staffing.size(), 1u);
  EXPECT_EQ(p.staffing[0].agents.size(), 8u);
  EXPECT_EQ(p.staffing[0].agents[0], 2u);  // agent 102 is the third
  EXPECT_EQ(p.staffing[0].signed_in, (std::vector<std::uint32_t>{2, 8, 4}));
  ASSERT_EQ(p.outages.size(), 1u);
  EXPECT_EQ(p.outages[0].at_s, 3600);
  EXPECT_EQ(p.outages[0].until_s, 4000);
  ASSERT_EQ(f.variants.size(), 1u);
  EXPECT_EQ(f.variants[0].name, "skills-first");
  EXPECT_EQ(f.variants[0].config, "other.toml");
}

// A file without planning keys stays a steady-state scenario.
TEST(PlannerFile, PlainScenarioIsNotPlanning) {
  ScenarioFile f;
  const auto problems = read_scenario(std::string(kCentre) + R"(
[simulation]
duration_s = 100
[[stream]]
queue = "cards"
rate_per_s = 0.1
)",
                                      "plain.toml", f);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  EXPECT_FALSE(f.planning);
}

TEST(PlannerFile, EveryMistakeWithItsLine) {
  ScenarioFile f;
  const auto problems = read_scenario(std::string(kCentre) + R"(
[simulation]
days = 0
service_level = "answered"
[[stream]]
queue = "cards"
rate_per_s = [0.1, 0.3]
aht_s = [100, 100, "x"]
patience_s = [60, 60, 30]
[[simulation.staffing]]
first_id = 105
count = 8
signed_in = [2, 9]
[[simulation.outage]]
first_id = 100
at_s = 50
until_s = 10
[[simulation.variant]]
name = "a"
config = "a.toml"
[[simulation.variant]]
name = "a"
config = "b.toml"
)",
                                      "bad.toml", f);
  EXPECT_TRUE(has(problems, "bad.toml:11", "'days' = 0 is out of range")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:12", "is not one of: offered")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:16", "must be a list of numbers")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:17", "this list has 3 values")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:15", "needs [simulation] period_s")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:19", "agent 110 is not in the centre")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:25", "'until_s' must be later")) << dump(problems);
  EXPECT_TRUE(has(problems, "bad.toml:30", "is named twice")) << dump(problems);
}

TEST(PlannerFile, StaffingNeedsWholeNumbersUpToItsAgents) {
  ScenarioFile f;
  const auto problems = read_scenario(std::string(kCentre) + R"(
[simulation]
period_s = 60
[[simulation.staffing]]
first_id = 100
count = 4
signed_in = [2, 5]
[[simulation.staffing]]
first_id = 104
signed_in = 1
)",
                                      "staff.toml", f);
  EXPECT_TRUE(has(problems, "staff.toml:15", "use whole numbers up to 'count' (4)"))
      << dump(problems);
  EXPECT_TRUE(has(problems, "staff.toml:18", "must be a list")) << dump(problems);
}

// The simulation tables of one file read against another centre (--compare): queue and agent
// names resolve in that centre, and nothing of the first reading is left.
TEST(PlannerFile, SimulationTablesAgainstAnotherCentre) {
  const std::string scenario = std::string(kCentre) + R"(
[simulation]
days = 3
period_s = 3600
[[stream]]
queue = "cards"
rate_per_s = 0.2
[[simulation.staffing]]
first_id = 100
signed_in = [1]
)";
  ScenarioFile other;
  ASSERT_TRUE(read_scenario(R"(skills = ["cards", "loans"]
[[queue]]
name = "loans"
skills = { loans = 1 }
[[queue]]
name = "cards"
skills = { cards = 1 }
[[agent]]
id = 7
skills = { cards = 1 }
[[agent]]
id = 100
skills = { cards = 1 }
[simulation]
seed = 99
)",
                            "other.toml", other)
                  .empty());
  const auto problems = read_simulation_of(scenario, "plan.toml", other);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  EXPECT_EQ(other.scenario.seed, 1u);  // the other file's [simulation] is not kept
  EXPECT_EQ(other.plan.days, 3);
  ASSERT_EQ(other.scenario.streams.size(), 1u);
  EXPECT_EQ(other.scenario.streams[0].queue, 1u);  // "cards" is this centre's second queue
  EXPECT_EQ(other.plan.staffing[0].agents, (std::vector<router::AgentIndex>{1}));
}

// Overflow and callbacks are counted per queue: a queue nobody serves offers every caller a
// callback, and another
// sends its callers to the IVR after 5 s.
TEST(PlannerFile, CountsCallbacksAndOverflow) {
  ScenarioFile f;
  const auto problems = read_scenario(R"(skills = ["a", "b", "c"]
[[queue]]
name = "a"
skills = { a = 1 }
max_wait_s = 10
max_wait_action = "callback"
[[queue]]
name = "b"
skills = { b = 1 }
max_wait_s = 5
max_wait_action = "ivr"
max_wait_target = "9000"
[[agent]]
id = 1
skills = { c = 1 }
[simulation]
duration_s = 1000
report_interval_s = 500
[[stream]]
queue = "a"
rate_per_s = 0.1
[[stream]]
queue = "b"
rate_per_s = 0.1
)",
                                      "cb.toml", f);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  const std::vector<CentreDays> r = run_days({{"c", f.scenario, f.plan}}, 100);
  ASSERT_TRUE(r[0].invariants_ok) << r[0].invariant_problem;
  const double a_offered = r[0].queues[0][kOffered][0];
  const double b_offered = r[0].queues[1][kOffered][0];
  EXPECT_GT(a_offered, 50);
  EXPECT_EQ(r[0].queues[0][kCallbacks][0], a_offered);
  EXPECT_EQ(r[0].queues[0][kOverflowed][0], 0);
  EXPECT_EQ(r[0].queues[1][kOverflowed][0], b_offered);
  EXPECT_EQ(r[0].queues[1][kCallbacks][0], 0);
  ASSERT_EQ(r[0].intervals.size(), 2u);
  EXPECT_EQ(r[0].intervals[0][0][kCallbacks][0] + r[0].intervals[1][0][kCallbacks][0], a_offered);
  // A lone caller, with nothing else happening, gets its callback too.
  Day lone;
  lone.callers = {{10, 1, std::numeric_limits<double>::infinity(), 0}};
  const DayResult one = run_day(f.scenario, f.plan, lone);
  EXPECT_EQ(one.total.callbacks, 1);
}

}  // namespace
}  // namespace acd::sim_tool
