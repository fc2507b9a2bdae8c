// Pieces of the control server that need no running acdd.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "acd/control/control_server.hpp"

namespace acd::control {
namespace {

// A POSIX TZ string needs no time-zone database: "CST-8" is China Standard Time, UTC+8.
class DayBoundaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "CST-8", 1);
    tzset();
  }
  void TearDown() override {
    unsetenv("TZ");
    tzset();
  }
};

// 2026-11-27 15:59:59 UTC is 23:59:59 in Beijing.
constexpr std::time_t kBeforeMidnight = 1'795'795'199;

TEST_F(DayBoundaryTest, CrossesAtLocalMidnightOnce) {
  DayBoundary day(kBeforeMidnight - 3600);
  EXPECT_FALSE(day.crossed(kBeforeMidnight));
  EXPECT_TRUE(day.crossed(kBeforeMidnight + 1));  // 00:00:00 local
  EXPECT_FALSE(day.crossed(kBeforeMidnight + 2));
  EXPECT_FALSE(day.crossed(kBeforeMidnight + 86'400));  // 23:59:59 the next day
  EXPECT_TRUE(day.crossed(kBeforeMidnight + 86'401));
}

TEST_F(DayBoundaryTest, UtcMidnightIsNotLocalMidnight) {
  // 2026-11-27 00:00:00 UTC is 08:00 in Beijing: the same local day as 07:59.
  DayBoundary day(kBeforeMidnight - 16 * 3600);
  EXPECT_FALSE(day.crossed(kBeforeMidnight - 16 * 3600 + 1));
}

TEST_F(DayBoundaryTest, ClockSetBackStartsADayToo) {
  DayBoundary day(kBeforeMidnight + 10);
  EXPECT_TRUE(day.crossed(kBeforeMidnight - 10));
  EXPECT_FALSE(day.crossed(kBeforeMidnight - 5));
}

}  // namespace
}  // namespace acd::control
