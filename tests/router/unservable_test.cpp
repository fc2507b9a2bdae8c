// Calls that no agent of their queue could ever serve: EWT unknown, the queue's rules decide at
// once, and the preview says exactly what routing does.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>

#include "engine_fixture.hpp"

namespace acd::router::testing {
namespace {

constexpr SkillId kCards = 0;
constexpr SkillId kLoans = 1;
constexpr SkillId kEnglish = 2;
constexpr SkillId kFrench = 3;
constexpr SkillId kGerman = 4;

// Cards (0) and loans (1). English and French are each spoken by one cards agent; German only by
// a loans agent, so no cards agent serves German.
EngineConfig language_centre() {
  EngineConfig c;
  c.skill_count = 5;
  c.max_calls = 64;
  c.queues.push_back(make_queue("cards", {{kCards, 1, 0}}));
  c.queues.push_back(make_queue("loans", {{kLoans, 1, 0}}));
  c.agents.push_back(make_agent(101, {{kCards, 5, 0}}));
  c.agents.push_back(make_agent(102, {{kCards, 9, 0}, {kEnglish, 5, 0}}));
  c.agents.push_back(make_agent(103, {{kCards, 3, 0}, {kFrench, 4, 0}}));
  c.agents.push_back(make_agent(104, {{kLoans, 7, 0}, {kGerman, 9, 0}}));
  return c;
}

Event call_needing(CallId id, QueueIndex q, std::initializer_list<SkillRequirement> skills,
                   SkillId language = kNoSkill) {
  Event e;
  e.type = EventType::RouteRequest;
  e.call = id;
  e.queue = q;
  e.language = language;
  for (const SkillRequirement& s : skills) {
    e.skills[e.skill_count++] = s;
  }
  return e;
}

// Previews the request, then applies it at the same moment; both must give the same decisions
// (the offered agent's state change aside). Returns the applied ones.
std::vector<Decision> route_checked(Harness& h, const Event& e, std::uint64_t t_ms) {
  h.tick(t_ms);
  std::vector<Decision> previewed;
  h.engine().preview_route(e, [&](const Decision& d) { previewed.push_back(d); });
  std::vector<Decision> applied;
  for (const Decision& d : h.send(e, t_ms)) {
    if (d.type != DecisionType::AgentStateChanged) {
      applied.push_back(d);
    }
  }
  EXPECT_EQ(previewed.size(), applied.size()) << "call " << e.call;
  for (std::size_t k = 0; k < std::min(previewed.size(), applied.size()); ++k) {
    EXPECT_EQ(std::memcmp(&previewed[k], &applied[k], sizeof(Decision)), 0)
        << "call " << e.call << " decision " << k << ": preview " << to_string(previewed[k].type)
        << ", apply " << to_string(applied[k].type);
  }
  return applied;
}

// One skill no member has at the level asked: queued with EWT unknown though staffed, and counted.
TEST(Unservable, SingleSkillQueuesWithUnknownEwt) {
  Harness h(language_centre());
  h.agent_event(EventType::AgentSignIn, 1, 0);  // staffed, not ready
  auto out = route_checked(h, call_needing(1, 0, {{kEnglish, 7, 0}}), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Queued);
  EXPECT_EQ(out[0].ewt_ms, kUnknownEwt);
  EXPECT_EQ(h.engine().call(1)->ewt_ms, kUnknownEwt);
  EXPECT_EQ(h.engine().counters().unservable_calls, 1u);

  out = route_checked(h, call_needing(2, 0, {{kEnglish, 5, 0}}), 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Queued);
  EXPECT_NE(out[0].ewt_ms, kUnknownEwt);
  EXPECT_EQ(h.engine().counters().unservable_calls, 1u);
  h.agent_event(EventType::AgentReady, 1, 3);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 2u) << "the English-7 call is passed over";
}

// Skills each held by a different member, none by one, make a call unservable, in any order.
TEST(Unservable, CombinationHeldByNoSingleAgent) {
  Harness h(language_centre());
  h.agent_event(EventType::AgentSignIn, 0, 0);
  const Event pairs[] = {
      call_needing(1, 0, {{kEnglish, 1, 0}, {kFrench, 1, 0}}),
      call_needing(2, 0, {{kFrench, 2, 0}}, kEnglish),
      call_needing(3, 0, {{kCards, 9, 0}, {kEnglish, 1, 0}}),
      call_needing(4, 0, {{kFrench, 1, 0}, {kEnglish, 1, 0}, {kFrench, 4, 0}}),
  };
  const bool unservable[] = {true, true, false, true};
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 4; ++i) {
      Event e = pairs[i];
      e.call += static_cast<CallId>(round * 10);
      const auto out = route_checked(h, e, 1 + static_cast<std::uint64_t>(round * 10 + i));
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(out[0].type, DecisionType::Queued);
      EXPECT_EQ(out[0].ewt_ms == kUnknownEwt, unservable[i]) << "round " << round << " call " << i;
    }
  }
  EXPECT_EQ(h.engine().counters().unservable_calls, 6u);
}

