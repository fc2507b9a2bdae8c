// `acdctl dr ...` through the control core, with the IO thread played by the test: a retried
// request gets its own answer (never a late answer to an earlier one), and the active site's
// Head wall clock, whatever it says, gives a sane RPO age or none.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "acd/control/control_server.hpp"
#include "acd/control/ha_node.hpp"

namespace acd::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Waits (at most 5 s, the watchdog) until `slot` holds a request and takes it.
std::uint64_t take(std::atomic<std::uint64_t>& slot) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    if (const std::uint64_t id = slot.exchange(0)) {
      return id;
    }
    std::this_thread::sleep_for(1ms);
  }
  ADD_FAILURE() << "no request came";
  return 0;
}

struct DrFixture : ::testing::Test {
  HaStatus ha;
  ControlContext ctx;
  void SetUp() override { ctx.ha = &ha; }
  json run(const json& request) { return execute(ctx, request, OperatorRole::Admin); }
};

// A switchover whose waiter gave up while it ran, then asked again: the second waiter gets the
// answer to its own request, not the first request's late one.
TEST_F(DrFixture, RetriedSwitchoverGetsItsOwnAnswer) {
  ha.dr.role.store(DrRole::Serving);
  ha.dr.follower_state.store(
      static_cast<std::uint8_t>(dataplane::LinkPrimary::PeerState::Synchronous));
  std::uint64_t first = 0;
  std::thread io([&] { first = take(ha.dr.switchover_requested); });  // taken, not answered yet
  const json gave_up = run({{"cmd", "dr"}, {"action", "switchover"}, {"timeout_ms", 100u}});
  io.join();
  ASSERT_FALSE(gave_up.value("ok", true)) << gave_up.dump();
  EXPECT_NE(gave_up.value("error", std::string()).find("still under way"), std::string::npos)
      << gave_up.dump();

  auto second = std::async(std::launch::async, [&] {
    return run({{"cmd", "dr"}, {"action", "switchover"}, {"timeout_ms", 5000u}});
  });
  const std::uint64_t again = take(ha.dr.switchover_requested);
  ASSERT_NE(again, first);
  ha.dr.answer(first, true, "handed over at seq 7, epoch 2");  // the first one's, late
  std::this_thread::sleep_for(50ms);
  ha.dr.answer(again, false, "a switchover is already draining");
  const json reply = second.get();
  EXPECT_FALSE(reply.value("ok", true)) << reply.dump();
  EXPECT_NE(reply.value("error", std::string()).find("already draining"), std::string::npos)
      << reply.dump();
}

// A request no IO thread takes is taken back: the slot is empty after the timeout.
TEST_F(DrFixture, UntakenRequestIsTakenBack) {
  ha.dr.role.store(DrRole::Following);
  const json reply = run({{"cmd", "dr"}, {"action", "failover"}, {"timeout_ms", 30u}});
  EXPECT_FALSE(reply.value("ok", true));
  EXPECT_NE(reply.value("error", std::string()).find("not taken up"), std::string::npos)
      << reply.dump();
  EXPECT_EQ(ha.dr.failover_requested.load(), 0u);
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Head wall clocks at and past 2^63 ns, or far in the future, are unknown, never a huge or
// negative age; a plausible one gives its age.
TEST_F(DrFixture, AbsurdHeadClockIsUnknown) {
  ha.dr.role.store(DrRole::Following);
  for (const std::uint64_t absurd :
       {std::uint64_t{1} << 63, (std::uint64_t{1} << 63) + 12345,
        std::numeric_limits<std::uint64_t>::max(), now_ns() + 86'400'000'000'000}) {
    ha.dr.head_wall_ns.store(absurd);
    const json reply = run({{"cmd", "dr"}, {"action", "status"}});
    ASSERT_TRUE(reply.value("ok", false)) << reply.dump();
    EXPECT_TRUE(reply["result"]["rpo_seconds"].is_null()) << absurd << ": " << reply.dump();
  }
  ha.dr.head_wall_ns.store(now_ns() - 2'000'000'000);
  const json reply = run({{"cmd", "dr"}, {"action", "status"}});
  const double age = reply["result"]["rpo_seconds"].get<double>();
  EXPECT_GE(age, 2.0);
  EXPECT_LT(age, 60.0);
}

TEST(AgeSeconds, Bounds) {
  const std::uint64_t now = 1'800'000'000'000'000'000;
  EXPECT_FALSE(age_seconds(0, now).has_value());
  EXPECT_FALSE(age_seconds(std::uint64_t{1} << 63, now).has_value());
  EXPECT_FALSE(age_seconds(now + 7'200'000'000'000, now).has_value());
  EXPECT_EQ(age_seconds(now + 1'000'000, now), 0.0);  // a little skew between sites
  EXPECT_DOUBLE_EQ(*age_seconds(now - 1'500'000'000, now), 1.5);
  EXPECT_GT(*age_seconds(1, now), 1e9);  // very old, but a real clock
}

// etcd's epoch holder as a DR pair's standby reads it: which site holds the centre, and the seq
// a takeover record names (a standby holding it may take the next epoch by itself).
TEST(TakeoverHolder, SiteAndPoint) {
  EXPECT_TRUE(taken_by_site("sh", "sh"));
  EXPECT_TRUE(taken_by_site("sh.at-812400", "sh"));
  EXPECT_TRUE(taken_by_site("sh.took-812330", "sh"));
  EXPECT_FALSE(taken_by_site("sh-2.took-5", "sh"));
  EXPECT_FALSE(taken_by_site("node-a", "sh"));
  EXPECT_FALSE(taken_by_site("sh", ""));

  EXPECT_EQ(takeover_point("sh.at-812400", "sh"), std::optional<std::uint64_t>(812400));
  EXPECT_EQ(takeover_point("sh.took-0", "sh"), std::optional<std::uint64_t>(0));
  // A node of the site routing alone (plain name), another site's record, or junk: no point.
  EXPECT_EQ(takeover_point("sh", "sh"), std::nullopt);
  EXPECT_EQ(takeover_point("bj.at-5", "sh"), std::nullopt);
  EXPECT_EQ(takeover_point("sh.took-", "sh"), std::nullopt);
  EXPECT_EQ(takeover_point("sh.took-12x", "sh"), std::nullopt);
  EXPECT_EQ(takeover_point("sh.took--1", "sh"), std::nullopt);
  EXPECT_EQ(takeover_point("sh.at-99999999999999999999", "sh"), std::nullopt);  // 20 digits
  EXPECT_EQ(takeover_point("sh.took-5", ""), std::nullopt);
}

}  // namespace
}  // namespace acd::control
