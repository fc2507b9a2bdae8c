// Call selection when an agent frees up, skill preference and expanding requirements: each rule
// chooses, in a situation made for it, differently from every other rule; preference and reserve
// thresholds order an agent's queues; a queue's skill floor relaxes as its calls wait.
#include <gtest/gtest.h>

#include <optional>

#include "engine_fixture.hpp"

namespace acd::router::testing {
namespace {

constexpr CallSelection kRules[] = {CallSelection::AgedPriority, CallSelection::GreatestNeed,
                                    CallSelection::QueueRatio, CallSelection::WeightedWait};

// Two queues, A (skill 0) and B (skill 1), and one agent who serves both; a call waits in each.
struct TwoQueues {
  QueueConfig a = make_queue("a", {{0, 1, 0}});
  QueueConfig b = make_queue("b", {{1, 1, 0}});
  AgentConfig agent = make_agent(100, {{0, 5, 0}, {1, 5, 0}});
  std::uint64_t a_arrives = 0;  // ms
  std::uint64_t b_arrives = 0;
  std::uint8_t a_priority = 0;
  std::uint8_t b_priority = 0;
  static constexpr std::uint64_t kReady = 30'000;

  EngineConfig config(CallSelection rule) const {
    EngineConfig c;
    c.skill_count = 3;
    c.queues = {a, b};
    for (QueueConfig& q : c.queues) {
      q.call_selection = rule;
    }
    c.agents = {agent};
    return c;
  }

