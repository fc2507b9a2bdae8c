// The timer wheel fires each timer once, not before its deadline, within one tick after it, in a
// deterministic order, across every level of the wheel.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "acd/router/timer_wheel.hpp"

namespace acd::router {
namespace {

// Deadlines in every level fire at the first tick at or after them, never early.
TEST(TimerWheel, FiresAtDeadlineAcrossLevels) {
  TimerWheel wheel(8);
  const Micros deadlines[] = {1'500,      255'000,           256'000,
                              70'000'000, 20'000'000'000ull, 5'000'000'000'000ull};
  for (std::uint32_t i = 0; i < std::size(deadlines); ++i) {
    wheel.arm(i, deadlines[i]);
  }
  std::map<std::uint32_t, Micros> fired_at;
  Micros now = 0;
  while (fired_at.size() < std::size(deadlines) && now < 6'000'000'000'000ull) {
    now += now < 300'000'000 ? 700 : 3'000'000'000ull;
    wheel.advance(now, [&](std::uint32_t id, Micros deadline) {
      EXPECT_EQ(deadline, deadlines[id]);
      EXPECT_FALSE(fired_at.count(id));
      fired_at[id] = now;
    });
  }
  ASSERT_EQ(fired_at.size(), std::size(deadlines));
  for (std::uint32_t i = 0; i < std::size(deadlines); ++i) {
    EXPECT_GE(fired_at[i], deadlines[i]) << i;
    const Micros step = fired_at[i] <= 300'000'000 ? 700 : 3'000'000'000ull;
    EXPECT_LT(fired_at[i], deadlines[i] + TimerWheel::kTickMicros + step) << i;
  }
  EXPECT_EQ(wheel.armed_count(), 0u);
}

// Cancel and re-arm: a cancelled timer never fires; re-arming moves it.
TEST(TimerWheel, CancelAndRearm) {
  TimerWheel wheel(4);
  wheel.arm(0, 10'000);
  wheel.arm(1, 10'000);
  wheel.arm(2, 10'000);
  wheel.cancel(1);
  wheel.arm(2, 50'000);
  std::vector<std::uint32_t> fired;
  wheel.advance(20'000, [&](std::uint32_t id, Micros) { fired.push_back(id); });
  EXPECT_EQ(fired, std::vector<std::uint32_t>{0});
  wheel.advance(50'000, [&](std::uint32_t id, Micros) { fired.push_back(id); });
  EXPECT_EQ(fired, (std::vector<std::uint32_t>{0, 2}));
}

// Timers due in the same tick fire in arming order, and a callback may arm new timers.
TEST(TimerWheel, SameTickOrderAndRearmFromCallback) {
  TimerWheel wheel(4);
  wheel.arm(3, 5'000);
  wheel.arm(1, 5'400);
  wheel.arm(2, 4'200);  // all in tick 5
  std::vector<std::uint32_t> fired;
  wheel.advance(9'000, [&](std::uint32_t id, Micros) {
    fired.push_back(id);
    if (id == 3) {
      wheel.arm(0, 8'000);
      wheel.cancel(2);
    }
  });
  EXPECT_EQ(fired, (std::vector<std::uint32_t>{3, 1, 0}));
}

// Random deadlines against a reference model: every timer fires exactly once, in order of tick.
TEST(TimerWheel, MatchesReferenceModel) {
  std::mt19937_64 gen(42);
  constexpr std::uint32_t kTimers = 2000;
  TimerWheel wheel(kTimers);
  std::vector<Micros> deadline(kTimers, 0);
  Micros now = 0;
  std::uint64_t fired = 0;
  std::uint64_t armed = 0;
  for (int step = 0; step < 20'000; ++step) {
    const std::uint32_t id = static_cast<std::uint32_t>(gen() % kTimers);
    if (!wheel.armed(id)) {
      deadline[id] = now + gen() % (gen() % 4 == 0 ? 100'000'000'000ull : 2'000'000ull);
      wheel.arm(id, deadline[id]);
      ++armed;
    }
    now += gen() % 50'000;
    std::uint64_t last_tick = 0;
    wheel.advance(now, [&](std::uint32_t fid, Micros d) {
      EXPECT_EQ(d, deadline[fid]);
      EXPECT_LE(d, now);
      const std::uint64_t tick = (d + 999) / 1000;
      EXPECT_GE(tick, last_tick);
      last_tick = tick;
      ++fired;
    });
    for (std::uint32_t i = 0; i < 8; ++i) {
      const std::uint32_t probe = static_cast<std::uint32_t>(gen() % kTimers);
      if (wheel.armed(probe)) {
        EXPECT_GT(deadline[probe], now - now % 1000) << "overdue timer not fired";
      }
    }
  }
  EXPECT_EQ(fired + wheel.armed_count(), armed);
}

}  // namespace
}  // namespace acd::router
