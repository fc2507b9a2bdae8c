// Behaviour of the routing engine, one capability per test.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>

#include "engine_fixture.hpp"

namespace acd::router::testing {
namespace {

constexpr SkillId kCards = 0;
constexpr SkillId kLoans = 1;
constexpr SkillId kEnglish = 2;

// Two queues (cards, loans) and four agents with different skills.
EngineConfig two_queue_centre(Policy policy = Policy::LongestIdle) {
  EngineConfig c;
  c.skill_count = 3;
  c.max_calls = 64;
  c.queues.push_back(make_queue("cards", {{kCards, 1, 0}}, policy));
  c.queues.push_back(make_queue("loans", {{kLoans, 3, 0}}, policy));
  c.agents.push_back(make_agent(101, {{kCards, 5, 0}}));
  c.agents.push_back(make_agent(102, {{kCards, 9, 0}, {kLoans, 2, 0}}));
  c.agents.push_back(make_agent(103, {{kLoans, 7, 0}, {kEnglish, 5, 0}}));
  c.agents.push_back(make_agent(104, {{kCards, 3, 0}, {kLoans, 4, 0}, {kEnglish, 8, 0}}));
  return c;
}

// Sign-in records the device and time, and leaves the agent not ready until it says so [4.1.1 a].
TEST(Engine, SignInRecordsDeviceAndStartsNotReady) {
  Harness h(two_queue_centre());
  Event e;
  e.type = EventType::AgentSignIn;
  e.agent = 0;
  e.device = 8001;
  h.send(e, 5);
  EXPECT_EQ(h.state(0), AgentState::NotReady);
  EXPECT_EQ(h.engine().agent(0).device, 8001u);
  EXPECT_EQ(h.engine().agent(0).signed_in_at, 5000u);
  EXPECT_EQ(h.engine().agent(0).not_ready_reason, kReasonSignIn);
  h.agent_event(EventType::AgentSignOut, 0, 6);
  EXPECT_EQ(h.state(0), AgentState::LoggedOut);
}

// Only a ready agent is offered a call [4.1.1 c]: a not-ready agent leaves the call queued.
TEST(Engine, OnlyReadyAgentIsOffered) {
  Harness h(two_queue_centre());
  h.agent_event(EventType::AgentSignIn, 0, 1);
  h.route(1, 0, 2);
  ASSERT_NE(h.find(DecisionType::Queued), nullptr);
  h.agent_event(EventType::AgentReady, 0, 3);
  const Decision* offer = h.find(DecisionType::Offer);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->call, 1u);
  EXPECT_EQ(offer->agent, 0u);
  EXPECT_EQ(h.state(0), AgentState::Reserved);
}

// Longest-idle: of several ready agents the one ready longest gets the call.
TEST(Engine, LongestIdleAgentFirst) {
  Harness h(two_queue_centre());
  h.sign_in_ready(1, 10);
  h.sign_in_ready(0, 20);
  h.sign_in_ready(3, 30);
  h.route(1, 0, 40);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 1u);
  h.route(2, 0, 41);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 0u);
}

// A queue's minimum proficiency keeps under-skilled agents out; a call's extra skill (language)
// picks the agent that has it.
TEST(Engine, ProficiencyAndLanguageDecideWhoMayServe) {
  Harness h(two_queue_centre());
  h.sign_in_ready(1, 1);  // loans level 2 < 3: not a loans agent
  h.route(1, 1, 2);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  h.sign_in_ready(2, 3);  // loans 7: takes it
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 2u);

  h.sign_in_ready(0, 4);
  Event e;
  e.type = EventType::RouteRequest;
  e.call = 2;
  e.queue = 0;
  e.language = kEnglish;
  h.send(e, 5);  // agent 0 (no English) is idle longer, but only agent 3 speaks English
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
  h.sign_in_ready(3, 6);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 3u);
}

// Priorities first, FIFO inside a priority; positions and EWT are reported.
TEST(Engine, PriorityThenFifoWithPositions) {
  Harness h(two_queue_centre());
  h.agent_event(EventType::AgentSignIn, 0, 0);  // staffed but not ready: EWT is known
  h.route(1, 0, 1, 0);
  EXPECT_EQ(h.find(DecisionType::Queued)->position, 1u);
  h.route(2, 0, 2, 0);
  EXPECT_EQ(h.find(DecisionType::Queued)->position, 2u);
  h.route(3, 0, 3, 7);
  EXPECT_EQ(h.find(DecisionType::Queued)->position, 1u);
  EXPECT_GT(h.find(DecisionType::Queued)->ewt_ms, 0u);
  EXPECT_EQ(h.engine().call(1)->position, 2u);
  EXPECT_EQ(h.engine().call(2)->position, 3u);
  h.agent_event(EventType::AgentReady, 0, 4);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 3u);
}