  // The queue whose call the agent is offered when it becomes ready at kReady.
  std::optional<QueueIndex> chosen(CallSelection rule) const {
    Harness h(config(rule));
    const bool a_first = a_arrives <= b_arrives;
    h.route(a_first ? 1 : 2, a_first ? 0 : 1, a_first ? a_arrives : b_arrives,
            a_first ? a_priority : b_priority);
    h.route(a_first ? 2 : 1, a_first ? 1 : 0, a_first ? b_arrives : a_arrives,
            a_first ? b_priority : a_priority);
    h.sign_in_ready(0, kReady);
    const Decision* offer = h.find(DecisionType::Offer);
    if (offer == nullptr) {
      return std::nullopt;
    }
    return offer->queue;
  }
};

// `rule` picks `expected`; every other rule picks the other queue.
void expect_only(const TwoQueues& s, CallSelection rule, QueueIndex expected) {
  for (CallSelection r : kRules) {
    const std::optional<QueueIndex> q = s.chosen(r);
    ASSERT_TRUE(q.has_value()) << to_string(r);
    if (r == rule) {
      EXPECT_EQ(*q, expected) << to_string(r);
    } else {
      EXPECT_NE(*q, expected) << to_string(r) << " should not choose as " << to_string(rule);
    }
  }
}

// The default rule keeps its priority first: a fresh priority-5 call beats a priority-0 call near
// its threshold, where the others look at the wait.
TEST(Selection, AgedPriorityPutsPriorityFirst) {
  TwoQueues s;
  s.a_arrives = 29'000;
  s.a_priority = 5;
  s.b_arrives = 15'000;
  expect_only(s, CallSelection::AgedPriority, 0);
}

// Greatest need: the call at its 10 s objective beats a priority-3 call a quarter of the way to
// its 60 s objective (and a longer absolute wait).
TEST(Selection, GreatestNeedServesTheQueueFurthestBehindItsObjective) {
  TwoQueues s;
  s.a.sl_threshold_ms = 10'000;
  s.b.sl_threshold_ms = 60'000;
  s.a_arrives = 20'000;
  s.b_arrives = 15'000;
  s.b_priority = 3;
  expect_only(s, CallSelection::GreatestNeed, 0);
}

// Greatest need with the predicted wait: a queue whose backlog promises a long wait counts as
// needier than its head call's wait alone says.
TEST(Selection, GreatestNeedCountsThePredictedWait) {
  TwoQueues s;
  s.a_arrives = 20'000;  // waited 10 s
  s.b_arrives = 25'000;  // waited 5 s, but its EWT (180 s AHT, one agent) is far longer
  s.b.predicted_wait = true;
  EXPECT_EQ(s.chosen(CallSelection::GreatestNeed), QueueIndex{1});
  s.b.predicted_wait = false;
  EXPECT_EQ(s.chosen(CallSelection::GreatestNeed), QueueIndex{0});
}

// The predicted wait sets greatest_need apart from every other rule, greatest_need on the head
// call's wait included: only it takes B's fresh call, whose queue's EWT is far beyond A's 10 s.
TEST(Selection, GreatestNeedWithThePredictedWaitChoosesAloneAmongTheRules) {
  TwoQueues s;
  s.a_arrives = 20'000;
  s.b_arrives = 25'000;
  s.b.predicted_wait = true;
  expect_only(s, CallSelection::GreatestNeed, 1);
  s.b.predicted_wait = false;
  EXPECT_EQ(s.chosen(CallSelection::GreatestNeed), QueueIndex{0});
}

// Queue ratio: with shares 1:3 and no agent won yet, B is furthest below its share, though A's
// call waited longer.
TEST(Selection, QueueRatioFollowsTheShares) {
  TwoQueues s;
  s.a.share = 1;
  s.b.share = 3;
  s.a_arrives = 15'000;
  s.b_arrives = 25'000;
  expect_only(s, CallSelection::QueueRatio, 1);
}

// Queue ratio over many contested agents: shares 1:3 give A one in four.
TEST(Selection, QueueRatioSplitsContestedAgentsByShare) {
  TwoQueues s;
  s.a.share = 1;
  s.b.share = 3;
  EngineConfig c = s.config(CallSelection::QueueRatio);
  Harness h(c);
  for (CallId id = 1; id <= 40; ++id) {
    h.route(id, id % 2 == 0 ? 0 : 1, id);
  }
  h.sign_in_ready(0, 100);
  std::array<int, 2> won{};
  std::uint64_t t = 1'000;
  for (int i = 0; i < 16; ++i) {
    const Decision* offer = h.find(DecisionType::Offer);
    ASSERT_NE(offer, nullptr);
    ++won[offer->queue];
    const CallId id = offer->call;
    h.call_event(EventType::CallAnswered, id, t += 10);
    h.call_event(EventType::CallReleased, id, t += 10);
  }
  EXPECT_EQ(won[0], 4);
  EXPECT_EQ(won[1], 12);
}

// Weighted wait: A's wait weighs five times B's, so its 5 s beat B's 15 s.
TEST(Selection, WeightedWaitAppliesTheCoefficients) {
  TwoQueues s;
  s.a.wait_weight = 5'000;
  s.a_arrives = 25'000;
  s.b_arrives = 15'000;
  expect_only(s, CallSelection::WeightedWait, 0);
}

// Weighted wait's idle term: a queue that has gone long without an agent gains on one just served.
// A's oldest call waited 29 s, B's 20 s; but A had an agent at 20 s and B none since its call came.
// Only weighted_wait on the idle time takes B's call; every other rule takes A's older one.
std::optional<QueueIndex> idle_choice(CallSelection rule) {
  TwoQueues s;
  s.a.wait_weight = 0;
  s.b.wait_weight = 0;
  s.a.idle_weight = 1'000;
  s.b.idle_weight = 1'000;
  EngineConfig c = s.config(rule);
  c.agents.push_back(make_agent(101, {{0, 5, 0}}));  // serves A only
  Harness h(c);
  h.route(1, 0, 1'000);        // A's oldest call
  h.route(3, 1, 10'000);       // B's call: newer, but B has had no agent since
  h.route(2, 0, 19'000, 5);    // A's urgent call ...
  h.sign_in_ready(1, 20'000);  // ... served at 20 s
  const Decision* served = h.find(DecisionType::Offer);
  if (served == nullptr || served->call != 2u) {
    return std::nullopt;
  }
  h.sign_in_ready(0, 30'000);  // A unserved for 10 s, B for 20 s
  const Decision* offer = h.find(DecisionType::Offer);
  if (offer == nullptr) {
    return std::nullopt;
  }
  return offer->queue;
}

TEST(Selection, WeightedWaitIdleTermFavoursTheUnservedQueue) {
  for (CallSelection r : kRules) {
    const std::optional<QueueIndex> q = idle_choice(r);
    ASSERT_TRUE(q.has_value()) << to_string(r);
    EXPECT_EQ(*q, r == CallSelection::WeightedWait ? 1u : 0u) << to_string(r);
  }
}

// Skill preference by proficiency: the agent (A 6, B 9) takes B's fresh call before A's older
// one; without a preference it takes A's.
TEST(Selection, PreferenceServesPrimarySkillFirst) {
  TwoQueues s;
  s.agent = make_agent(100, {{0, 6, 0}, {1, 9, 0}});
  s.a_arrives = 15'000;
  s.b_arrives = 29'000;
  EXPECT_EQ(s.chosen(CallSelection::AgedPriority), QueueIndex{0});
  s.agent.preference = AgentPreference::Proficiency;
  EXPECT_EQ(s.chosen(CallSelection::AgedPriority), QueueIndex{1});
  // An explicit order puts A first again.
  s.agent.preference = AgentPreference::Order;
  s.agent.preference_order = {0, 1};
  s.a_arrives = 29'000;
  s.b_arrives = 15'000;
  EXPECT_EQ(s.chosen(CallSelection::AgedPriority), QueueIndex{0});
}

// Reserve agents: once A's call has waited past A's reserve threshold, A takes the agent for whom
// it is secondary; before, it waits its turn.
TEST(Selection, ReserveThresholdLetsAQueueInTroubleTakeTheAgent) {
  TwoQueues s;
  s.agent = make_agent(100, {{0, 6, 0}, {1, 9, 0}});
  s.agent.preference = AgentPreference::Proficiency;
  s.a_arrives = 15'000;  // waited 15 s at kReady
  s.b_arrives = 29'000;
  s.a.reserve_after_ms = 20'000;
  EXPECT_EQ(s.chosen(CallSelection::AgedPriority), QueueIndex{1});
  s.a.reserve_after_ms = 10'000;
  EXPECT_EQ(s.chosen(CallSelection::AgedPriority), QueueIndex{0});
}

// Expanding requirements: floor 8 at first, 5 from 20 s, any from 60 s. A level-5 agent gets the
// call when it has waited 20 s (by the call's timer), a level-3 agent a call that waited 60 s,
// and a level-8 agent at once.
TEST(Selection, ExpandingRequirementRelaxesByTimer) {
  EngineConfig c;
  c.skill_count = 1;
  QueueConfig q = make_queue("q", {{0, 1, 0}});
  q.expand = {{0, 8}, {20'000, 5}, {60'000, 1}};
  c.queues = {q};
  c.agents = {make_agent(100, {{0, 5, 0}}), make_agent(101, {{0, 3, 0}}),
              make_agent(102, {{0, 8, 0}})};
  Harness h(c);
  h.sign_in_ready(0, 0);
  h.sign_in_ready(1, 0);
  h.route(1, 0, 1'000);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  h.tick(20'999);
  EXPECT_EQ(h.find(DecisionType::Offer), nullptr);
  h.tick(21'000);
  const Decision* offer = h.find(DecisionType::Offer);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->agent, 0u);
  h.call_event(EventType::CallAnswered, 1, 21'500);
  h.route(2, 0, 22'000);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  h.tick(81'999);
  EXPECT_EQ(h.find(DecisionType::Offer), nullptr);
  h.tick(82'000);
  offer = h.find(DecisionType::Offer);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->agent, 1u);
  h.sign_in_ready(2, 90'000);
  h.route(3, 0, 90'000);
  offer = h.find(DecisionType::Offer);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->agent, 2u);
}

// The same floor on the other path: an agent becoming free takes only calls whose floor it meets.
TEST(Selection, ExpandingRequirementWhenAnAgentFreesUp) {
  EngineConfig c;
  c.skill_count = 1;
  QueueConfig q = make_queue("q", {{0, 1, 0}});
  q.expand = {{0, 8}, {20'000, 5}};
  c.queues = {q};
  c.agents = {make_agent(100, {{0, 5, 0}})};
  {
    Harness h(c);
    h.route(1, 0, 0);
    h.sign_in_ready(0, 10'000);
    EXPECT_EQ(h.find(DecisionType::Offer), nullptr);
  }
  Harness h(c);
  h.route(1, 0, 0);
  h.sign_in_ready(0, 25'000);
  EXPECT_NE(h.find(DecisionType::Offer), nullptr);
}

// A reload that changes the rule applies to the next choice, and the standby (snapshot, then the
// same reload) decides the same.
TEST(Selection, ReloadChangesTheRule) {
  TwoQueues s;
  s.a_arrives = 29'000;
  s.a_priority = 5;
  s.b_arrives = 15'000;
  Harness h(s.config(CallSelection::AgedPriority));
  h.route(2, 1, s.b_arrives);
  h.route(1, 0, s.a_arrives, 5);
  Engine standby(s.config(CallSelection::AgedPriority));
  ASSERT_TRUE(standby.restore(h.engine().snapshot()));
  const EngineConfig next = s.config(CallSelection::GreatestNeed);
  ASSERT_TRUE(h.engine().reconfigure(next));
  ASSERT_TRUE(standby.reconfigure(next));
  EXPECT_EQ(h.engine().state_hash(), standby.state_hash());
  h.sign_in_ready(0, TwoQueues::kReady);
  const Decision* offer = h.find(DecisionType::Offer);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->queue, 1u);  // greatest need; aged priority would take A
  Event e;
  e.type = EventType::AgentSignIn;
  e.agent = 0;
  e.time = TwoQueues::kReady * 1000;
  standby.apply(e, [](const Decision&) {});
  e.type = EventType::AgentReady;
  standby.apply(e, [](const Decision&) {});
  EXPECT_EQ(h.engine().state_hash(), standby.state_hash());
}

// Bad selection settings are refused with a reason.
TEST(Selection, ValidationNamesTheProblem) {
  TwoQueues s;
  s.a.share = 0;
  s.b.expand = {{20'000, 5}, {10'000, 3}};
  s.agent.preference_order = {1};
  const auto errors = validate_config(s.config(CallSelection::AgedPriority));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("share"), std::string::npos);
  EXPECT_NE(errors[1].find("after_s"), std::string::npos);
  EXPECT_NE(errors[2].find("preference"), std::string::npos);
}

}  // namespace
}  // namespace acd::router::testing