// Members with the same skills at other levels are judged apart; a group of identical ones as one.
TEST(Unservable, SkillListsDifferingOnlyInLevelsStayApart) {
  EngineConfig c;
  c.skill_count = 5;
  c.max_calls = 16;
  c.queues.push_back(make_queue("cards", {{kCards, 1, 0}}));
  for (AgentNumber n = 201; n <= 203; ++n) {
    c.agents.push_back(make_agent(n, {{kCards, 5, 0}, {kEnglish, 3, 0}}));
  }
  c.agents.push_back(make_agent(204, {{kCards, 2, 0}, {kEnglish, 7, 0}}));
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  const Event calls[] = {
      call_needing(1, 0, {{kCards, 5, 0}, {kEnglish, 3, 0}}),
      call_needing(2, 0, {{kCards, 2, 0}, {kEnglish, 7, 0}}),
      call_needing(3, 0, {{kCards, 5, 0}, {kEnglish, 7, 0}}),
  };
  const bool unservable[] = {false, false, true};
  for (int i = 0; i < 3; ++i) {
    const auto out = route_checked(h, calls[i], 1 + static_cast<std::uint64_t>(i));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].ewt_ms == kUnknownEwt, unservable[i]) << "call " << calls[i].call;
  }
}

// A signed-out member with the skill makes a call servable: it waits normally and is taken.
TEST(Unservable, ServableBySignedOutAgentWaitsNormally) {
  EngineConfig c = language_centre();
  c.queues[0].max_wait_ms = 60'000;
  c.queues[0].max_wait_action = OverflowAction::ToIvr;
  Harness h(c);
  h.sign_in_ready(0, 0);  // ready, but no English
  auto out = route_checked(h, call_needing(1, 0, {}, kEnglish), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Queued);
  EXPECT_NE(out[0].ewt_ms, kUnknownEwt);
  out = route_checked(h, call_needing(2, 0, {}, kEnglish), 2);
  h.tick(60'000);
  EXPECT_EQ(h.find(DecisionType::Overflowed), nullptr);
  h.tick(60'001);
  ASSERT_NE(h.find(DecisionType::Overflowed), nullptr);
  EXPECT_EQ(h.find(DecisionType::Overflowed)->call, 1u);
  h.sign_in_ready(1, 60'001);
  ASSERT_NE(h.find(DecisionType::Offer), nullptr);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 2u);
  EXPECT_EQ(h.engine().counters().unservable_calls, 0u);
}

// An unservable call takes its first wait rule by threshold at once (max wait to a queue: moves).
TEST(Unservable, FirstWaitRuleAppliesAtOnce) {
  EngineConfig c = language_centre();
  c.queues[0].overflow = {{OverflowCondition::WaitAtLeast, OverflowAction::Callback, 30'000, 0}};
  c.queues[0].max_wait_ms = 120'000;
  c.queues[0].max_wait_action = OverflowAction::ToQueue;
  c.queues[0].max_wait_target = 1;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  auto out = route_checked(h, call_needing(1, 0, {}, kGerman), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Overflowed);
  EXPECT_EQ(out[0].action, OverflowAction::Callback);
  EXPECT_FALSE(h.engine().call(1).has_value());

  EngineConfig only_max_wait = language_centre();
  only_max_wait.queues[0].max_wait_ms = 120'000;
  only_max_wait.queues[0].max_wait_action = OverflowAction::ToQueue;
  only_max_wait.queues[0].max_wait_target = 1;
  Harness m(only_max_wait);
  m.sign_in_ready(3, 0);  // loans, German
  out = route_checked(m, call_needing(1, 0, {}, kGerman), 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, DecisionType::Overflowed);
  EXPECT_EQ(out[0].action, OverflowAction::ToQueue);
  EXPECT_EQ(out[0].target, 1u);
  EXPECT_EQ(out[1].type, DecisionType::Offer);
  EXPECT_EQ(out[1].agent, 3u);
  EXPECT_EQ(m.engine().queue_stats(0).overflowed_out, 1u);
}

// An EWT arrival rule hits an unservable call (its EWT is unknown) before any wait rule.
TEST(Unservable, EwtArrivalRuleHits) {
  EngineConfig c = language_centre();
  c.queues[0].overflow = {{OverflowCondition::EwtAtLeast, OverflowAction::Callback, 600'000, 0}};
  c.queues[0].max_wait_ms = 120'000;
  c.queues[0].max_wait_action = OverflowAction::ToIvr;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.agent_event(EventType::AgentSignIn, 2, 0);
  auto out = route_checked(h, call_needing(1, 0, {}, kGerman), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Overflowed);
  EXPECT_EQ(out[0].action, OverflowAction::Callback);
  out = route_checked(h, call_needing(2, 0, {}, kFrench), 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Queued);
  EXPECT_LT(out[0].ewt_ms, 600'000u);
}

// With no rule an unservable call waits for ever; a structural reload judges waiting calls again.
TEST(Unservable, NoRulesWaitsAndReloadJudgesAgain) {
  const EngineConfig c = language_centre();
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  auto out = route_checked(h, call_needing(1, 0, {{kCards, 2, 0}}, kGerman), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, DecisionType::Queued);
  EXPECT_EQ(out[0].ewt_ms, kUnknownEwt);
  out = route_checked(h, call_needing(2, 0, {}, kEnglish), 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].ewt_ms, kUnknownEwt);
  EXPECT_TRUE(h.tick(3'600'000).empty());
  EXPECT_EQ(h.engine().call(1)->ewt_ms, kUnknownEwt);

  EngineConfig next = c;
  next.agents[1].skills = {{kCards, 9, 0}};
  next.agents.push_back(make_agent(105, {{kCards, 4, 0}, {kGerman, 2, 0}}));
  Engine fresh(next);
  ASSERT_TRUE(fresh.take_over(h.engine(), [](const Decision&) {}).ok());
  std::string why;
  ASSERT_TRUE(fresh.check_invariants(&why)) << why;
  EXPECT_NE(fresh.call(1)->ewt_ms, kUnknownEwt);
  EXPECT_EQ(fresh.call(2)->ewt_ms, kUnknownEwt);
  std::vector<Decision> offers;
  auto sink = [&](const Decision& d) {
    if (d.type == DecisionType::Offer) {
      offers.push_back(d);
    }
  };
  Event e;
  e.time = 3'600'001'000;
  e.agent = 4;
  e.type = EventType::AgentSignIn;
  fresh.apply(e, sink);
  e.type = EventType::AgentReady;
  fresh.apply(e, sink);
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].call, 1u);
}

}  // namespace
}  // namespace acd::router::testing
