// Long seeded random streams: invariants hold after every event, bad events change nothing, and
// the engine is deterministic across snapshot and restore.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "random_stream.hpp"

namespace acd::router::testing {
namespace {

// Folds decisions into one number; equal streams of decisions give equal numbers.
struct DecisionHash {
  std::uint64_t value = 0xcbf29ce484222325ull;
  std::uint64_t count = 0;
  void add(const Decision& d) {
    unsigned char bytes[sizeof(Decision)];
    std::memcpy(bytes, &d, sizeof(d));
    for (unsigned char b : bytes) {
      value = (value ^ b) * 0x100000001b3ull;
    }
    ++count;
  }
};

// Every invariant holds along random streams (checked every few events and at the end), no
// offer ever goes to an agent who was not ready, and an event refused with an Error leaves the
// state hash untouched.
TEST(RandomStream, InvariantsHold) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const EngineConfig config = random_domain(seed);
    Engine engine(config);
    StreamGenerator gen(seed * 7919, config);
    std::vector<AgentState> shadow(config.agents.size(), AgentState::LoggedOut);
    std::vector<Decision> out;
    std::uint64_t offers = 0;
    std::uint64_t errors_checked = 0;
    std::uint64_t queued = 0;
    for (int i = 0; i < 150'000; ++i) {
      const Event e = gen.next(engine);
      const bool check_hash = i % 7 == 0;
      out.clear();
      auto sink = [&](const Decision& d) { out.push_back(d); };
      std::uint64_t before = 0;
      if (check_hash) {
        // Time is state too: move the clock first (firing due timers), then compare around the
        // event.
        Event tick;
        tick.time = e.time;
        engine.apply(tick, sink);
        before = engine.state_hash();
      }
      const std::size_t first = out.size();
      engine.apply(e, sink);
      for (const Decision& d : out) {
        if (d.type == DecisionType::AgentStateChanged) {
          shadow[d.agent] = d.state;
        } else if (d.type == DecisionType::Offer) {
          ++offers;
          const bool voice = config.queues[d.queue].media == Media::Voice;
          const AgentState s = shadow[d.agent];
          ASSERT_TRUE(s == AgentState::Ready || (!voice && s == AgentState::Busy))
              << "seed " << seed << " event " << i << ": offer to agent " << d.agent << " in state "
              << to_string(s);
        } else if (d.type == DecisionType::Queued) {
          ++queued;
        }
      }
      if (check_hash && out.size() == first + 1 && out[first].type == DecisionType::Error) {
        ++errors_checked;
        ASSERT_EQ(engine.state_hash(), before)
            << "seed " << seed << " event " << i << " (" << to_string(e.type) << ") refused with "
            << to_string(out[first].status) << " but changed state";
      }
      if (i % 40 == 0 || i > 149'000) {
        std::string why;
        ASSERT_TRUE(engine.check_invariants(&why))
            << "seed " << seed << " event " << i << ": " << why;
      }
      if (i % 1000 == 0) {
        gen.forget_gone(engine);
      }
    }
    EXPECT_GT(offers, 10'000u) << "the stream should exercise routing";
    EXPECT_GT(queued, 1'000u) << "the stream should exercise queueing";
    EXPECT_GT(errors_checked, 500u) << "the stream should exercise refusals";
  }
}

// preview_route answers exactly what apply would decide for a route request, in every state the
// stream reaches (offers, queueing, overflow chains, unservable calls, rejections, errors), and
// changes nothing.
TEST(RandomStream, PreviewMatchesApply) {
  for (std::uint64_t seed : {4u, 5u, 6u}) {
    const EngineConfig config = random_domain(seed);
    Engine engine(config);
    StreamGenerator gen(seed * 104729, config);
    std::vector<Decision> applied;
    std::vector<Decision> previewed;
    std::uint64_t compared = 0;
    std::uint64_t overflows = 0;
    std::uint64_t offers = 0;
    std::uint64_t queued = 0;
    std::uint64_t unservable = 0;         // compared requests that no agent of a queue could serve
    std::uint64_t unservable_combos = 0;  // of them, needing two skills or more
    for (int i = 0; i < 60'000; ++i) {
      const Event e = gen.next(engine);
      if (e.type != EventType::RouteRequest || e.call == 0) {
        engine.apply(e, [](const Decision&) {});
        if (i % 1000 == 0) {
          gen.forget_gone(engine);
        }
        continue;
      }
      Event tick;
      tick.time = e.time;
      engine.apply(tick, [](const Decision&) {});
      const std::uint64_t before = engine.state_hash();
      previewed.clear();
      engine.preview_route(e, [&](const Decision& d) { previewed.push_back(d); });
      ASSERT_EQ(engine.state_hash(), before) << "seed " << seed << " event " << i;
      applied.clear();
      const std::uint64_t unservable_before = engine.counters().unservable_calls;
      engine.apply(e, [&](const Decision& d) {
        if (d.type != DecisionType::AgentStateChanged) {
          applied.push_back(d);
        }
      });
      if (engine.counters().unservable_calls != unservable_before) {
        ++unservable;
        unservable_combos += e.skill_count + (e.language != kNoSkill ? 1 : 0) >= 2;
      }
      ASSERT_EQ(previewed.size(), applied.size()) << "seed " << seed << " event " << i;
      for (std::size_t k = 0; k < applied.size(); ++k) {
        ASSERT_EQ(std::memcmp(&previewed[k], &applied[k], sizeof(Decision)), 0)
            << "seed " << seed << " event " << i << " decision " << k << ": preview "
            << to_string(previewed[k].type) << " apply " << to_string(applied[k].type);
        overflows += applied[k].type == DecisionType::Overflowed;
        offers += applied[k].type == DecisionType::Offer;
        queued += applied[k].type == DecisionType::Queued;
      }
      ++compared;
    }
    EXPECT_GT(compared, 10'000u);
    EXPECT_GT(overflows, 100u) << "the stream should exercise overflow";
    EXPECT_GT(offers, 300u);
    EXPECT_GT(queued, 1'000u);
    EXPECT_GT(unservable, 500u) << "the stream should exercise unservable calls";
    EXPECT_GT(unservable_combos, 100u) << "... and combinations of skills nobody has";
  }
}

// Determinism: a million-event stream into engine A; B restored from A's snapshot at the midpoint
// gets the same second half and must produce identical decisions and hashes; a fresh run from
// the same seed reproduces A exactly.
TEST(RandomStream, DeterministicAcrossSnapshotRestore) {
  constexpr std::uint64_t kSeed = 20261127;
  constexpr int kEvents = 1'000'000;
  constexpr int kMidpoint = kEvents / 2;
  const EngineConfig config = random_domain(kSeed, 200, 40, 16);

  Engine a(config);
  Engine b(config);
  StreamGenerator gen(kSeed, config);
  DecisionHash hash_a;
  DecisionHash hash_b;
  DecisionHash hash_a_second_half;
  for (int i = 0; i < kEvents; ++i) {
    if (i == kMidpoint) {
      const std::vector<std::uint8_t> image = a.snapshot();
      ASSERT_TRUE(b.restore(image));
      ASSERT_EQ(b.state_hash(), a.state_hash());
    }
    const Event e = gen.next(a);
    a.apply(e, [&](const Decision& d) {
      hash_a.add(d);
      if (i >= kMidpoint) {
        hash_a_second_half.add(d);
      }
    });
    if (i >= kMidpoint) {
      b.apply(e, [&](const Decision& d) { hash_b.add(d); });
      if (i % 100'000 == 0) {
        ASSERT_EQ(a.state_hash(), b.state_hash()) << "diverged by event " << i;
      }
    }
    if (i % 1000 == 0) {
      gen.forget_gone(a);
    }
  }
  EXPECT_EQ(hash_a_second_half.value, hash_b.value);
  EXPECT_EQ(hash_a_second_half.count, hash_b.count);
  EXPECT_EQ(a.state_hash(), b.state_hash());
  std::string why;
  EXPECT_TRUE(a.check_invariants(&why)) << why;

  Engine c(config);
  StreamGenerator again(kSeed, config);
  DecisionHash hash_c;
  for (int i = 0; i < kEvents; ++i) {
    const Event e = again.next(c);
    c.apply(e, [&](const Decision& d) { hash_c.add(d); });
    if (i % 1000 == 0) {
      again.forget_gone(c);
    }
  }
  EXPECT_EQ(hash_c.value, hash_a.value);
  EXPECT_EQ(c.state_hash(), a.state_hash());
  EXPECT_GT(hash_a.count, static_cast<std::uint64_t>(kEvents) / 2);
}

// apply_burst decides exactly as apply() on each event: the same decisions in the same order and
// the same state after every burst, for bursts of every size from 1 to 64 along a recorded stream;
// with the look-ahead chosen for small engines, and with the deep one large engines take.
class BurstMatchesApply : public ::testing::TestWithParam<bool> {};

TEST_P(BurstMatchesApply, DecisionsAndStateAsEventByEvent) {
  constexpr std::uint64_t kSeed = 20261130;
  constexpr int kEvents = 200'000;
  const EngineConfig config = random_domain(kSeed, 200, 40, 16);
  std::vector<Event> stream;
  stream.reserve(kEvents);
  {
    Engine model(config);
    StreamGenerator gen(kSeed, config);
    for (int i = 0; i < kEvents; ++i) {
      const Event e = gen.next(model);
      stream.push_back(e);
      model.apply(e, [](const Decision&) {});
      if (i % 1000 == 0) {
        gen.forget_gone(model);
      }
    }
  }
  Engine one(config);
  Engine burst(config);
  burst.set_deep_look_ahead(GetParam());
  DecisionHash hash_one;
  DecisionHash hash_burst;
  std::size_t size = 1;
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t n = std::min(size, stream.size() - at);
    for (std::size_t i = at; i < at + n; ++i) {
      one.apply(stream[i], [&](const Decision& d) { hash_one.add(d); });
    }
    const std::span<const Event> events(stream.data() + at, n);
    ASSERT_EQ(burst.apply_burst(events, [&](const Decision& d) { hash_burst.add(d); }), n);
    at += n;
    ASSERT_EQ(one.state_hash(), burst.state_hash()) << "diverged in the burst ending at " << at;
    size = size % 64 + 1;
  }
  EXPECT_EQ(hash_one.value, hash_burst.value);
  EXPECT_EQ(hash_one.count, hash_burst.count);
  EXPECT_GT(hash_one.count, static_cast<std::uint64_t>(kEvents) / 2);
  std::string why;
  EXPECT_TRUE(burst.check_invariants(&why)) << why;
}

INSTANTIATE_TEST_SUITE_P(RandomStream, BurstMatchesApply, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Deep" : "Near";
                         });

// Along a stream of `events` from `seed`: the invariants hold every 50 events; a standby restored
// from a snapshot half way decides the same as the engine it copied; with `preview`, preview_route
// answers every route request exactly as apply then decides (the clock moved first).
void expect_restore_deterministic(const EngineConfig& config, std::uint64_t seed, int events,
                                  std::uint64_t min_offers, bool preview) {
  ASSERT_TRUE(validate_config(config).empty());
  const int midpoint = events / 2;
  Engine a(config);
  Engine b(config);
  StreamGenerator gen(seed, config);
  DecisionHash hash_a;
  DecisionHash hash_b;
  std::uint64_t offers = 0;
  std::vector<Decision> applied;
  std::vector<Decision> previewed;
  for (int i = 0; i < events; ++i) {
    if (i == midpoint) {
      ASSERT_TRUE(b.restore(a.snapshot()));
      ASSERT_EQ(b.state_hash(), a.state_hash());
    }
    const Event e = gen.next(a);
    const bool compare = preview && e.type == EventType::RouteRequest && e.call != 0;
    if (compare) {
      Event tick;  // moves both clocks first, so that the preview sees the timers fired
      tick.time = e.time;
      for (Engine* x : {&a, &b}) {
        if (x == &a || i >= midpoint) {
          x->apply(tick, [&](const Decision& d) {
            if (i >= midpoint) {
              (x == &a ? hash_a : hash_b).add(d);
            }
          });
        }
      }
      previewed.clear();
      a.preview_route(e, [&](const Decision& d) { previewed.push_back(d); });
    }
    applied.clear();
    a.apply(e, [&](const Decision& d) {
      offers += d.type == DecisionType::Offer;
      if (d.type != DecisionType::AgentStateChanged) {
        applied.push_back(d);
      }
      if (i >= midpoint) {
        hash_a.add(d);
      }
    });
    if (compare) {
      ASSERT_EQ(previewed.size(), applied.size()) << "event " << i;
      for (std::size_t k = 0; k < applied.size(); ++k) {
        ASSERT_EQ(std::memcmp(&previewed[k], &applied[k], sizeof(Decision)), 0)
            << "event " << i << " decision " << k;
      }
    }
    if (i >= midpoint) {
      b.apply(e, [&](const Decision& d) { hash_b.add(d); });
    }
    if (i % 50 == 0) {
      std::string why;
      ASSERT_TRUE(a.check_invariants(&why)) << "event " << i << ": " << why;
    }
    if (i % 1000 == 0) {
      gen.forget_gone(a);
    }
  }
  EXPECT_GT(offers, min_offers);
  EXPECT_EQ(hash_a.value, hash_b.value);
  EXPECT_EQ(hash_a.count, hash_b.count);
  EXPECT_EQ(a.state_hash(), b.state_hash());
}

// With call selection, preferences and expanding requirements in use: invariants hold along the
// stream (no waiting call an available agent meets the floor of), and a standby restored from a
// snapshot decides the same as the engine it copied.
TEST(RandomStream, SelectionDeterministicAcrossSnapshotRestore) {
  constexpr std::uint64_t kSeed = 20261130;
  expect_restore_deterministic(with_selection(random_domain(kSeed, 120, 24, 12)), kSeed, 200'000,
                               10'000, false);
}

// Least needed on every longest-idle queue of the random centre: invariants, preview against
// apply, and a restored standby's decisions.
TEST(RandomStream, LeastNeededInvariantsPreviewAndRestore) {
  constexpr std::uint64_t kSeed = 20261201;
  EngineConfig config = random_domain(kSeed, 120, 24, 12);
  int least_needed = 0;
  for (QueueConfig& q : config.queues) {
    if (q.policy == Policy::LongestIdle) {
      q.policy = Policy::LeastNeeded;
      ++least_needed;
    }
  }
  ASSERT_GE(least_needed, 2);
  expect_restore_deterministic(config, kSeed, 80'000, 3'000, true);
}

// least_needed's walk stops after the queue's ready agents instead of at the end of its ring.
// Along a random stream, before every event, its choice for each least_needed queue (a call
// without extra skills, and the queue's first waiting call) equals the reference walk's; the
// invariants hold, and a standby restored half way decides the same.
TEST(RandomStream, LeastNeededMatchesReferenceEveryCall) {
  for (const std::uint64_t seed : {20261201ull, 77ull}) {
    // Many agents on few queues: ready counts cross the "plenty" line both ways.
    EngineConfig config = random_domain(seed, 160, 6, 6);
    for (QueueConfig& q : config.queues) {
      if (q.policy != Policy::RoundRobin) {
        q.policy = Policy::LeastNeeded;
      }
    }
    ASSERT_TRUE(validate_config(config).empty());
    Engine a(config);
    StreamGenerator gen(seed, config);
    std::uint64_t offers = 0;
    std::string why;
    for (int i = 0; i < 60'000; ++i) {
      ASSERT_TRUE(a.least_needed_matches_reference(&why)) << "before event " << i << ": " << why;
      a.apply(gen.next(a), [&](const Decision& d) { offers += d.type == DecisionType::Offer; });
      if (i % 50 == 0) {
        ASSERT_TRUE(a.check_invariants(&why)) << "event " << i << ": " << why;
      }
      if (i % 1000 == 0) {
        gen.forget_gone(a);
      }
    }
    EXPECT_GT(offers, 3'000u);
    expect_restore_deterministic(config, seed, 40'000, 2'000, true);
  }
}

}  // namespace
}  // namespace acd::router::testing
