// The feed's checkpoint: a deriver and follower engine saved in the middle of a random stream and
// restored into fresh ones continue with exactly the records of the uninterrupted run; malformed
// or mismatched checkpoints are refused without change; a reload's new queue parameters reach the
// deriver.
#include <gtest/gtest.h>

#include "../router/random_stream.hpp"
#include "acd/history/feed.hpp"

namespace acd::history {
namespace {

using router::Event;
using router::EventType;

// Applies `n` stream inputs (each after a tick to its time) to every feed in `feeds`, with one
// generator reading the first feed's engine; appends each feed's records to its `out`.
void drive(router::testing::StreamGenerator& gen, std::uint64_t& seq, int n,
           std::vector<Feed*> feeds, std::vector<Records*> outs) {
  for (int i = 0; i < n; ++i) {
    Event e = gen.next(feeds.front()->engine());
    Event tick;
    tick.time = e.time;
    ++seq;
    for (std::size_t f = 0; f < feeds.size(); ++f) {
      ASSERT_TRUE(feeds[f]->apply(seq, tick, *outs[f]));
    }
    ++seq;
    for (std::size_t f = 0; f < feeds.size(); ++f) {
      ASSERT_TRUE(feeds[f]->apply(seq, e, *outs[f]));
    }
    if (i % 64 == 0) {
      gen.forget_gone(feeds.front()->engine());
    }
  }
}

// A feed restored from a checkpoint taken mid-stream gives the same records, IDs included, as the
// one that ran on, for several seeds and many cut points (a fresh restore at each).
TEST(HistoryCheckpoint, RestoredFeedContinuesIdentically) {
  for (std::uint64_t seed : {3u, 17u, 29u}) {
    SCOPED_TRACE(seed);
    const router::EngineConfig config = router::testing::random_domain(seed);
    DeriverConfig dc;
    dc.interval_us = 5ull * 60 * 1'000'000;
    Feed running(config, dc);
    router::testing::StreamGenerator gen(seed, config);
    std::uint64_t seq = 0;
    Records before;
    drive(gen, seq, 2000 + static_cast<int>(seed) * 7, {&running}, {&before});
    std::size_t compared = 0;
    for (int cut = 0; cut < 12; ++cut) {
      SCOPED_TRACE(cut);
      const std::vector<std::uint8_t> engine = running.engine_image();
      const std::vector<std::uint8_t> deriver = running.deriver_image();
      Feed restored(config, dc);
      ASSERT_TRUE(restored.restore(seq, engine, deriver));
      EXPECT_EQ(restored.deriver_image(), deriver);  // saved again: the same bytes
      EXPECT_EQ(restored.engine().state_hash(), running.engine().state_hash());
      Records a;
      Records b;
      drive(gen, seq, 800, {&running, &restored}, {&a, &b});
      EXPECT_EQ(a.calls, b.calls);
      EXPECT_EQ(a.states, b.states);
      EXPECT_EQ(a.queue_intervals, b.queue_intervals);
      EXPECT_EQ(a.agent_intervals, b.agent_intervals);
      EXPECT_EQ(restored.deriver_image(), running.deriver_image());
      compared += a.size();
    }
    EXPECT_GT(compared, 1000u);
  }
}

// Bad checkpoints change nothing: truncated, trailing bytes, another interval length, another
// configuration's agent count.
TEST(HistoryCheckpoint, RefusesWhatDoesNotFit) {
  const router::EngineConfig config = router::testing::random_domain(5);
  DeriverConfig dc;
  Feed feed(config, dc);
  router::testing::StreamGenerator gen(5, config);
  std::uint64_t seq = 0;
  Records out;
  drive(gen, seq, 500, {&feed}, {&out});
  const std::vector<std::uint8_t> good = feed.deriver_image();

  Deriver fresh(config, dc);
  const std::vector<std::uint8_t> empty = fresh.save();
  for (std::size_t cut : {std::size_t{0}, std::size_t{4}, good.size() / 2, good.size() - 1}) {
    EXPECT_FALSE(fresh.restore(std::span(good).first(cut))) << cut;
  }
  std::vector<std::uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_FALSE(fresh.restore(longer));
  EXPECT_EQ(fresh.save(), empty);  // unchanged by the refusals

  DeriverConfig other = dc;
  other.interval_us = 30ull * 60 * 1'000'000;
  Deriver different_interval(config, other);
  EXPECT_FALSE(different_interval.restore(good));

  router::EngineConfig fewer = config;
  fewer.agents.pop_back();
  Deriver different_agents(fewer, dc);
  EXPECT_FALSE(different_agents.restore(good));

  EXPECT_TRUE(fresh.restore(good));
  EXPECT_EQ(fresh.save(), good);
}

// A reload that changes a queue's service-level threshold is seen by the deriver from its place
// in the log: an answer after it counts against the new threshold.
TEST(HistoryCheckpoint, ReloadReachesTheDeriver) {
  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 16;
  router::QueueConfig q;
  q.name = "sales";
  q.skills = {{0, 1, 0}};
  q.ring_timeout_ms = 10'000;
  q.sl_threshold_ms = 1'000;
  config.queues = {q};
  router::AgentConfig a;
  a.number = 1001;
  a.skills = {{0, 5, 0}};
  config.agents = {a};
  DeriverConfig dc;
  Feed feed(config, dc);
  Records out;
  std::uint64_t seq = 0;
  auto go = [&](EventType type, Micros at, router::CallId call, AgentIndex agent, QueueIndex qi) {
    Event e;
    e.type = type;
    e.time = at;
    e.call = call;
    e.agent = agent;
    e.queue = qi;
    ASSERT_TRUE(feed.apply(++seq, e, out));
  };
  go(EventType::AgentSignIn, 1'000'000, 0, 0, router::kNone);

  router::EngineConfig next = config;
  next.queues[0].sl_threshold_ms = 10'000;
  bool refused = true;
  ASSERT_TRUE(feed.apply_reload(++seq, 1'500'000, next, false, out, refused));
  EXPECT_FALSE(refused);

  // A call waits 5 s (over the old threshold, under the new one), then is answered.
  go(EventType::RouteRequest, 2'000'000, 77, router::kNone, 0);
  go(EventType::AgentReady, 7'000'000, 0, 0, router::kNone);
  go(EventType::CallAnswered, 7'100'000, 77, 0, router::kNone);
  ASSERT_TRUE(feed.deriver().close_intervals(seq, 2 * dc.interval_us, out));
  std::uint32_t answered = 0;
  std::uint32_t in_sl = 0;
  for (const QueueInterval& r : out.queue_intervals) {
    answered += r.answered;
    in_sl += r.answered_in_sl;
  }
  EXPECT_EQ(answered, 1u);
  EXPECT_EQ(in_sl, 1u);
}

}  // namespace
}  // namespace acd::history
