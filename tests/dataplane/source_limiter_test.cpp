// The per-source handshake limiter: each source gets its burst and then its rate, on a virtual
// clock; one source's flood takes nothing from the others, and a churn of other sources through
// the table never hands the flooding source a fresh allowance.
#include <gtest/gtest.h>

#include <cstdint>

#include "acd/dataplane/source_limiter.hpp"

namespace {

using acd::dataplane::SourceRateLimiter;

constexpr std::uint64_t kSecond = 1'000'000'000;

int allowed(SourceRateLimiter& limiter, std::uint32_t address, std::uint64_t now, int tries) {
  int n = 0;
  for (int i = 0; i < tries; ++i) {
    n += limiter.allow(address, now) ? 1 : 0;
  }
  return n;
}

// A source gets its burst at once, then per_second a second, and a quiet time refills the burst
// (never more).
TEST(SourceRateLimiter, BurstThenRate) {
  SourceRateLimiter limiter({10, 50}, 64);
  const std::uint64_t t0 = 5 * kSecond;
  EXPECT_EQ(allowed(limiter, 0x0100000a, t0, 200), 50);
  EXPECT_EQ(allowed(limiter, 0x0100000a, t0 + kSecond / 2, 200), 5);
  EXPECT_EQ(allowed(limiter, 0x0100000a, t0 + kSecond, 200), 5);
  EXPECT_EQ(allowed(limiter, 0x0100000a, t0 + kSecond + kSecond / 10, 200), 1);
  // A day of quiet: the burst again, not a day's worth of tokens.
  EXPECT_EQ(allowed(limiter, 0x0100000a, t0 + 86'400 * kSecond, 100'000), 50);
}

// A clock that steps back gives nothing.
TEST(SourceRateLimiter, ClockGoingBackGivesNothing) {
  SourceRateLimiter limiter({10, 5}, 64);
  EXPECT_EQ(allowed(limiter, 7, 100 * kSecond, 10), 5);
  EXPECT_EQ(allowed(limiter, 7, 50 * kSecond, 10), 0);
  EXPECT_EQ(allowed(limiter, 7, 100 * kSecond, 10), 0);
  EXPECT_EQ(allowed(limiter, 7, 100 * kSecond + kSecond / 5, 10), 2);
}

// One source over its limit leaves every other source its whole allowance.
TEST(SourceRateLimiter, OneFloodingSourceLeavesOthersTheirAllowance) {
  SourceRateLimiter limiter({20, 100}, 4096);
  const std::uint64_t t = kSecond;
  EXPECT_EQ(allowed(limiter, 0x0200000a, t, 100'000), 100);
  for (std::uint32_t s = 1; s <= 1000; ++s) {
    ASSERT_EQ(allowed(limiter, 0x0a000000u + s, t, 100), 100) << "source " << s;
  }
  EXPECT_LE(limiter.tracked(), limiter.capacity());
}

// Far more sources than the table holds, each sending one init, pass through it: none is refused
// (a new source takes the quietest way of its set), and the flooding source, the emptiest of
// its set, keeps its way and stays limited.
TEST(SourceRateLimiter, ChurnNeverFreesTheFlooder) {
  SourceRateLimiter limiter({20, 100}, 256);
  const std::uint64_t t = kSecond;
  const std::uint32_t flooder = 0x0200000a;
  EXPECT_EQ(allowed(limiter, flooder, t, 1000), 100);
  for (std::uint32_t s = 1; s <= 100'000; ++s) {
    ASSERT_TRUE(limiter.allow(0x0b000000u + s, t)) << "source " << s;
    if (s % 1000 == 0) {
      ASSERT_FALSE(limiter.allow(flooder, t)) << "the flooder got an init through after " << s;
    }
  }
  EXPECT_EQ(limiter.tracked(), limiter.capacity());
}

}  // namespace
