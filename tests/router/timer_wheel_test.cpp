// The timer wheel fires each timer once, not before its deadline, within one tick after it, in a
// deterministic order, across every level of the wheel.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

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

// Random arms, re-arms and cancels against a reference model (an ordered set of (tick, id)): after
// every advance the wheel has fired exactly the timers the model says are due (each once, with its
// deadline, in tick order) and holds exactly the rest.
TEST(TimerWheel, MatchesReferenceModel) {
  std::mt19937_64 gen(42);
  constexpr std::uint32_t kTimers = 2000;
  TimerWheel wheel(kTimers);
  std::set<std::pair<std::uint64_t, std::uint32_t>> model;  // (expire tick, id) of armed timers
  std::vector<Micros> deadline(kTimers, 0);
  std::vector<std::uint64_t> tick_of(kTimers, 0);
  std::vector<bool> armed(kTimers, false);
  std::uint64_t current_tick = 0;  // the model's: every tick up to this one is done
  Micros now = 0;
  std::uint64_t fired_total = 0;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> fired;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> due;
  for (int step = 0; step < 20'000; ++step) {
    for (int k = 0; k < 2; ++k) {
      const auto id = static_cast<std::uint32_t>(gen() % kTimers);
      const std::uint64_t what = gen() % 8;
      if (armed[id]) {
        model.erase({tick_of[id], id});
        armed[id] = false;
      }
      if (what == 0) {
        wheel.cancel(id);
        continue;
      }
      // Some deadlines already past, most within 2 s, a quarter up to ~28 h ahead.
      const Micros span = what < 3 ? 100'000'000'000ull : 2'000'000ull;
      deadline[id] = now + gen() % span - (what == 7 ? std::min<Micros>(now, 5'000) : 0);
      wheel.arm(id, deadline[id]);
      tick_of[id] = std::max<std::uint64_t>((deadline[id] + 999) / 1000, current_tick + 1);
      model.insert({tick_of[id], id});
      armed[id] = true;
    }
    now += gen() % 50'000;
    const std::uint64_t target = now / 1000;
    due.clear();
    while (!model.empty() && model.begin()->first <= target) {
      due.push_back(*model.begin());
      armed[model.begin()->second] = false;
      model.erase(model.begin());
    }
    fired.clear();
    wheel.advance(now, [&](std::uint32_t id, Micros d) {
      EXPECT_EQ(d, deadline[id]) << "timer " << id;
      EXPECT_TRUE(fired.empty() || fired.back().first <= tick_of[id]) << "out of tick order";
      fired.emplace_back(tick_of[id], id);
    });
    current_tick = target;
    std::sort(fired.begin(), fired.end());
    ASSERT_EQ(fired, due) << "step " << step << ": the wheel fired other timers than were due";
    ASSERT_EQ(wheel.armed_count(), model.size()) << "step " << step;
    fired_total += fired.size();
    if (step % 1000 == 0) {
      for (std::uint32_t id = 0; id < kTimers; ++id) {
        ASSERT_EQ(wheel.armed(id), static_cast<bool>(armed[id])) << "timer " << id;
      }
    }
  }
  EXPECT_GT(fired_total, 10'000u);  // the run exercised firing, not only arming
}

}  // namespace
}  // namespace acd::router
