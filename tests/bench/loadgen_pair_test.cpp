// acd-loadgen's pair bookkeeping (bench/loadgen/pair.hpp): when it switches nodes, how it measures
// an outage, and which epochs it flags. Time is a plain number of nanoseconds passed in.
#include "pair.hpp"

#include <gtest/gtest.h>

namespace {

using acd::dataplane::Endpoint;
using acd::loadgen::EpochLedger;
using acd::loadgen::NodeChooser;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kAfter = 30 * kMs;
const Endpoint kA{0x0100007f, 7000, 0};
const Endpoint kB{0x0200007f, 7001, 0};

// One target: never silent, never follows a NotPrimary, never counts a failover.
TEST(NodeChooser, OneTargetNeverSwitches) {
  NodeChooser n({kA}, kAfter);
  EXPECT_FALSE(n.pair());
  EXPECT_FALSE(n.silent(0, 10 * kAfter));
  EXPECT_FALSE(n.not_primary(kA, kB, 0));
  n.fail_over(0);
  EXPECT_EQ(n.active(), kA);
  EXPECT_EQ(n.failovers(), 0u);
}

// A node that never answered is silent once the oldest request waited failover_after, not before;
// the gap runs from that request's first send to the new node's first answer.
TEST(NodeChooser, SilenceSwitchesAndMeasuresTheGap) {
  NodeChooser n({kA, kB}, kAfter);
  EXPECT_EQ(n.active(), kA);
  EXPECT_FALSE(n.silent(5 * kMs, 5 * kMs + kAfter - 1));
  ASSERT_TRUE(n.silent(5 * kMs, 5 * kMs + kAfter));
  n.fail_over(2 * kMs);
  EXPECT_EQ(n.active(), kB);
  EXPECT_EQ(n.failovers(), 1u);
  n.answered(kA, 40 * kMs);  // a late answer from the old node ends nothing
  EXPECT_TRUE(n.gaps_ms().empty());
  n.answered(kB, 42 * kMs);
  ASSERT_EQ(n.gaps_ms().size(), 1u);
  EXPECT_DOUBLE_EQ(n.gaps_ms()[0], 40.0);
  EXPECT_DOUBLE_EQ(n.max_gap_ms(), 40.0);
  n.answered(kB, 50 * kMs);  // only the first answer closes the outage
  EXPECT_EQ(n.gaps_ms().size(), 1u);
}

// A node heard from within failover_after is alive: one lost request does not make it silent.
TEST(NodeChooser, ANodeThatAnswersOthersIsNotSilent) {
  NodeChooser n({kA, kB}, kAfter);
  n.heard(kA, 20 * kMs);
  EXPECT_FALSE(n.silent(0, 40 * kMs));
  EXPECT_FALSE(n.silent(0, 20 * kMs + kAfter - 1));
  EXPECT_TRUE(n.silent(0, 20 * kMs + kAfter));
  n.heard(kB, 100 * kMs);  // the other node's life says nothing about this one
  EXPECT_TRUE(n.silent(0, 100 * kMs));
}

// While neither node answers it alternates; the whole outage is one gap, from the first request.
TEST(NodeChooser, AlternatesWhileNeitherAnswersOneGapPerOutage) {
  NodeChooser n({kA, kB}, kAfter);
  n.fail_over(1 * kMs);
  n.fail_over(31 * kMs);
  EXPECT_EQ(n.active(), kA);
  n.fail_over(61 * kMs);
  EXPECT_EQ(n.active(), kB);
  EXPECT_EQ(n.failovers(), 3u);
  n.answered(kB, 101 * kMs);
  ASSERT_EQ(n.gaps_ms().size(), 1u);
  EXPECT_DOUBLE_EQ(n.gaps_ms()[0], 100.0);
}

// NotPrimary from the node in use moves to the node it names, or to the other when it names
// nobody, itself or a stranger; one from the node not in use (a late answer) changes nothing.
TEST(NodeChooser, NotPrimaryFollowsTheNamedNode) {
  NodeChooser n({kA, kB}, kAfter);
  EXPECT_FALSE(n.not_primary(kB, kA, 0));  // not the node in use
  EXPECT_EQ(n.active(), kA);
  EXPECT_TRUE(n.not_primary(kA, kB, 0));
  EXPECT_EQ(n.active(), kB);
  EXPECT_TRUE(n.not_primary(kB, Endpoint{}, 0));  // zeros: the other
  EXPECT_EQ(n.active(), kA);
  EXPECT_TRUE(n.not_primary(kA, kA, 0));  // names itself: the other
  EXPECT_EQ(n.active(), kB);
  EXPECT_TRUE(n.not_primary(kB, Endpoint{0x0900000a, 7000, 0}, 0));  // a stranger: the other
  EXPECT_EQ(n.active(), kA);
  EXPECT_EQ(n.failovers(), 4u);
}

// Both nodes refusing (a hand-over under way): the switches follow each NotPrimary, but the
// waiting requests are sent again at once at most once per failover_after.
TEST(NodeChooser, BackToBackNotPrimaryResendsOncePerInterval) {
  NodeChooser n({kA, kB}, kAfter);
  std::uint64_t now = 100 * kMs;
  ASSERT_TRUE(n.not_primary(kA, kB, 0));
  EXPECT_TRUE(n.resend_after_not_primary(now));
  int resends = 0;
  for (int round = 0; round < 1000; ++round) {  // one round trip each 20 us, 20 ms in all
    now += 20'000;
    ASSERT_TRUE(n.not_primary(n.active(), Endpoint{}, 0));
    resends += n.resend_after_not_primary(now) ? 1 : 0;
  }
  EXPECT_EQ(n.failovers(), 1001u);
  EXPECT_EQ(resends, 0);  // 20 ms < kAfter since the first
  now += kAfter;
  ASSERT_TRUE(n.not_primary(n.active(), Endpoint{}, 0));
  EXPECT_TRUE(n.resend_after_not_primary(now));
}

// Each (epoch, node) is listed once, with when it was first seen.
TEST(EpochLedger, ListsEachEpochAndNodeOnce) {
  EpochLedger l;
  l.observe(3, kA, true, 1.0);
  l.observe(3, kA, true, 2.0);
  l.observe(3, kB, false, 5.0);
  l.observe(4, kB, true, 9.0);
  ASSERT_EQ(l.sightings().size(), 3u);
  EXPECT_EQ(l.sightings()[0].epoch, 3u);
  EXPECT_EQ(l.sightings()[0].node, kA);
  EXPECT_DOUBLE_EQ(l.sightings()[0].first_seen_ms, 1.0);
  EXPECT_EQ(l.sightings()[1].node, kB);
  EXPECT_DOUBLE_EQ(l.sightings()[1].first_seen_ms, 5.0);
  EXPECT_EQ(l.sightings()[2].epoch, 4u);
  EXPECT_EQ(l.conflicts(), 0u);
  EXPECT_EQ(l.regressions(), 0u);
}

// Outages before the measured run (sign-ins) are forgotten, an open one included.
TEST(NodeChooser, MeasuringStartsAfresh) {
  NodeChooser n({kA, kB}, kAfter);
  n.fail_over(0);
  n.start_measuring();
  EXPECT_EQ(n.failovers(), 0u);
  n.answered(kB, 5'000 * kMs);
  EXPECT_TRUE(n.gaps_ms().empty());
}

// A takeover announcement from the other node with a newer epoch moves the load there at once
// (the outage's gap starts at the oldest waiting request); one with an epoch already heard, or
// from the node in use, or from a stranger, changes nothing.
TEST(NodeChooser, AnAnnouncedNewerEpochSwitchesAtOnce) {
  NodeChooser n({kA, kB}, kAfter);
  n.epoch_heard(1);
  EXPECT_FALSE(n.announced(kB, 1, 0));  // the standby's datagrams in the primary's epoch
  const Endpoint stranger{0x0300007f, 7002, 0};
  EXPECT_FALSE(n.announced(stranger, 5, 0));
  EXPECT_EQ(n.active(), kA);
  ASSERT_TRUE(n.announced(kB, 2, 10 * kMs));
  EXPECT_EQ(n.active(), kB);
  EXPECT_EQ(n.failovers(), 1u);
  n.epoch_heard(2);
  EXPECT_FALSE(n.announced(kA, 2, 0));  // the same epoch again: no flapping back
  EXPECT_FALSE(n.announced(kB, 3, 0));  // from the node in use: nothing to switch
  EXPECT_EQ(n.active(), kB);
  n.answered(kB, 25 * kMs);
  ASSERT_EQ(n.gaps_ms().size(), 1u);
  EXPECT_DOUBLE_EQ(n.gaps_ms()[0], 15.0);
}

// Two nodes deciding in one epoch is a conflict, each such datagram counted; a standby's
// NotPrimary in the primary's epoch is not.
TEST(EpochLedger, TwoNodesDecidingInOneEpochConflict) {
  EpochLedger l;
  l.observe(7, kB, false, 0.0);  // a standby's NotPrimary, same epoch
  l.observe(7, kA, true, 1.0);
  EXPECT_EQ(l.conflicts(), 0u);
  l.observe(7, kB, true, 2.0);
  l.observe(7, kB, true, 3.0);
  l.observe(7, kA, true, 4.0);
  EXPECT_EQ(l.conflicts(), 3u);
  EXPECT_EQ(l.regressions(), 0u);
}

// A decision in an epoch lower than the highest decided before is a regression; a new epoch
// from the new primary is not.
TEST(EpochLedger, ADecisionFromAnOlderEpochRegresses) {
  EpochLedger l;
  l.observe(7, kA, true, 1.0);
  l.observe(8, kB, true, 2.0);
  EXPECT_EQ(l.regressions(), 0u);
  l.observe(7, kA, true, 3.0);
  EXPECT_EQ(l.regressions(), 1u);
  EXPECT_EQ(l.conflicts(), 0u);
  l.observe(6, kB, false, 4.0);  // no decision: only listed
  EXPECT_EQ(l.regressions(), 1u);
}

}  // namespace
