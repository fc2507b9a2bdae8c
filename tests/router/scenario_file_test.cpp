// acd-sim's scenario files: the simulation's own tables around the shared centre, a separate
// streams file, and the default streams of a centre given without any.
#include <gtest/gtest.h>

#include "scenario_file.hpp"

namespace acd::sim_tool {
namespace {

using router::sim::HandleDist;

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

const char* kCentre = R"(skills = ["cards", "loans", "english"]
[[queue]]
name = "cards"
skills = { cards = 1 }
wrap_up_s = 20
expected_aht_s = 100
[[queue]]
name = "loans"
skills = { loans = 1 }
[[agent_group]]
first_id = 1
count = 10
skills = { cards = 5 }
[[agent_group]]
first_id = 11
count = 4
skills = { cards = 5, loans = 5, english = 3 }
)";

// [simulation] and [[stream]] fill the scenario; a stream's handle time defaults to its queue's
// expected_aht_s; [dataplane] is acdd's and is ignored.
TEST(ScenarioFile, ReadsTheSimulationTables) {
  ScenarioFile f;
  const auto problems = read_scenario(std::string(kCentre) + R"(
[dataplane]
cores = [7]
[simulation]
seed = 9
duration_s = 7200
after_call_work_s = 5
[[stream]]
queue = "cards"
rate_per_s = 0.5
patience_s = 60
[[stream]]
queue = "loans"
aht_s = 300
handle_dist = "lognormal"
language = "english"
skills = { cards = 2 }
)",
                                      "s.toml", f);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  EXPECT_EQ(f.scenario.seed, 9u);
  EXPECT_TRUE(f.has_duration);
  EXPECT_EQ(f.scenario.duration_s, 7200);
  EXPECT_EQ(f.scenario.after_call_work_s, 5.0);
  ASSERT_EQ(f.scenario.streams.size(), 2u);
  EXPECT_EQ(f.scenario.streams[0].aht_s, 100);
  EXPECT_EQ(f.scenario.streams[0].arrival_rate_per_s, 0.5);
  EXPECT_EQ(f.scenario.streams[1].queue, 1u);
  EXPECT_EQ(f.scenario.streams[1].handle_dist, HandleDist::Lognormal);
  EXPECT_EQ(f.scenario.streams[1].language, 2);
  ASSERT_EQ(f.scenario.streams[1].skills.size(), 1u);
  EXPECT_EQ(f.scenario.streams[1].skills[0].min_level, 2);
}

// Problems of the centre and of the simulation tables come together, each with its line; the old
// [simulation] wrap_up_s says where after-call work is set now.
TEST(ScenarioFile, EveryProblemAtOnce) {
  ScenarioFile f;
  const auto problems = read_scenario("colour = \"red\"\n" +      // 1
                                          std::string(kCentre) +      // 2 to 18
                                          "[simulation]\n"           // 19
                                          "wrap_up_s = 15\n"         // 20
                                          "[[stream]]\n"             // 21
                                          "queue = \"mortgages\"\n"  // 22
                                          "tier = 7\n",              // 23
                                      "s.toml", f);
  EXPECT_TRUE(has(problems, "s.toml:1", "unknown key 'colour' in the top level")) << dump(problems);
  EXPECT_TRUE(has(problems, "s.toml:20",
                  "'wrap_up_s' is a queue's setting (its wrap-up time, as in acd.toml)"))
      << dump(problems);
  EXPECT_TRUE(has(problems, "s.toml:22", "stream queue 'mortgages' is not defined"))
      << dump(problems);
  EXPECT_TRUE(has(problems, "s.toml:23", "'tier' = 7 is out of range; use 0 to 3"))
      << dump(problems);
  EXPECT_EQ(problems.size(), 4u) << dump(problems);
}

// A streams file brings its own calls to a centre read before, and holds nothing else.
TEST(ScenarioFile, StreamsFileReplacesTheStreams) {
  ScenarioFile f;
  ASSERT_TRUE(read_scenario(std::string(kCentre) + "[[stream]]\nqueue = \"cards\"\n", "c.toml", f)
                  .empty());
  auto problems = read_streams("[simulation]\nseed = 4\n[[stream]]\nqueue = \"loans\"\n"
                               "rate_per_s = 2\n",
                               "t.toml", f);
  ASSERT_TRUE(problems.empty()) << dump(problems);
  ASSERT_EQ(f.scenario.streams.size(), 1u);
  EXPECT_EQ(f.scenario.streams[0].queue, 1u);
  EXPECT_EQ(f.scenario.seed, 4u);
  problems = read_streams("[[queue]]\nname = \"x\"\n", "t.toml", f);
  ASSERT_EQ(problems.size(), 1u) << dump(problems);
  EXPECT_TRUE(has(problems, "t.toml:1", "unknown key 'queue' in a streams file")) << dump(problems);
}

// Without [[stream]], each queue is offered 80 % of the agents who serve it (an agent serving two
// queues gives each half), over its expected handle time plus its wrap-up time.
TEST(ScenarioFile, DefaultStreamsFollowTheStaffing) {
  ScenarioFile f;
  ASSERT_TRUE(read_scenario(kCentre, "c.toml", f).empty());
  DefaultTraffic traffic;
  auto streams = default_streams(f.scenario, traffic);
  ASSERT_EQ(streams.size(), 2u);
  // cards: 10 agents + 4 shared with loans (2) = 12 agents' worth, AHT 100 s + 20 s wrap-up.
  EXPECT_DOUBLE_EQ(streams[0].arrival_rate_per_s, 0.8 * 12 / 120);
  EXPECT_DOUBLE_EQ(streams[0].aht_s, 100);
  // loans: 2 agents' worth, the default expected handle time of 180 s, no wrap-up.
  EXPECT_DOUBLE_EQ(streams[1].arrival_rate_per_s, 0.8 * 2 / 180);
  // Agents who finish their after-call work sooner leave room for more calls; flags win.
  f.scenario.after_call_work_s = 5;
  traffic.aht_s = 60;
  traffic.patience_s = 30;
  streams = default_streams(f.scenario, traffic);
  EXPECT_DOUBLE_EQ(streams[0].arrival_rate_per_s, 0.8 * 12 / 65);
  EXPECT_DOUBLE_EQ(streams[1].patience_s, 30);
  traffic.arrival_rate_per_s = 3;
  EXPECT_DOUBLE_EQ(default_streams(f.scenario, traffic)[1].arrival_rate_per_s, 3);
}

}  // namespace
}  // namespace acd::sim_tool
