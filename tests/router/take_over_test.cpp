// Structural reload (Engine::take_over) along random streams: an engine rebuilt from the same
// configuration continues exactly like the original; one rebuilt from a changed configuration
// (agents added, retired and re-skilled, a queue added, retired and re-policied, a skill added)
// keeps every call and its invariants; and each refusal leaves the running engine usable as it was.
#include <gtest/gtest.h>

#include <cstring>

#include "random_stream.hpp"

namespace acd::router::testing {
namespace {

constexpr auto ignore = [](const Decision&) {};

// Runs `events` events of the stream into `engine`.
void run(Engine& engine, StreamGenerator& gen, int events) {
  for (int i = 0; i < events; ++i) {
    engine.apply(gen.next(engine), ignore);
    if (i % 1000 == 0) {
      gen.forget_gone(engine);
    }
  }
}

// Runs the stream without new calls, so that queues drain and many agents are free (in an order
// that matters to the next calls).
void drain(Engine& engine, StreamGenerator& gen, int events) {
  for (int i = 0; i < events; ++i) {
    const Event e = gen.next(engine);
    if (e.type != EventType::RouteRequest && e.type != EventType::OutboundToQueue &&
        e.type != EventType::OutboundToAgentId) {
      engine.apply(e, ignore);
    }
  }
  gen.forget_gone(engine);
}

std::uint32_t ready_agents(const Engine& engine) {
  std::uint32_t n = 0;
  for (QueueIndex q = 0; q < engine.queue_count(); ++q) {
    n += engine.queue(q).ready_agents;
  }
  return n;
}

bool same_decision(const Decision& a, const Decision& b) {
  return std::memcmp(&a, &b, sizeof(Decision)) == 0;
}

// Rebuilt from the same configuration, the engine makes the same decisions as the one it took
// over from, event for event, for tens of thousands of events (ring order, timer order, statistics
// and the round-robin cursor all carried over).
TEST(TakeOver, SameConfigurationContinuesIdentically) {
  for (std::uint64_t seed : {11u, 12u}) {
    const EngineConfig config = random_domain(seed);
    Engine a(config);
    StreamGenerator gen(seed * 31, config);
    run(a, gen, 20'000);
    drain(a, gen, 3'000);
    ASSERT_GT(ready_agents(a), 40u) << "the test needs free agents whose order matters";
    Engine b(config);
    int emitted = 0;
    ASSERT_TRUE(b.take_over(a, [&](const Decision&) { ++emitted; }).ok());
    EXPECT_EQ(emitted, 0) << "a consistent engine has no free agent for a waiting call";
    std::string why;
    ASSERT_TRUE(b.check_invariants(&why)) << why;
    ASSERT_EQ(b.calls_in_engine(), a.calls_in_engine());
    std::vector<Decision> da;
    std::vector<Decision> db;
    for (int i = 0; i < 40'000; ++i) {
      const Event e = gen.next(a);
      da.clear();
      db.clear();
      a.apply(e, [&](const Decision& d) { da.push_back(d); });
      b.apply(e, [&](const Decision& d) { db.push_back(d); });
      ASSERT_EQ(da.size(), db.size()) << "seed " << seed << " event " << i;
      for (std::size_t k = 0; k < da.size(); ++k) {
        ASSERT_TRUE(same_decision(da[k], db[k]))
            << "seed " << seed << " event " << i << " decision " << k << ": "
            << to_string(da[k].type) << " vs " << to_string(db[k].type);
      }
      if (i % 1000 == 0) {
        gen.forget_gone(a);
      }
    }
    ASSERT_TRUE(b.check_invariants(&why)) << why;
  }
}

// A changed configuration: every call survives, invariants hold, and the stream goes on with the
// new agents and queue in use and no offer to an agent who is not free.
TEST(TakeOver, ChangedConfigurationKeepsCallsAndInvariants) {
  for (std::uint64_t seed : {21u, 22u, 23u}) {
    EngineConfig config = random_domain(seed);
    auto running = std::make_unique<Engine>(config);
    StreamGenerator gen(seed * 37, config);  // reads `config`, so it follows the changes below
    run(*running, gen, 15'000);
    drain(*running, gen, 500);
    const std::uint32_t calls_before = running->calls_in_engine();
    ASSERT_GT(calls_before, 0u);

    EngineConfig next = config;
    next.skill_count += 1;  // a new skill, for the new agents and queue
    const SkillId fresh_skill = static_cast<SkillId>(next.skill_count - 1);
    int retired = 0;
    for (AgentIndex i = 0; i < config.agents.size() && retired < 5; ++i) {
      if (running->agent(i).state == AgentState::LoggedOut) {
        next.agents[i].retired = true;
        ++retired;
      }
    }
    for (AgentIndex i = 0; i < config.agents.size(); i += 7) {  // re-skilled, signed in or not
      next.agents[i].skills = {SkillLevel{static_cast<SkillId>(i % config.skill_count), 9, 0},
                               SkillLevel{fresh_skill, 5, 0}};
    }
    for (int n = 0; n < 6; ++n) {
      AgentConfig ac;
      ac.number = 9000 + static_cast<AgentNumber>(n);
      ac.skills = {SkillLevel{0, 7, 0}, SkillLevel{fresh_skill, 3, 0}};
      next.agents.push_back(ac);
    }
    next.queues[0].policy = Policy::FewestCalls;
    next.queues[2].policy = Policy::MostSkilled;
    QueueConfig added;
    added.name = "added";
    added.skills = {SkillRequirement{fresh_skill, 1, 0}};
    added.policy = Policy::LongestIdle;
    next.queues.push_back(added);
    const QueueIndex chat = static_cast<QueueIndex>(config.queues.size() - 1);
    if (running->queue(chat).waiting == 0) {
      bool busy = false;
      running->for_each_call([&](CallId, const CallView& v) { busy = busy || v.queue == chat; });
      next.queues[chat].retired = !busy;  // no rule targets the chat queue
    }
    ASSERT_TRUE(validate_config(next).empty());

    auto fresh = std::make_unique<Engine>(next);
    std::vector<Decision> out;
    const Engine::TakeOverResult r =
        fresh->take_over(*running, [&](const Decision& d) { out.push_back(d); });
    ASSERT_TRUE(r.ok()) << static_cast<int>(r.problem) << " at " << r.index;
    std::string why;
    ASSERT_TRUE(fresh->check_invariants(&why)) << "seed " << seed << ": " << why;
    std::uint32_t ended = 0;
    for (const Decision& d : out) {
      ended += d.type == DecisionType::CallEnded || d.type == DecisionType::Overflowed;
    }
    EXPECT_EQ(fresh->calls_in_engine() + ended, calls_before) << "no call may be lost";
    running.reset();  // the old engine goes; the new one stands alone

    config = next;  // the generator now draws from the new lists
    std::vector<AgentState> shadow(config.agents.size(), AgentState::LoggedOut);
    for (AgentIndex i = 0; i < config.agents.size(); ++i) {
      shadow[i] = fresh->agent(i).state;
    }
    std::uint64_t offers_to_added = 0;
    for (int i = 0; i < 30'000; ++i) {
      out.clear();
      fresh->apply(gen.next(*fresh), [&](const Decision& d) { out.push_back(d); });
      for (const Decision& d : out) {
        if (d.type == DecisionType::AgentStateChanged) {
          shadow[d.agent] = d.state;
        } else if (d.type == DecisionType::Offer) {
          const AgentState s = shadow[d.agent];
          const bool voice = config.queues[d.queue].media == Media::Voice;
          ASSERT_TRUE(s == AgentState::Ready || (!voice && s == AgentState::Busy))
              << "seed " << seed << " event " << i << ": offer to agent " << d.agent << " in "
              << to_string(s);
          ASSERT_FALSE(config.agents[d.agent].retired);
          offers_to_added += d.queue == config.queues.size() - 1;
        }
      }
      if (i % 500 == 0) {
        ASSERT_TRUE(fresh->check_invariants(&why))
            << "seed " << seed << " event " << i << ": " << why;
        gen.forget_gone(*fresh);
      }
    }
    EXPECT_GT(offers_to_added, 10u) << "the added queue should route calls";
  }
}

// Each kind of unsafe configuration is refused with its problem and index, and the running engine
// is left exactly as it was.
TEST(TakeOver, RefusalsNameTheProblemAndChangeNothing) {
  const EngineConfig config = random_domain(31);
  Engine running(config);
  StreamGenerator gen(77, config);
  run(running, gen, 10'000);
  const std::uint64_t hash = running.state_hash();
  auto refused = [&](const EngineConfig& next) {
    Engine fresh(next);
    return fresh.take_over(running, ignore);
  };
  AgentIndex signed_in = kNone;
  for (AgentIndex i = 0; i < config.agents.size() && signed_in == kNone; ++i) {
    if (running.agent(i).state != AgentState::LoggedOut) {
      signed_in = i;
    }
  }
  ASSERT_NE(signed_in, kNone);
  EngineConfig next = config;
  next.agents[signed_in].retired = true;
  Engine::TakeOverResult r = refused(next);
  EXPECT_EQ(r.problem, Engine::TakeOverProblem::RetiredAgentSignedIn);
  EXPECT_EQ(r.index, signed_in);

  QueueIndex with_calls = kNone;
  running.for_each_call([&](CallId, const CallView& v) {
    if (with_calls == kNone && v.queue + 1 == config.queues.size()) {
      with_calls = v.queue;  // the chat queue: no rule targets it
    }
  });
  ASSERT_NE(with_calls, kNone) << "the stream left no call in the chat queue to refuse with";
  next = config;
  next.queues[with_calls].retired = true;
  r = refused(next);
  EXPECT_EQ(r.problem, Engine::TakeOverProblem::RetiredQueueHasCalls);
  EXPECT_EQ(r.index, with_calls);
  EXPECT_GT(r.calls, 0u);
  next = config;
  next.queues[with_calls].media = Media::Voice;
  for (AgentConfig& ac : next.agents) {
    ac.capacity[static_cast<int>(Media::Voice)] = 1;
  }
  r = refused(next);
  EXPECT_EQ(r.problem, Engine::TakeOverProblem::MediaChangeWithCalls);
  EXPECT_EQ(r.index, with_calls);

  next = config;
  next.max_calls += 1;
  EXPECT_EQ(refused(next).problem, Engine::TakeOverProblem::PoolSizeChanged);
  next = config;
  std::swap(next.agents[0], next.agents[1]);
  EXPECT_EQ(refused(next).problem, Engine::TakeOverProblem::ListsDiffer);
  next = config;
  next.agents.pop_back();
  EXPECT_EQ(refused(next).problem, Engine::TakeOverProblem::ListsDiffer);

  EXPECT_EQ(running.state_hash(), hash);
  run(running, gen, 1000);  // and it goes on
  std::string why;
  EXPECT_TRUE(running.check_invariants(&why)) << why;
}

// A retired agent or queue is unknown to events from then on.
TEST(TakeOver, RetiredAgentsAndQueuesAreUnknown) {
  EngineConfig config = random_domain(41);
  Engine running(config);
  EngineConfig next = config;
  next.agents[3].retired = true;
  next.queues.back().retired = true;
  Engine fresh(next);
  ASSERT_TRUE(fresh.take_over(running, ignore).ok());
  std::vector<Decision> out;
  auto sink = [&](const Decision& d) { out.push_back(d); };
  Event e;
  e.type = EventType::AgentSignIn;
  e.agent = 3;
  e.time = 1000;
  fresh.apply(e, sink);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, Status::UnknownAgent);
  EXPECT_EQ(fresh.find_agent(config.agents[3].number), kNone);
  out.clear();
  e = Event{};
  e.type = EventType::RouteRequest;
  e.call = 5;
  e.queue = static_cast<QueueIndex>(config.queues.size() - 1);
  e.media = config.queues.back().media;
  fresh.apply(e, sink);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, Status::UnknownQueue);
}

}  // namespace
}  // namespace acd::router::testing