// Ring-no-answer: the call returns to its original place, the agent to not ready "no answer".
TEST(Engine, RingNoAnswerRequeuesAtOriginalPlace) {
  EngineConfig c = two_queue_centre();
  c.queues[0].ring_timeout_ms = 10'000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.route(1, 0, 1);
  h.route(2, 0, 2);
  h.agent_event(EventType::AgentReady, 0, 3);
  ASSERT_EQ(h.find(DecisionType::Offer)->call, 1u);
  EXPECT_EQ(h.engine().call(2)->position, 1u);
  h.tick(10'002);
  EXPECT_EQ(h.find(DecisionType::RingNoAnswer), nullptr);
  h.tick(10'003);
  ASSERT_NE(h.find(DecisionType::RingNoAnswer), nullptr);
  EXPECT_EQ(h.engine().call(1)->state, CallState::Queued);
  EXPECT_EQ(h.engine().call(1)->position, 1u);
  EXPECT_EQ(h.engine().call(2)->position, 2u);
  EXPECT_EQ(h.state(0), AgentState::NotReady);
  EXPECT_EQ(h.engine().agent(0).not_ready_reason, kReasonNoAnswer);
  EXPECT_EQ(h.engine().agent_stats(0).no_answer, 1u);
  // A declined offer is handled the same way, and the next ready agent gets the call.
  h.sign_in_ready(1, 10'010);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 1u);
  h.call_event(EventType::OfferRejected, 1, 10'020);
  EXPECT_EQ(h.find(DecisionType::RingNoAnswer)->status, Status::OfferDeclined);
  EXPECT_EQ(h.engine().call(1)->position, 1u);
}

// A switch's ring-no-answer names the agent it rang: it re-routes the call at once (the next
// ready agent gets it, the first goes not ready "no answer"); a late report for an agent the
// call has already left changes nothing.
TEST(Engine, SwitchRingNoAnswerReroutesAtOnceOnlyForTheAgentRung) {
  EngineConfig c = two_queue_centre();
  c.queues[0].ring_timeout_ms = 10'000;
  Harness h(c);
  h.sign_in_ready(0, 0);
  h.route(1, 0, 1);
  ASSERT_EQ(h.find(DecisionType::Offer)->agent, 0u);
  h.sign_in_ready(1, 2);
  Event e;
  e.type = EventType::OfferRejected;
  e.call = 1;
  e.agent = 1;  // not the agent rung
  e.reason = kNoAnswerRangOut;
  ASSERT_NE(h.send(e, 3).empty(), true);
  ASSERT_NE(h.find(DecisionType::Error), nullptr);
  EXPECT_EQ(h.find(DecisionType::Error)->status, Status::WrongCallState);
  EXPECT_EQ(h.engine().call(1)->state, CallState::Ringing);
  EXPECT_EQ(h.state(1), AgentState::Ready);
  e.agent = 0;
  h.send(e, 4);
  ASSERT_NE(h.find(DecisionType::RingNoAnswer), nullptr);
  EXPECT_EQ(h.find(DecisionType::RingNoAnswer)->status, Status::RingTimeout);
  ASSERT_NE(h.find(DecisionType::Offer), nullptr);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 1u);
  EXPECT_EQ(h.state(0), AgentState::NotReady);
  EXPECT_EQ(h.engine().agent(0).not_ready_reason, kReasonNoAnswer);
  EXPECT_EQ(h.engine().agent_stats(0).no_answer, 1u);
  // The same report again (the call now rings agent 1) is refused; a busy phone is "declined".
  h.send(e, 5);
  EXPECT_EQ(h.find(DecisionType::Error)->status, Status::WrongCallState);
  EXPECT_EQ(h.state(1), AgentState::Reserved);
  e.agent = 1;
  e.reason = 2;  // busy
  h.send(e, 6);
  EXPECT_EQ(h.find(DecisionType::RingNoAnswer)->status, Status::OfferDeclined);
  EXPECT_EQ(h.engine().call(1)->state, CallState::Queued);
  EXPECT_EQ(h.state(1), AgentState::NotReady);
}

// Nobody signed in to a queue whose members exist: the call waits (someone may sign in), EWT
// unknown; its max wait fires by timer, not at once. Only an EWT arrival rule diverts it at once
// (an unknown EWT is above every threshold): that is how a centre asks for "nobody there: go".
TEST(Engine, NobodySignedInWaitsForMaxWaitUnlessAnEwtRuleDiverts) {
  EngineConfig c = two_queue_centre();
  c.queues[0].max_wait_ms = 30'000;
  c.queues[0].max_wait_action = OverflowAction::ToIvr;
  c.queues[0].max_wait_target = 9000;
  {
    Harness h(c);
    h.route(1, 0, 1);
    ASSERT_NE(h.find(DecisionType::Queued), nullptr);
    EXPECT_EQ(h.find(DecisionType::Queued)->ewt_ms, kUnknownEwt);
    EXPECT_EQ(h.engine().counters().unservable_calls, 0u);
    h.tick(30'000);
    EXPECT_EQ(h.find(DecisionType::Overflowed), nullptr);
    h.tick(30'001);
    ASSERT_NE(h.find(DecisionType::Overflowed), nullptr);
    EXPECT_EQ(h.find(DecisionType::Overflowed)->target, 9000u);
  }
  c.queues[0].overflow.push_back(
      OverflowRule{OverflowCondition::EwtAtLeast, OverflowAction::ToIvr, 600'000, 9001});
  Harness h(c);
  h.route(1, 0, 1);
  ASSERT_NE(h.find(DecisionType::Overflowed), nullptr);
  EXPECT_EQ(h.find(DecisionType::Overflowed)->target, 9001u);
}

// After-call work ends by WrapUpDone (disposition recorded) or by timeout, to Ready or to the
// not-ready the agent asked for during the call [4.1.1 e2].
TEST(Engine, WrapUpEndsByDispositionOrTimeout) {
  EngineConfig c = two_queue_centre();
  c.queues[0].wrap_up_ms = 30'000;
  Harness h(c);
  h.sign_in_ready(0, 0);
  h.route(1, 0, 1);
  h.call_event(EventType::CallAnswered, 1, 2);
  EXPECT_EQ(h.state(0), AgentState::Busy);
  h.call_event(EventType::CallReleased, 1, 100);
  EXPECT_EQ(h.state(0), AgentState::WrapUp);
  Event done;
  done.type = EventType::WrapUpDone;
  done.agent = 0;
  done.reason = 42;
  done.device = 777;  // note reference
  h.send(done, 200);
  const Decision* rec = h.find(DecisionType::WrapUpRecorded);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->reason, 42);
  EXPECT_EQ(rec->number, 777u);
  EXPECT_EQ(rec->call, 1u);
  EXPECT_EQ(h.state(0), AgentState::Ready);

  // Not ready asked during the call takes effect when the wrap-up times out.
  h.route(2, 0, 300);
  h.call_event(EventType::CallAnswered, 2, 301);
  h.agent_event(EventType::AgentNotReady, 0, 302, 7);
  EXPECT_EQ(h.state(0), AgentState::Busy);
  EXPECT_TRUE(h.engine().agent(0).pending_not_ready);
  h.call_event(EventType::CallReleased, 2, 400);
  EXPECT_EQ(h.state(0), AgentState::WrapUp);
  h.tick(30'399);
  EXPECT_EQ(h.state(0), AgentState::WrapUp);
  h.tick(30'400);
  EXPECT_EQ(h.find(DecisionType::WrapUpRecorded)->status, Status::WrapUpTimedOut);
  EXPECT_EQ(h.state(0), AgentState::NotReady);
  EXPECT_EQ(h.engine().agent(0).not_ready_reason, 7);
}

// Supervisor force-ready ends not-ready; force-logout signs out and requeues a ringing call.
TEST(Engine, SupervisorForceReadyAndForceLogout) {
  Harness h(two_queue_centre());
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.agent_event(EventType::ForceReady, 0, 1);
  EXPECT_EQ(h.state(0), AgentState::Ready);
  h.route(1, 0, 2);
  EXPECT_EQ(h.state(0), AgentState::Reserved);
  h.agent_event(EventType::ForceLogout, 0, 3);
  EXPECT_EQ(h.state(0), AgentState::LoggedOut);
  EXPECT_EQ(h.engine().call(1)->state, CallState::Queued);
  EXPECT_EQ(h.find(DecisionType::RingNoAnswer)->status, Status::AgentLeft);
}

// An agent with a call in progress cannot sign out; the refusal changes nothing.
TEST(Engine, SignOutRefusedWithActiveCall) {
  Harness h(two_queue_centre());
  h.sign_in_ready(0, 0);
  h.route(1, 0, 1);
  h.call_event(EventType::CallAnswered, 1, 2);
  const std::uint64_t before = h.engine().state_hash();
  h.agent_event(EventType::AgentSignOut, 0, 2);  // same time: time itself is state
  EXPECT_EQ(h.find(DecisionType::Error)->status, Status::AgentHasCalls);
  EXPECT_EQ(h.engine().state_hash(), before);
}

// Chat capacity: up to N chats at once, one offer at a time, no voice call beside a chat.
TEST(Engine, ChatCapacityAndVoiceExclusive) {
  EngineConfig c = two_queue_centre();
  c.queues.push_back(make_queue("chat", {{kCards, 1, 0}}));
  c.queues[2].media = Media::Chat;
  c.agents[0].capacity = {1, 2, 0, 0};
  Harness h(c);
  h.sign_in_ready(0, 0);
  h.route(1, 2, 1, 0, Media::Chat);
  ASSERT_NE(h.find(DecisionType::Offer), nullptr);
  h.route(2, 2, 2, 0, Media::Chat);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);  // one offer at a time
  h.call_event(EventType::CallAnswered, 1, 3);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 2u);
  h.call_event(EventType::CallAnswered, 2, 4);
  h.route(3, 2, 5, 0, Media::Chat);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);  // capacity 2 reached
  h.route(4, 0, 6);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);  // no voice beside chats
  EXPECT_EQ(h.engine().agent(0).load[1], 2);
  h.call_event(EventType::CallReleased, 1, 7);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 3u);
  // A voice call with the wrong media for its queue is refused.
  h.route(5, 2, 8, 0, Media::Voice);
  EXPECT_EQ(h.find(DecisionType::Error)->status, Status::MediaMismatch);
}

// One centre where the five selection policies disagree: five agents on one queue, each the
// choice of exactly one policy. Agent 0 is the most skilled; agent 1 has been ready longest;
// agent 2 took the fewest calls today; agent 3 talked least; agent 4 comes after the last agent
// chosen (3). Returns the agents offered the next two calls.
std::vector<AgentIndex> policy_picks(Policy policy) {
  EngineConfig c;
  c.skill_count = 1;
  c.max_calls = 64;
  c.queues.push_back(make_queue("cards", {{kCards, 1, 0}}, policy));
  const std::uint8_t proficiency[] = {9, 5, 4, 3, 2};
  for (AgentIndex a = 0; a < 5; ++a) {
    c.agents.push_back(make_agent(201 + a, {{kCards, proficiency[a], 0}}));
  }
  Harness h(c);
  for (AgentIndex a = 0; a < 5; ++a) {
    h.agent_event(EventType::AgentSignIn, a, 1);
  }
  // Today's work, one agent at a time (the only one ready, so every policy picks it; the last
  // call, agent 3's, leaves the round-robin cursor on agent 3): calls and talk seconds per agent
  // 0: 2 / 40, 1: 2 / 40, 2: 1 / 100, 3: 3 / 3, 4: 2 / 40.
  const std::vector<std::uint64_t> talk_ms[] = {
      {20'000, 20'000}, {20'000, 20'000}, {100'000}, {1'000, 1'000, 1'000}, {20'000, 20'000}};
  const AgentIndex order[] = {0, 1, 2, 4, 3};
  std::uint64_t t = 1'000;
  CallId call = 1;
  for (const AgentIndex a : order) {
    h.agent_event(EventType::AgentReady, a, t);
    for (const std::uint64_t talk : talk_ms[a]) {
      h.route(call, 0, ++t);
      const Decision* offer = h.find(DecisionType::Offer);
      EXPECT_TRUE(offer != nullptr && offer->agent == a) << "history call " << call;
      h.call_event(EventType::CallAnswered, call, ++t);
      t += talk;
      h.call_event(EventType::CallReleased, call, t);
      ++call;
    }
    h.agent_event(EventType::AgentNotReady, a, ++t, 5);
    t += 1'000;
  }
  // Ready again, agent 1 first, a second apart (well apart at the ~1 ms resolution of the keys).
  for (const AgentIndex a : {1u, 0u, 2u, 3u, 4u}) {
    t += 1'000;
    h.agent_event(EventType::AgentReady, a, t);
  }
  std::vector<AgentIndex> picks;
  for (int n = 0; n < 2; ++n) {
    h.route(call++, 0, t += 1'000);
    const Decision* offer = h.find(DecisionType::Offer);
    picks.push_back(offer != nullptr ? offer->agent : kNone);
  }
  return picks;
}

// A chat agent whose chat ends while it still has room for another goes to the back of the line:
// its idle time starts anew, as if it had just become free.
TEST(Engine, ChatEndingWithRoomLeftGoesToTheBackOfTheLine) {
  EngineConfig c = two_queue_centre();
  c.queues.push_back(make_queue("chat", {{kCards, 1, 0}}));
  c.queues[2].media = Media::Chat;
  c.agents[0].capacity = {0, 2, 0, 0};
  c.agents[1].capacity = {0, 2, 0, 0};
  Harness h(c);
  h.sign_in_ready(0, 1);
  h.route(1, 2, 2, 0, Media::Chat);
  ASSERT_EQ(h.find(DecisionType::Offer)->agent, 0u);
  h.call_event(EventType::CallAnswered, 1, 3);  // agent 0 is back in line, room for one more
  h.sign_in_ready(1, 4);                        // agent 1 joins the line behind it
  h.call_event(EventType::CallReleased, 1, 5);  // agent 0 free anew: behind agent 1
  h.route(2, 2, 6, 0, Media::Chat);
  ASSERT_NE(h.find(DecisionType::Offer), nullptr);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 1u);
}

// Agents leaving the line and coming back leave stale entries in the queue's ring, many more than
// it has room for; full, it is compacted, and the line stays the order agents became free in.
TEST(Engine, RingCompactionKeepsTheLine) {
  Harness h(two_queue_centre());
  const std::array<AgentIndex, 3> cards = {0, 1, 3};  // the cards queue's members
  for (AgentIndex a : cards) {
    h.sign_in_ready(a, 1);
  }
  std::uint64_t t = 2;
  std::array<AgentIndex, 3> order = cards;
  for (int round = 0; round < 40; ++round) {
    std::rotate(order.begin(), order.begin() + 1 + round % 2, order.end());
    for (AgentIndex a : order) {
      h.agent_event(EventType::AgentNotReady, a, t++);
      h.agent_event(EventType::AgentReady, a, t++);
    }
  }
  for (CallId call = 1; call <= 3; ++call) {
    h.route(call, 0, t++);
    ASSERT_NE(h.find(DecisionType::Offer), nullptr);
    EXPECT_EQ(h.find(DecisionType::Offer)->agent, order[call - 1]) << "call " << call;
  }
}

// Each selection policy makes its own first choice in a centre where every other policy would
// choose someone else (so a queue served by the wrong policy fails here); the second choice
// shows round robin wrapping around and the longest-idle tie-break of the balancing policies.
TEST(Engine, SelectionPolicies) {
  const std::pair<Policy, std::vector<AgentIndex>> expected[] = {{Policy::LongestIdle, {1, 0}},
                                                                 {Policy::MostSkilled, {0, 1}},
                                                                 {Policy::RoundRobin, {4, 0}},
                                                                 {Policy::FewestCalls, {2, 1}},
                                                                 {Policy::LeastTalkTime, {3, 1}}};
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    for (std::size_t j = i + 1; j < std::size(expected); ++j) {
      ASSERT_NE(expected[i].second.front(), expected[j].second.front()) << "scenario too weak";
    }
  }
  for (const auto& [policy, picks] : expected) {
    EXPECT_EQ(policy_picks(policy), picks) << to_string(policy);
  }
}

// Least needed against every other policy: cards has two ready agents; agent 0 (ready longest,
// most skilled, first by index, and as idle of calls and talk as agent 1) also covers mortgages,
// where it is the only ready agent; agent 1 also covers loans, where agent 2 is ready too. Every
// other policy offers the cards call to agent 0 and leaves mortgages uncovered; least needed offers
// it to agent 1, whose leaving still leaves loans an agent. A dedicated agent, ready last, is taken
// before both.
TEST(Engine, LeastNeededKeepsCoverForTheOtherQueues) {
  constexpr SkillId kMortgages = 2;
  auto centre = [](Policy policy) {
    EngineConfig c;
    c.skill_count = 3;
    c.max_calls = 64;
    c.queues.push_back(make_queue("cards", {{kCards, 1, 0}}, policy));
    c.queues.push_back(make_queue("loans", {{kLoans, 1, 0}}));
    c.queues.push_back(make_queue("mortgages", {{kMortgages, 1, 0}}));
    c.agents.push_back(make_agent(201, {{kCards, 9, 0}, {kMortgages, 5, 0}}));
    c.agents.push_back(make_agent(202, {{kCards, 5, 0}, {kLoans, 5, 0}}));
    c.agents.push_back(make_agent(203, {{kLoans, 5, 0}}));
    c.agents.push_back(make_agent(204, {{kCards, 1, 0}}));
    return c;
  };
  auto first_pick = [&](Policy policy, bool with_dedicated) {
    Harness h(centre(policy));
    const AgentIndex ready = with_dedicated ? 4 : 3;
    for (AgentIndex a = 0; a < ready; ++a) {
      h.agent_event(EventType::AgentSignIn, a, 1);
      h.agent_event(EventType::AgentReady, a, 1'000 * (a + 1));
    }
    h.route(1, 0, 10'000);
    const Decision* offer = h.find(DecisionType::Offer);
    return offer != nullptr ? offer->agent : kNone;
  };
  for (const Policy p : {Policy::LongestIdle, Policy::MostSkilled, Policy::RoundRobin,
                         Policy::FewestCalls, Policy::LeastTalkTime}) {
    EXPECT_EQ(first_pick(p, false), 0u) << to_string(p);
  }
  EXPECT_EQ(first_pick(Policy::LeastNeeded, false), 1u);
  EXPECT_EQ(first_pick(Policy::LeastNeeded, true), 3u);
  EXPECT_EQ(first_pick(Policy::LongestIdle, true), 0u);
}

// An agent serving two queues takes the higher priority first, then the longer wait relative
// to each queue's service-level threshold.
TEST(Engine, BestCallAcrossQueues) {
  EngineConfig c = two_queue_centre();
  c.queues[0].sl_threshold_ms = 10'000;
  c.queues[1].sl_threshold_ms = 60'000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 3, 0);  // serves cards and loans
  h.route(1, 1, 0);                             // loans, waits 30 s by t=30 s: 0.5 of its threshold
  h.route(2, 0, 20'000);                        // cards, waits 10 s: 1.0 of its threshold
  h.agent_event(EventType::AgentReady, 3, 30'000);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 2u);
  h.call_event(EventType::CallAnswered, 2, 30'001);
  h.call_event(EventType::CallReleased, 2, 30'002);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 1u);
  h.call_event(EventType::CallAnswered, 1, 30'003);
  h.call_event(EventType::CallReleased, 1, 30'004);
  // Priority beats a longer weighted wait.
  h.agent_event(EventType::AgentNotReady, 3, 30'005, 4);
  h.route(3, 0, 30'006, 0);
  h.route(4, 1, 40'000, 3);
  h.agent_event(EventType::AgentReady, 3, 50'000);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 4u);
}

// Overflow on queue length and on EWT at arrival, on wait time by timer, max wait last, and a
// loop of queues ends after max_overflow_hops.
TEST(Engine, OverflowRules) {
  EngineConfig c = two_queue_centre();
  c.queues[0].overflow = {{OverflowCondition::QueueLengthAtLeast, OverflowAction::ToQueue, 2, 1},
                          {OverflowCondition::WaitAtLeast, OverflowAction::ToIvr, 30'000, 9}};
  c.queues[1].overflow = {{OverflowCondition::EwtAtLeast, OverflowAction::Callback, 600'000, 0}};
  c.queues[1].max_wait_ms = 120'000;
  c.queues[1].max_wait_action = OverflowAction::ToSite;
  c.queues[1].max_wait_target = 2;
  c.queues[1].expected_aht_ms = 300'000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 2, 0);  // loans staffed by one (EWT known)
  h.route(1, 0, 1);
  h.route(2, 0, 2);
  h.route(3, 0, 3);  // two waiting in cards: overflows to loans, where EWT = 1 x 300 s
  const Decision* moved = h.find(DecisionType::Overflowed);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->action, OverflowAction::ToQueue);
  EXPECT_EQ(h.engine().call(3)->queue, 1u);
  h.route(4, 1, 4);  // loans: position 2, EWT 600 s: callback
  EXPECT_EQ(h.find(DecisionType::Overflowed)->action, OverflowAction::Callback);
  EXPECT_FALSE(h.engine().call(4).has_value());
  h.tick(30'000);
  EXPECT_EQ(h.find(DecisionType::Overflowed), nullptr);
  h.tick(30'001);  // cards calls 1 (t=1) waited 30 s: IVR
  EXPECT_EQ(h.find(DecisionType::Overflowed)->action, OverflowAction::ToIvr);
  EXPECT_EQ(h.find(DecisionType::Overflowed)->target, 9u);
  h.tick(30'002);  // and call 2
  EXPECT_EQ(h.find(DecisionType::Overflowed)->call, 2u);
  h.tick(130'000);  // call 3 entered loans at 3 ms: max wait 120 s to site 2
  EXPECT_EQ(h.find(DecisionType::Overflowed)->action, OverflowAction::ToSite);
  EXPECT_EQ(h.find(DecisionType::Overflowed)->call, 3u);
  EXPECT_EQ(h.engine().queue_stats(0).overflowed_out, 3u);

  EngineConfig loop = two_queue_centre();
  loop.max_overflow_hops = 3;
  loop.queues[0].overflow = {
      {OverflowCondition::QueueLengthAtLeast, OverflowAction::ToQueue, 0, 1}};
  loop.queues[1].overflow = {
      {OverflowCondition::QueueLengthAtLeast, OverflowAction::ToQueue, 0, 0}};
  Harness l(loop);
  l.route(1, 0, 1);
  int moves = 0;
  Decision last;
  for (const Decision& d : l.route(2, 0, 2)) {
    if (d.type == DecisionType::Overflowed) {
      ++moves;
      last = d;
    }
  }
  EXPECT_EQ(moves, 4);  // three moves between the queues, then busy
  EXPECT_EQ(last.status, Status::OverflowLoop);
  EXPECT_EQ(last.action, OverflowAction::Busy);
  EXPECT_FALSE(l.engine().call(1).has_value());
  EXPECT_FALSE(l.engine().call(2).has_value());
  EXPECT_EQ(l.engine().calls_in_engine(), 0u);
}

// Transfers three ways [4.1.1 d]: to a group, to a chosen agent, to a typed agent ID, with a
// clear result when the target cannot take it.
TEST(Engine, TransfersThreeWays) {
  EngineConfig c = two_queue_centre();
  c.queues[0].wrap_up_ms = 5'000;
  Harness h(c);
  h.sign_in_ready(0, 0);
  h.route(1, 0, 1);
  h.call_event(EventType::CallAnswered, 1, 2);

  Event t;
  t.type = EventType::TransferToAgentId;
  t.call = 1;
  t.number = 999;
  h.send(t, 3);
  EXPECT_EQ(h.find(DecisionType::TransferFailed)->status, Status::NoSuchAgent);
  t.number = 103;  // agent 2, signed out
  h.send(t, 4);
  EXPECT_EQ(h.find(DecisionType::TransferFailed)->status, Status::TargetLoggedOut);
  h.agent_event(EventType::AgentSignIn, 2, 5);
  h.send(t, 6);
  EXPECT_EQ(h.find(DecisionType::TransferFailed)->status, Status::TargetNotReady);
  t.number = 101;
  h.send(t, 6);
  EXPECT_EQ(h.find(DecisionType::TransferFailed)->status, Status::TargetIsSelf);
  EXPECT_EQ(h.state(0), AgentState::Busy);  // failures change nothing

  h.agent_event(EventType::AgentReady, 2, 7);
  t.number = 103;
  h.send(t, 8);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 2u);
  EXPECT_EQ(h.state(0), AgentState::WrapUp);
  EXPECT_EQ(h.engine().agent_stats(0).transfers_out, 1u);
  h.call_event(EventType::CallAnswered, 1, 9);

  // To a chosen agent who is busy.
  h.sign_in_ready(3, 10);
  h.route(2, 1, 11);  // loans call to agent 3 (agent 2 busy)
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 3u);
  Event chosen;
  chosen.type = EventType::TransferToAgent;
  chosen.call = 1;
  chosen.agent = 3;
  h.send(chosen, 12);
  EXPECT_EQ(h.find(DecisionType::TransferFailed)->status, Status::TargetBusy);

  // To a group: queued there, then offered when someone is free.
  Event group;
  group.type = EventType::TransferToQueue;
  group.call = 1;
  group.queue = 0;
  h.send(group, 13);
  EXPECT_EQ(h.find(DecisionType::Queued)->queue, 0u);
  EXPECT_EQ(h.engine().queue_stats(0).offered, 2u);
  h.tick(5'008);  // agent 0's wrap-up times out: it takes the transferred call
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 1u);
  EXPECT_EQ(h.find(DecisionType::Offer)->agent, 0u);
}

// Outbound [4.1.1 e1]: reserve a ready agent of a group or by ID; the reservation ends by answer,
// release or timeout.
TEST(Engine, OutboundReservations) {
  EngineConfig c = two_queue_centre();
  c.outbound_reserve_ms = 15'000;
  Harness h(c);
  Event out;
  out.type = EventType::OutboundToQueue;
  out.call = 500;
  out.queue = 0;
  h.send(out, 1);
  EXPECT_EQ(h.find(DecisionType::OutboundFailed)->status, Status::NoAgentAvailable);
  h.sign_in_ready(0, 2);
  h.send(out, 3);
  EXPECT_EQ(h.find(DecisionType::OutboundReserved)->agent, 0u);
  EXPECT_EQ(h.state(0), AgentState::Reserved);
  h.route(1, 0, 4);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);  // reserved agents take no inbound call
  h.tick(15'003);  // reservation times out; the agent goes back to ready and takes call 1
  EXPECT_EQ(h.find(DecisionType::OutboundFailed)->status, Status::RingTimeout);
  EXPECT_EQ(h.find(DecisionType::Offer)->call, 1u);

  Event by_id;
  by_id.type = EventType::OutboundToAgentId;
  by_id.call = 501;
  by_id.number = 102;
  h.send(by_id, 15'004);
  EXPECT_EQ(h.find(DecisionType::OutboundFailed)->status, Status::TargetLoggedOut);
  h.sign_in_ready(1, 15'005);
  h.send(by_id, 15'006);
  EXPECT_EQ(h.find(DecisionType::OutboundReserved)->agent, 1u);
  h.call_event(EventType::CallAnswered, 501, 15'010);
  EXPECT_EQ(h.state(1), AgentState::Busy);
  h.call_event(EventType::CallReleased, 501, 20'000);
  EXPECT_EQ(h.state(1), AgentState::Ready);
  EXPECT_EQ(h.engine().agent_stats(1).outbound, 1u);
}

// Abandoned while queued and while ringing; both count in the queue's statistics.
TEST(Engine, AbandonWhileQueuedOrRinging) {
  Harness h(two_queue_centre());
  h.route(1, 0, 1);
  h.call_event(EventType::CallAbandoned, 1, 5'000);
  EXPECT_EQ(h.find(DecisionType::CallEnded)->reason, 1);
  h.sign_in_ready(0, 6'000);
  h.route(2, 0, 6'001);
  h.call_event(EventType::CallReleased, 2, 6'500);  // hung up while ringing
  EXPECT_EQ(h.state(0), AgentState::Ready);
  EXPECT_EQ(h.engine().queue_stats(0).abandoned, 2u);
  EXPECT_EQ(h.engine().queue_stats(0).longest_wait_ms, 4'999u);
  h.call_event(EventType::CallAbandoned, 2, 6'600);
  EXPECT_EQ(h.find(DecisionType::Error)->status, Status::UnknownCall);
}

// Today's statistics: ASA, service level, AHT, hold, talk, ready and not-ready by reason [4.1.1
// e3].
TEST(Engine, StatisticsForToday) {
  EngineConfig c = two_queue_centre();
  c.queues[0].sl_threshold_ms = 20'000;
  c.queues[0].ring_timeout_ms = 60'000;
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.agent_event(EventType::AgentNotReady, 0, 0, 5);
  h.route(1, 0, 0);
  h.agent_event(EventType::AgentReady, 0, 10'000);
  h.call_event(EventType::CallAnswered, 1, 12'000);
  h.call_event(EventType::CallHeld, 1, 20'000);
  h.call_event(EventType::CallRetrieved, 1, 50'000);
  h.call_event(EventType::CallReleased, 1, 100'000);
  h.route(2, 0, 100'000);
  h.call_event(EventType::CallAnswered, 2, 100'000);
  h.call_event(EventType::CallReleased, 2, 130'000);
  h.route(3, 0, 130'000);  // offered, answered late
  h.call_event(EventType::CallAnswered, 3, 160'000);
  const QueueStats& q = h.engine().queue_stats(0);
  EXPECT_EQ(q.offered, 3u);
  EXPECT_EQ(q.answered, 3u);
  EXPECT_EQ(q.answered_in_sl, 2u);  // 12 s and 0 s; 30 s is outside
  EXPECT_EQ(q.wait_answered_ms, 12'000u + 0u + 30'000u);
  EXPECT_EQ(q.handled, 2u);
  EXPECT_EQ(q.handle_ms, 88'000u + 30'000u);
  const AgentStats& a = h.engine().agent_stats(0);
  EXPECT_EQ(a.offered, 3u);
  EXPECT_EQ(a.answered, 3u);
  EXPECT_EQ(a.hold_ms, 30'000u);
  EXPECT_EQ(a.talk_ms, 58'000u + 30'000u);
  EXPECT_EQ(a.not_ready_ms[5], 10'000u);
  EXPECT_EQ(a.reserved_ms, 2'000u + 30'000u);
  Event new_day;
  new_day.type = EventType::NewDay;
  h.send(new_day, 170'000);
  EXPECT_EQ(h.engine().queue_stats(0).offered, 0u);
  EXPECT_EQ(h.engine().agent_stats(0).answered, 0u);
}

// Private-data services need the caller's identity verified to the queue's level [4.1.2 a].
TEST(Engine, VerificationLevelRequired) {
  EngineConfig c = two_queue_centre();
  c.queues[1].min_verification = 2;
  Harness h(c);
  Event e;
  e.type = EventType::RouteRequest;
  e.call = 1;
  e.queue = 1;
  e.verification = 1;
  h.send(e, 1);
  EXPECT_EQ(h.find(DecisionType::Rejected)->status, Status::VerificationRequired);
  e.verification = 2;
  h.send(e, 2);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
}

// Malformed or out-of-place events give one Error and change nothing at all.
TEST(Engine, BadInputChangesNothing) {
  Harness h(two_queue_centre());
  h.sign_in_ready(0, 0);
  h.route(1, 0, 1);
  const std::uint64_t before = h.engine().state_hash();
  std::vector<std::pair<Event, Status>> cases;
  auto add = [&](EventType type, auto&& fill, Status expect) {
    Event e;
    e.type = type;
    fill(e);
    cases.emplace_back(e, expect);
  };
  add(
      EventType::AgentSignIn, [](Event& e) { e.agent = 99; }, Status::UnknownAgent);
  add(
      EventType::AgentSignIn, [](Event& e) { e.agent = 0; }, Status::AlreadySignedIn);
  add(
      EventType::AgentReady, [](Event& e) { e.agent = 1; }, Status::NotSignedIn);
  add(
      EventType::WrapUpDone, [](Event& e) { e.agent = 0; }, Status::WrongAgentState);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 0;
        e.queue = 0;
      },
      Status::InvalidCallId);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 7;
      },
      Status::UnknownQueue);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.priority = 16;
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.tier = 9;
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.skill_count = 5;
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.skill_count = 1;
        e.skills[0] = {50, 1, 0};
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.skill_count = 1;
        e.skills[0] = {0, 11, 0};
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 2;
        e.queue = 0;
        e.language = 77;
      },
      Status::BadField);
  add(
      EventType::RouteRequest,
      [](Event& e) {
        e.call = 1;
        e.queue = 0;
      },
      Status::DuplicateCall);
  add(
      EventType::CallAnswered, [](Event& e) { e.call = 42; }, Status::UnknownCall);
  add(
      EventType::CallHeld, [](Event& e) { e.call = 1; }, Status::WrongCallState);
  add(
      EventType::CallRetrieved, [](Event& e) { e.call = 1; }, Status::WrongCallState);
  add(
      EventType::TransferToQueue,
      [](Event& e) {
        e.call = 1;
        e.queue = 1;
      },
      Status::WrongCallState);
  add(
      EventType::TransferToAgent,
      [](Event& e) {
        e.call = 1;
        e.agent = 1000;
      },
      Status::UnknownAgent);
  add(
      EventType::OutboundToQueue,
      [](Event& e) {
        e.call = 1;
        e.queue = 0;
      },
      Status::DuplicateCall);
  add(
      EventType::OutboundToQueue,
      [](Event& e) {
        e.call = 9;
        e.queue = 5;
      },
      Status::UnknownQueue);
  add(
      static_cast<EventType>(200), [](Event&) {}, Status::BadField);
  for (const auto& [event, status] : cases) {
    const auto& out = h.send(event, 1);
    ASSERT_EQ(out.size(), 1u) << to_string(event.type);
    EXPECT_EQ(out[0].type, DecisionType::Error) << to_string(event.type);
    EXPECT_EQ(out[0].status, status)
        << to_string(event.type) << " gave " << to_string(out[0].status);
    EXPECT_EQ(h.engine().state_hash(), before) << to_string(event.type);
  }
}

// The call pool is sized from the configuration; when full, a new call is rejected cleanly.
TEST(Engine, FullCallPoolRejects) {
  EngineConfig c = two_queue_centre();
  c.max_calls = 2;
  Harness h(c);
  h.route(1, 0, 1);
  h.route(2, 0, 2);
  h.route(3, 0, 3);
  EXPECT_EQ(h.find(DecisionType::Rejected)->status, Status::CallPoolFull);
  h.call_event(EventType::CallAbandoned, 1, 4);
  h.route(3, 0, 5);
  EXPECT_NE(h.find(DecisionType::Queued), nullptr);
}

// A snapshot restores an equal engine; a damaged or foreign snapshot is refused and changes
// nothing.
TEST(Engine, SnapshotRestoreAndRefusal) {
  Harness a(two_queue_centre());
  a.sign_in_ready(0, 0);
  a.route(1, 0, 1);
  a.route(2, 0, 2);
  const std::vector<std::uint8_t> image = a.engine().snapshot();
  Harness b(two_queue_centre());
  const std::uint64_t fresh = b.engine().state_hash();
  std::vector<std::uint8_t> cut(image.begin(), image.end() - 1);
  EXPECT_FALSE(b.engine().restore(cut));
  Harness other(two_queue_centre(Policy::RoundRobin));
  EXPECT_FALSE(other.engine().restore(image));
  EXPECT_EQ(b.engine().state_hash(), fresh);
  ASSERT_TRUE(b.engine().restore(image));
  EXPECT_EQ(b.engine().state_hash(), a.engine().state_hash());
  EXPECT_EQ(b.engine().call(2)->position, 1u);
  a.call_event(EventType::CallAnswered, 1, 3);
  b.call_event(EventType::CallAnswered, 1, 3);
  EXPECT_EQ(b.engine().state_hash(), a.engine().state_hash());
}

// Live reconfiguration changes queue parameters in place (a waiting call follows a shorter max wait
// at once, new calls the new ring timeout) and refuses structural changes without touching state.
TEST(Engine, ReconfigureParametersInPlace) {
  EngineConfig c = two_queue_centre();
  Harness h(c);
  h.agent_event(EventType::AgentSignIn, 0, 0);
  h.route(1, 0, 0);
  h.tick(90'000);
  EngineConfig next = c;
  next.queues[0].max_wait_ms = 60'000;  // call 1 has waited 90 s already
  next.queues[0].max_wait_action = OverflowAction::Callback;
  next.queues[0].ring_timeout_ms = 5'000;
  next.queues[0].sl_threshold_ms = 30'000;
  ASSERT_TRUE(h.engine().reconfigure(next));
  EXPECT_EQ(h.engine().queue(0).sl_threshold_ms, 30'000u);
  h.tick(90'002);
  EXPECT_EQ(h.find(DecisionType::Overflowed)->action, OverflowAction::Callback);
  EXPECT_FALSE(h.engine().call(1).has_value());
  h.agent_event(EventType::AgentReady, 0, 90'003);
  h.route(2, 0, 90'004);
  ASSERT_EQ(h.find(DecisionType::Offer)->agent, 0u);
  h.tick(95'004);
  EXPECT_NE(h.find(DecisionType::RingNoAnswer), nullptr);  // the new 5 s ring timeout

  const std::uint64_t before = h.engine().state_hash();
  EngineConfig structural = next;
  structural.queues[0].policy = Policy::RoundRobin;
  EXPECT_FALSE(h.engine().reconfigure(structural));
  structural = next;
  structural.agents[0].skills[0].level = 9;
  EXPECT_FALSE(h.engine().reconfigure(structural));
  structural = next;
  structural.queues[1].ring_timeout_ms = 0;  // invalid
  EXPECT_FALSE(h.engine().reconfigure(structural));
  EXPECT_EQ(h.engine().state_hash(), before);
}

// Configuration errors are named, one sentence each.
// The goal of at most 1 KiB per agent, at 20 skills (and so 20 queues served) each: 10,000 agents,
// 100 queues of one skill each, skills drawn at random (no two agents alike, so nothing is shared),
// longest idle, and a call pool of 1,024 counted in.
TEST(EngineMemory, TwentySkillsPerAgentTakeAtMostOneKibibyte) {
  constexpr std::uint32_t kAgents = 10'000;
  constexpr std::uint32_t kSkills = 100;
  constexpr std::uint32_t kPerAgent = 20;
  EngineConfig c;
  c.skill_count = kSkills;
  c.max_calls = 1024;
  for (std::uint32_t s = 0; s < kSkills; ++s) {
    c.queues.push_back(make_queue("q" + std::to_string(s), {{static_cast<SkillId>(s), 1, 0}}));
  }
  std::mt19937_64 gen(7);
  std::vector<SkillId> all(kSkills);
  for (std::uint32_t s = 0; s < kSkills; ++s) {
    all[s] = static_cast<SkillId>(s);
  }
  for (std::uint32_t a = 0; a < kAgents; ++a) {
    std::shuffle(all.begin(), all.end(), gen);
    std::vector<SkillLevel> skills;
    for (std::uint32_t k = 0; k < kPerAgent; ++k) {
      skills.push_back(SkillLevel{all[k], static_cast<std::uint8_t>(1 + gen() % 10), 0});
    }
    c.agents.push_back(make_agent(100'000 + a, skills));
  }
  const Engine engine(c);
  const double per_agent = static_cast<double>(engine.memory_bytes()) / kAgents;
  EXPECT_LE(per_agent, 1024.0);
}

TEST(Engine, ConfigValidation) {
  EngineConfig c = two_queue_centre();
  c.queues[0].skills.push_back({40, 1, 0});
  c.queues[1].overflow = {{OverflowCondition::WaitAtLeast, OverflowAction::ToQueue, 10, 1}};
  c.agents[1].number = 101;
  c.agents[2].skills.push_back({kCards, 12, 0});
  const auto errors = validate_config(c);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].find("skill 40 is not defined"), std::string::npos);
  EXPECT_NE(errors[1].find("overflows into itself"), std::string::npos);
  EXPECT_NE(errors[2].find("used twice"), std::string::npos);
  EXPECT_NE(errors[3].find("proficiency must be 1..10"), std::string::npos);
}

}  // namespace
}  // namespace acd::router::testing
