// The replication link over loopback, both ends polled from the test thread on a virtual clock
// (1 ms per step): order, batched acks, heartbeats, dead peers, snapshot catch-up, reconnection,
// hash checks, hostile bytes and the audit stream beside the log; then sealed links: keys proven, altered or replayed bytes refused.
// Every loop is bounded, so a broken link fails instead of hanging.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>
#include <random>

#include "acd/dataplane/replication_link.hpp"

namespace acd::dataplane {
namespace {

using namespace std::chrono_literals;
using PeerState = LinkPrimary::PeerState;

// What the standby's engine would be: the records applied, and a hash of them.
struct StandbyState {
  std::uint64_t hash = 0;
  std::uint64_t last_seq = 0;
  std::vector<std::uint64_t> seqs;
  std::vector<std::vector<std::uint8_t>> payloads;
  std::vector<std::uint8_t> snapshot;
  std::uint64_t snapshot_seq = 0;
  int snapshots = 0;
  std::uint64_t hash_bias = 0;  // makes this standby's hash differ from the primary's
};

std::uint64_t mix(std::uint64_t h, std::uint64_t seq) {
  return (h ^ seq) * 1099511628211ull;
}

std::vector<std::uint8_t> payload_of(std::uint64_t seq) {
  std::vector<std::uint8_t> p(8 + seq % 23);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = static_cast<std::uint8_t>(seq * 31 + i);
  }
  return p;
}

struct Harness {
  explicit Harness(LinkTiming t = {}, std::optional<LinkKeys> primary_keys = std::nullopt)
      : timing(t) {
    std::string why;
    primary = LinkPrimary::listen("127.0.0.1:0", timing, 7, why, std::move(primary_keys));
    EXPECT_NE(primary, nullptr) << why;
    address = "127.0.0.1:" + std::to_string(primary->port());
  }

  std::unique_ptr<LinkStandby> new_standby(std::uint64_t applied = 0) {
    std::string why;
    auto s = LinkStandby::create(address, timing, why, standby_keys);
    EXPECT_NE(s, nullptr) << why;
    s->set_applied(applied);
    if (audit_sink != nullptr) {
      s->set_audit_sink(audit_sink);
    }
    state = StandbyState{};
    state.last_seq = applied;
    return s;
  }

  void poll_primary() {
    primary->poll(now);
    primary->flush();
  }
  void poll_standby() {
    standby->poll(
        now,
        [&](std::uint64_t seq, std::span<const std::uint8_t> image) {
          state.snapshot.assign(image.begin(), image.end());
          state.snapshot_seq = seq;
          state.last_seq = seq;
          ++state.snapshots;
        },
        [&](std::uint64_t seq, std::span<const std::uint8_t> payload) {
          state.seqs.push_back(seq);
          state.payloads.emplace_back(payload.begin(), payload.end());
          state.hash = mix(state.hash, seq);
          state.last_seq = seq;
        },
        [&](std::uint64_t, std::uint64_t) { return state.hash + state.hash_bias; });
  }
  // One cycle: time moves 1 ms, the primary then the standby poll.
  void step() {
    now += 1ms;
    poll_primary();
    if (between) {
      between();
    }
    if (standby) {
      poll_standby();
    }
  }
  // Steps until `done` (at most `limit` steps); true if it came.
  bool run_until(const std::function<bool()>& done, int limit = 2000) {
    for (int i = 0; i < limit; ++i) {
      if (done()) {
        return true;
      }
      step();
    }
    return done();
  }
  // Connects the standby and answers its hello with nothing (no history).
  std::uint64_t connect(std::uint64_t applied = 0) {
    standby = new_standby(applied);
    std::optional<std::uint64_t> hello;
    EXPECT_TRUE(run_until([&] { return (hello = primary->take_hello()).has_value(); }));
    return hello.value_or(~0ull);
  }
  void append_range(std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t s = from; s <= to; ++s) {
      const auto p = payload_of(s);
      ASSERT_TRUE(primary->append(s, p)) << s;
      primary_hash = mix(primary_hash, s);
    }
  }

  LinkTiming timing;
  LinkClock::time_point now = LinkClock::time_point{} + 1h;
  std::unique_ptr<LinkPrimary> primary;
  std::unique_ptr<LinkStandby> standby;
  std::string address;
  std::optional<LinkKeys> standby_keys;
  std::function<void()> between;  // runs between the primary's and the standby's poll
  AuditStreamSink* audit_sink = nullptr;  // given to each new standby
  StandbyState state;
  std::uint64_t primary_hash = 0;
};

std::uint64_t count(const LinkPrimary& p, LinkCounter c) {
  return p.counters().read(c);
}
std::uint64_t count(const LinkStandby& s, LinkCounter c) {
  return s.counters().read(c);
}

// Bad addresses and timings are refused with a reason, and nothing listens.
TEST(ReplicationLink, RefusesBadConfiguration) {
  std::string why;
  EXPECT_EQ(LinkPrimary::listen("localhost", {}, 1, why), nullptr);
  EXPECT_NE(why.find("a.b.c.d:port"), std::string::npos);
  why.clear();
  EXPECT_EQ(LinkPrimary::listen("127.0.0.1:0", LinkTiming{50ms, 10ms}, 1, why), nullptr);
  EXPECT_NE(why.find("heartbeat"), std::string::npos);
  why.clear();
  EXPECT_EQ(LinkStandby::create("127.0.0.1:0", {}, why), nullptr);
  EXPECT_FALSE(why.empty());
}

// Records arrive in order with their payloads, acks advance acked_seq, the standby turns
// Synchronous; records the caller offers before answering a hello, or out of order, are refused.
TEST(ReplicationLink, RecordsArriveInOrderAndAcksAdvance) {
  Harness h;
  EXPECT_EQ(h.primary->peer(), PeerState::None);
  EXPECT_FALSE(h.primary->append(1, payload_of(1)));  // no standby yet
  EXPECT_EQ(h.connect(0), 0u);
  EXPECT_EQ(h.primary->peer(), PeerState::CatchingUp);
  for (std::uint64_t s = 1; s <= 300; s += 30) {
    h.append_range(s, s + 29);
    h.step();
  }
  EXPECT_FALSE(h.primary->append(302, payload_of(302)));  // not the next seq
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 300; }));
  ASSERT_EQ(h.state.seqs.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) {
    ASSERT_EQ(h.state.seqs[i], i + 1);
    ASSERT_EQ(h.state.payloads[i], payload_of(i + 1));
  }
  EXPECT_EQ(h.primary->peer(), PeerState::Synchronous);
  EXPECT_EQ(h.standby->primary_epoch(), 7u);
  EXPECT_TRUE(h.standby->primary_alive());
  EXPECT_EQ(count(*h.primary, LinkCounter::append_refused), 2u);
}

// awaiting_ack (what lets an idle primary sleep on the standby's socket at once) holds exactly
// while appended records are unacknowledged, and never without a standby.
TEST(ReplicationLink, AwaitingAckOnlyWhileRecordsAreUnacknowledged) {
  Harness h;
  EXPECT_FALSE(h.primary->awaiting_ack());
  EXPECT_EQ(h.connect(0), 0u);
  EXPECT_FALSE(h.primary->awaiting_ack());
  h.append_range(1, 10);
  EXPECT_TRUE(h.primary->awaiting_ack());
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 10; }));
  EXPECT_FALSE(h.primary->awaiting_ack());
}

// 10,000 records in one cycle are all acknowledged, with far fewer acks than records, and the
// ack latency is sampled.
TEST(ReplicationLink, BatchOfTenThousandIsAcknowledgedInFewAcks) {
  Harness h;
  h.connect(0);
  h.append_range(1, 10'000);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 10'000; }));
  EXPECT_EQ(h.state.seqs.size(), 10'000u);
  EXPECT_EQ(h.state.seqs.back(), 10'000u);
  const auto acks = count(*h.primary, LinkCounter::acks_received);
  EXPECT_GT(acks, 0u);
  EXPECT_LT(acks, 100u);
  EXPECT_EQ(acks, count(*h.standby, LinkCounter::acks_sent));
  EXPECT_GT(h.primary->ack_latency().count.load(), 0u);
  EXPECT_EQ(count(*h.standby, LinkCounter::records_applied), 10'000u);
}

// A standby whose journal has made only part of what it applied durable acknowledges only that
// part, and the rest as the journal catches up: what the primary releases is on the standby's
// disk too.
TEST(ReplicationLink, AcksWaitForTheStandbysJournal) {
  Harness h;
  h.connect(0);
  h.standby->set_durable_through(40);
  h.append_range(1, 100);
  ASSERT_TRUE(h.run_until([&] { return h.state.seqs.size() == 100u; }));
  for (int i = 0; i < 20; ++i) {
    h.step();
  }
  EXPECT_EQ(h.primary->acked_seq(), 40u);
  h.standby->set_durable_through(100);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 100u; }, 20));
}

// Idle for half a second (virtual), heartbeats keep both ends alive.
TEST(ReplicationLink, HeartbeatsKeepAnIdlePairAlive) {
  Harness h;
  h.connect(0);
  for (int i = 0; i < 500; ++i) {
    h.step();
    ASSERT_NE(h.primary->peer(), PeerState::Dead) << i;
    ASSERT_TRUE(h.standby->primary_alive()) << i;
  }
  EXPECT_GE(count(*h.primary, LinkCounter::heartbeats_received), 40u);
  EXPECT_GE(count(*h.standby, LinkCounter::heartbeats_received), 40u);
  EXPECT_EQ(count(*h.primary, LinkCounter::peer_dead), 0u);
  EXPECT_EQ(count(*h.standby, LinkCounter::peer_dead), 0u);
}

// A standby that stops polling is declared dead by the primary within dead_after + heartbeat.
TEST(ReplicationLink, PrimaryDeclaresASilentStandbyDead) {
  Harness h;
  h.connect(0);
  ASSERT_TRUE(h.run_until([&] { return h.primary->peer() == PeerState::Synchronous; }));
  const auto last_heard = h.now;
  while (h.primary->peer() != PeerState::Dead && h.now - last_heard < 1s) {
    h.now += 1ms;
    h.poll_primary();
  }
  EXPECT_EQ(h.primary->peer(), PeerState::Dead);
  EXPECT_LE(h.now - last_heard, h.timing.dead_after + h.timing.heartbeat);
  EXPECT_EQ(count(*h.primary, LinkCounter::peer_dead), 1u);
}

// A primary that stops polling is declared dead by the standby within dead_after + heartbeat.
TEST(ReplicationLink, StandbyDeclaresASilentPrimaryDead) {
  Harness h;
  h.connect(0);
  ASSERT_TRUE(h.run_until([&] { return h.standby->primary_alive(); }));
  const auto last_heard = h.now;
  while (h.standby->primary_alive() && h.now - last_heard < 1s) {
    h.now += 1ms;
    h.poll_standby();
  }
  EXPECT_FALSE(h.standby->primary_alive());
  EXPECT_LE(h.now - last_heard, h.timing.dead_after + h.timing.heartbeat);
  EXPECT_EQ(count(*h.standby, LinkCounter::peer_dead), 1u);
}

// A standby told that it is behind (the primary is about to capture an image on its routing
// thread, sending nothing meanwhile) waits catch_up_wait for it, not dead_after; once what
// catches it up has begun to arrive, silence is death after dead_after again.
TEST(ReplicationLink, AStandbyToldItIsBehindWaitsForTheImage) {
  LinkTiming timing;
  timing.catch_up_wait = 2s;
  Harness h(timing);
  EXPECT_EQ(h.connect(0), 0u);
  h.primary->announce_catch_up(1000);
  ASSERT_TRUE(h.run_until([&] { return h.standby->primary_head_seq() == 1000; }));
  // The primary goes quiet for 1.5 s (far beyond dead_after, within catch_up_wait).
  const auto quiet_from = h.now;
  while (h.now - quiet_from < 1500ms) {
    h.now += 1ms;
    h.poll_standby();
    ASSERT_TRUE(h.standby->primary_alive()) << "dropped after "
                                            << (h.now - quiet_from) / 1ms << " ms";
  }
  EXPECT_EQ(count(*h.standby, LinkCounter::peer_dead), 0u);
  // The image comes; the standby applies it and acknowledges.
  const std::vector<std::uint8_t> image(300u << 10, 7);
  ASSERT_TRUE(h.primary->send_snapshot(1000, image));
  h.primary->flush();
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 1000; }));
  EXPECT_EQ(h.state.snapshots, 1);
  // From now on the usual limit: silent for dead_after (plus a heartbeat) and it is dead.
  const auto last_heard = h.now;
  while (h.standby->primary_alive() && h.now - last_heard < 1s) {
    h.now += 1ms;
    h.poll_standby();
  }
  EXPECT_FALSE(h.standby->primary_alive());
  EXPECT_LE(h.now - last_heard, h.timing.dead_after + h.timing.heartbeat);
}

// Told it is behind, a standby still gives up on a primary silent for catch_up_wait.
TEST(ReplicationLink, AStandbyToldItIsBehindGivesUpAfterCatchUpWait) {
  LinkTiming timing;
  timing.catch_up_wait = 300ms;
  Harness h(timing);
  h.connect(0);
  h.primary->announce_catch_up(50);
  ASSERT_TRUE(h.run_until([&] { return h.standby->primary_head_seq() == 50; }));
  const auto quiet_from = h.now;
  while (h.standby->primary_alive() && h.now - quiet_from < 2s) {
    h.now += 1ms;
    h.poll_standby();
  }
  EXPECT_FALSE(h.standby->primary_alive());
  EXPECT_GE(h.now - quiet_from, 300ms);
  EXPECT_LE(h.now - quiet_from, 300ms + h.timing.heartbeat);
  EXPECT_EQ(count(*h.standby, LinkCounter::peer_dead), 1u);
}

// A standby joining late says hello with nothing applied; the primary no longer has the early
// records, so it sends a 5 MB snapshot (many chunks) and the records after it.
TEST(ReplicationLink, LateStandbyIsCaughtUpBySnapshotThenRecords) {
  Harness h;
  std::vector<std::uint8_t> image(5u << 20);
  std::mt19937_64 rng(42);
  for (auto& b : image) {
    b = static_cast<std::uint8_t>(rng());
  }
  for (int i = 0; i < 20; ++i) {
    h.step();  // the primary runs alone for a while
  }
  EXPECT_EQ(h.connect(0), 0u);
  ASSERT_TRUE(h.primary->send_snapshot(1000, image));
  h.append_range(1001, 1100);
  h.primary->flush();
  EXPECT_EQ(h.primary->peer(), PeerState::CatchingUp);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 1100; }));
  EXPECT_EQ(h.state.snapshots, 1);
  EXPECT_EQ(h.state.snapshot_seq, 1000u);
  EXPECT_TRUE(h.state.snapshot == image);
  ASSERT_EQ(h.state.seqs.size(), 100u);
  EXPECT_EQ(h.state.seqs.front(), 1001u);
  EXPECT_EQ(h.state.seqs.back(), 1100u);
  EXPECT_EQ(h.primary->peer(), PeerState::Synchronous);
  EXPECT_EQ(count(*h.standby, LinkCounter::snapshots), 1u);
}

// A standby killed and restarted says hello with what it had applied and continues from there.
TEST(ReplicationLink, KilledStandbyReconnectsAndContinues) {
  Harness h;
  h.connect(0);
  h.append_range(1, 50);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 50; }));
  h.standby.reset();  // killed: its socket closes
  ASSERT_TRUE(h.run_until([&] { return h.primary->peer() == PeerState::Dead; }));
  EXPECT_FALSE(h.primary->append(51, payload_of(51)));  // nobody to send to

  EXPECT_EQ(h.connect(50), 50u);
  h.append_range(51, 60);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 60; }));
  ASSERT_EQ(h.state.seqs.size(), 10u);
  EXPECT_EQ(h.state.seqs.front(), 51u);
  EXPECT_EQ(h.primary->peer(), PeerState::Synchronous);
  EXPECT_EQ(count(*h.primary, LinkCounter::reconnects), 1u);
  EXPECT_EQ(count(*h.primary, LinkCounter::peer_closed), 1u);
}

// A standby restarted before the primary noticed the old connection die replaces it at hello.
TEST(ReplicationLink, NewStandbyReplacesAHalfDeadOne) {
  Harness h;
  h.connect(0);
  h.append_range(1, 5);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 5; }));
  auto old = std::move(h.standby);  // silent but its socket stays open
  EXPECT_EQ(h.connect(5), 5u);
  EXPECT_EQ(count(*h.primary, LinkCounter::standby_replaced), 1u);
  h.append_range(6, 8);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 8; }));
}

// Equal hashes are no mismatch; a standby whose state differs is reported once, at its seq.
TEST(ReplicationLink, HashCheckReportsOnlyADifference) {
  Harness h;
  h.connect(0);
  h.append_range(1, 20);
  ASSERT_TRUE(h.primary->send_hash(20, h.primary_hash));
  EXPECT_FALSE(h.primary->send_hash(19, 0));  // not the last seq sent
  ASSERT_TRUE(h.run_until([&] { return count(*h.primary, LinkCounter::hash_checks) == 1; }));
  EXPECT_EQ(h.primary->hash_mismatch_seq(), std::nullopt);

  h.state.hash_bias = 1;  // the standby's engine diverges
  h.append_range(21, 30);
  ASSERT_TRUE(h.primary->send_hash(30, h.primary_hash));
  ASSERT_TRUE(h.run_until([&] { return count(*h.primary, LinkCounter::hash_checks) == 2; }));
  EXPECT_EQ(h.primary->hash_mismatch_seq(), std::optional<std::uint64_t>(30));
  EXPECT_EQ(h.primary->hash_mismatch_seq(), std::nullopt);  // reported once
  EXPECT_EQ(count(*h.primary, LinkCounter::hash_mismatches), 1u);
  EXPECT_EQ(count(*h.standby, LinkCounter::hash_mismatches), 1u);
}

int raw_connect(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

// True once the peer has closed `fd` (recv sees end of stream or a reset).
bool closed_by_peer(int fd) {
  std::uint8_t b[4096];
  const ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

std::vector<std::uint8_t> frame(std::uint8_t type, std::uint8_t version, std::uint16_t flags,
                                std::vector<std::uint8_t> body) {
  std::vector<std::uint8_t> f(8);
  const auto length = static_cast<std::uint32_t>(8 + body.size());
  std::memcpy(f.data(), &length, 4);
  f[4] = type;
  f[5] = version;
  std::memcpy(f.data() + 6, &flags, 2);
  f.insert(f.end(), body.begin(), body.end());
  return f;
}
std::vector<std::uint8_t> u64(std::uint64_t v) {
  std::vector<std::uint8_t> b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

// Garbage, a frame of a bad version or flags, and a second hello each close their connection and
// are counted; the primary still serves a real standby afterwards.
TEST(ReplicationLink, PrimaryClosesHostileConnectionsAndStillServes) {
  Harness h;
  struct Case {
    std::vector<std::uint8_t> bytes;
    LinkCounter reason;
  };
  std::vector<std::uint8_t> garbage(64);
  std::mt19937_64 rng(7);
  for (auto& b : garbage) {
    b = static_cast<std::uint8_t>(rng());
  }
  garbage[0] = 0xff;  // a length beyond any frame
  garbage[3] = 0xff;
  auto hello_then = [](std::vector<std::uint8_t> tail) {
    auto f = frame(1, 1, 0, u64(0));
    f.insert(f.end(), tail.begin(), tail.end());
    return f;
  };
  const std::vector<Case> cases{
      {garbage, LinkCounter::bad_length},
      {frame(3, 1, 0, u64(0)), LinkCounter::bad_type},  // no hello first
      {frame(1, 2, 0, u64(0)), LinkCounter::bad_version},
      {frame(1, 1, repl::kFlagAuthenticated, u64(0)), LinkCounter::bad_flags},
      {frame(1, 1, 0, {1, 2, 3}), LinkCounter::bad_body},
      {hello_then(frame(1, 1, 0, u64(0))), LinkCounter::bad_type},       // a second hello
      {hello_then(frame(8, 1, 0, u64(99))), LinkCounter::bad_sequence},  // acks the unsent
      {hello_then(frame(42, 1, 0, {})), LinkCounter::bad_type},
  };
  for (const auto& c : cases) {
    const auto before = count(*h.primary, c.reason);
    const int fd = raw_connect(h.primary->port());
    ASSERT_EQ(send(fd, c.bytes.data(), c.bytes.size(), 0), static_cast<ssize_t>(c.bytes.size()));
    EXPECT_TRUE(h.run_until([&] { return closed_by_peer(fd); }, 100))
        << link_counter_name(c.reason);
    EXPECT_EQ(count(*h.primary, c.reason), before + 1) << link_counter_name(c.reason);
    close(fd);
  }
  EXPECT_EQ(h.connect(0), 0u);
  h.append_range(1, 10);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 10; }));
  EXPECT_EQ(h.state.seqs.size(), 10u);
}

// A DR follower's link: Head frames tell the follower the primary's newest seq (set_head, ahead of
// what was sent) and when it said so; a hot standby's link sends none; a follower may not send
// one (refused as bad_type).
TEST(ReplicationLink, HeadFramesTellADrFollowerHowFarBehindItIs) {
  Harness h;
  h.primary->set_announce_head(true);
  EXPECT_EQ(h.connect(0), 0u);
  h.append_range(1, 5);
  h.primary->set_head(9);  // four more logged, not sent yet (waiting for an image, say)
  const auto before = std::chrono::system_clock::now();
  ASSERT_TRUE(h.run_until(
      [&] { return h.standby->primary_head_seq() == 9 && h.primary->acked_seq() == 5; }, 200));
  EXPECT_EQ(h.state.last_seq, 5u);
  const auto said = std::chrono::system_clock::time_point(
      std::chrono::nanoseconds(h.standby->primary_head_wall_ns()));
  EXPECT_LE(std::chrono::abs(said - before), 5s);
  EXPECT_EQ(h.primary->peer(), PeerState::Synchronous);  // the frame disturbs nothing

  Harness quiet;  // a standby's link
  EXPECT_EQ(quiet.connect(0), 0u);
  quiet.append_range(1, 5);
  ASSERT_TRUE(quiet.run_until([&] { return quiet.primary->acked_seq() == 5; }));
  for (int i = 0; i < 100; ++i) {
    quiet.step();
  }
  EXPECT_EQ(quiet.standby->primary_head_seq(), 0u);
  EXPECT_EQ(quiet.standby->primary_head_wall_ns(), 0u);

  const auto refused = count(*quiet.primary, LinkCounter::bad_type);
  const int fd = raw_connect(quiet.primary->port());
  auto bytes = frame(1, 1, 0, u64(0));
  const auto head = frame(12, 1, 0, [] {
    auto b = u64(1);
    const auto t = u64(2);
    b.insert(b.end(), t.begin(), t.end());
    return b;
  }());
  bytes.insert(bytes.end(), head.begin(), head.end());
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  EXPECT_TRUE(quiet.run_until([&] { return closed_by_peer(fd); }, 100));
  EXPECT_EQ(count(*quiet.primary, LinkCounter::bad_type), refused + 1);
  close(fd);
}

// A connection that never says hello is closed after dead_after; more than a few waiting at once
// are refused. Neither disturbs the standby being served.
TEST(ReplicationLink, SilentConnectionsTimeOutAndExcessIsRefused) {
  Harness h;
  h.connect(0);
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) {
    fds.push_back(raw_connect(h.primary->port()));
  }
  ASSERT_TRUE(h.run_until(
      [&] {
        return std::all_of(fds.begin(), fds.end(), [](int fd) { return closed_by_peer(fd); });
      },
      200));
  EXPECT_EQ(count(*h.primary, LinkCounter::refused_connections), 2u);
  EXPECT_EQ(count(*h.primary, LinkCounter::hello_timeouts), 4u);
  for (int fd : fds) {
    close(fd);
  }
  h.append_range(1, 3);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 3; }));
}

// A fake primary whose records skip a seq: the standby closes the connection, counts it, applies
// nothing of that frame, and tries again later.
TEST(ReplicationLink, StandbyRefusesRecordsOutOfOrder) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len), 0);

  std::string why;
  auto standby = LinkStandby::create("127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), {}, why);
  ASSERT_NE(standby, nullptr) << why;
  auto now = LinkClock::time_point{} + 1h;
  int applied = 0;
  auto poll = [&] {
    now += 1ms;
    standby->poll(
        now, [&](std::uint64_t, std::span<const std::uint8_t>) { ++applied; },
        [&](std::uint64_t, std::span<const std::uint8_t>) { ++applied; },
        [](std::uint64_t, std::uint64_t) { return std::uint64_t{0}; });
  };
  poll();
  const int fd = accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  // Welcome, then one Records frame: seq 1 (fine) and seq 3 (a gap).
  std::vector<std::uint8_t> body;
  for (std::uint64_t seq : {1, 3}) {
    auto s = u64(seq);
    body.insert(body.end(), s.begin(), s.end());
    const std::uint32_t n = 2;
    body.insert(body.end(), reinterpret_cast<const std::uint8_t*>(&n),
                reinterpret_cast<const std::uint8_t*>(&n) + 4);
    body.push_back(0xaa);
    body.push_back(0xbb);
  }
  auto bytes = frame(2, 1, 0, u64(9));
  const auto records = frame(4, 1, 0, body);
  bytes.insert(bytes.end(), records.begin(), records.end());
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  for (int i = 0; i < 100 && !closed_by_peer(fd); ++i) {
    poll();
  }
  EXPECT_TRUE(closed_by_peer(fd));
  EXPECT_EQ(applied, 0);
  EXPECT_EQ(standby->counters().read(LinkCounter::bad_sequence), 1u);
  EXPECT_EQ(standby->applied_seq(), 0u);
  close(fd);
  close(listener);
}

// ---------------------------------------------------------------- the audit stream

// A standby's audit log: the lines delivered, and what it says it holds on disk.
struct TestAuditSink final : AuditStreamSink {
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  std::uint64_t held = 0;
  bool hold_as_received = true;  // false: the test says when lines are on disk
  void on_audit_line(std::uint64_t seq, std::span<const std::uint8_t> line) noexcept override {
    lines.emplace_back(seq, std::string(line.begin(), line.end()));
    if (hold_as_received) {
      held = seq;
    }
  }
  std::uint64_t audit_held() const noexcept override { return held; }
  std::vector<std::pair<std::uint64_t, std::uint8_t>> restarts;  // after, prev's first byte
  std::optional<AuditPosition> resend;
  std::optional<AuditPosition> audit_position() const noexcept override {
    AuditPosition p{held, {}};
    p.hash[0] = static_cast<std::uint8_t>(held);
    return p;
  }
  void on_audit_restart(std::uint64_t after,
                        const std::array<std::uint8_t, 32>& prev) noexcept override {
    restarts.emplace_back(after, prev[0]);
  }
  std::optional<AuditPosition> take_audit_resend() noexcept override {
    return std::exchange(resend, std::nullopt);
  }
};

std::vector<std::uint8_t> audit_line(std::uint64_t seq) {
  const std::string text = "{\"kind\":\"control.command\",\"seq\":" + std::to_string(seq) + "}";
  return {text.begin(), text.end()};
}

// Audit records travel beside the log's records on one connection, each stream in its own
// order; the standby's acknowledgement follows what its audit log holds, not what arrived.
TEST(ReplicationLinkAudit, RecordsArriveBesideTheLogAndAreAcknowledgedWhenHeld) {
  TestAuditSink sink;
  sink.hold_as_received = false;
  Harness h;
  h.audit_sink = &sink;
  h.connect(0);
  EXPECT_FALSE(h.primary->append_audit(1, audit_line(1)));  // before the standby said where it is
  std::optional<std::uint64_t> resume;
  ASSERT_TRUE(h.run_until([&] { return (resume = h.primary->take_audit_resume()).has_value(); }));
  EXPECT_EQ(*resume, 0u);
  for (std::uint64_t s = 1; s <= 6; ++s) {
    h.append_range(s, s);
    ASSERT_TRUE(h.primary->append_audit(s * 2, audit_line(s * 2)));  // gaps are allowed
  }
  EXPECT_FALSE(h.primary->append_audit(12, audit_line(12)));  // not above the last
  EXPECT_FALSE(h.primary->append_audit(13, {}));               // empty
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 6 && h.state.seqs.size() == 6; }));
  EXPECT_EQ(sink.lines.front().first, 2u);
  EXPECT_EQ(sink.lines.back().first, 12u);
  EXPECT_EQ(sink.lines.back().second, std::string("{\"kind\":\"control.command\",\"seq\":12}"));
  for (int i = 0; i < 20; ++i) {
    h.step();
  }
  EXPECT_EQ(h.primary->audit_acked(), 0u);  // nothing on the standby's disk yet
  sink.held = 8;
  ASSERT_TRUE(h.run_until([&] { return h.primary->audit_acked() == 8; }));
  sink.held = 12;
  ASSERT_TRUE(h.run_until([&] { return h.primary->audit_acked() == 12; }));
  EXPECT_EQ(count(*h.primary, LinkCounter::audit_records_sent), 6u);
  EXPECT_EQ(count(*h.standby, LinkCounter::audit_records_received), 6u);
}

// A standby killed with some audit records not yet on its disk tells the primary, when it comes
// back, the last one it holds; the primary resumes right after it.
TEST(ReplicationLinkAudit, ReconnectedStandbyResumesAfterWhatItHolds) {
  TestAuditSink sink;
  sink.hold_as_received = false;
  Harness h;
  h.audit_sink = &sink;
  h.connect(0);
  ASSERT_TRUE(h.run_until([&] { return h.primary->take_audit_resume().has_value(); }));
  for (std::uint64_t s = 1; s <= 5; ++s) {
    ASSERT_TRUE(h.primary->append_audit(s, audit_line(s)));
  }
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 5; }));
  sink.held = 3;  // 4 and 5 were still in its queue when it died
  ASSERT_TRUE(h.run_until([&] { return h.primary->audit_acked() == 3; }));
  h.standby.reset();
  ASSERT_TRUE(h.run_until([&] { return h.primary->peer() == PeerState::Dead; }));
  EXPECT_FALSE(h.primary->audit_open());
  EXPECT_FALSE(h.primary->append_audit(6, audit_line(6)));

  sink.lines.clear();
  h.connect(0);
  std::optional<std::uint64_t> resume;
  ASSERT_TRUE(h.run_until([&] { return (resume = h.primary->take_audit_resume()).has_value(); }));
  EXPECT_EQ(*resume, 3u);
  EXPECT_EQ(h.primary->audit_acked(), 3u);
  for (std::uint64_t s = *resume + 1; s <= 6; ++s) {
    ASSERT_TRUE(h.primary->append_audit(s, audit_line(s)));
  }
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 3; }));
  EXPECT_EQ(sink.lines.front().first, 4u);
  sink.held = 6;
  ASSERT_TRUE(h.run_until([&] { return h.primary->audit_acked() == 6; }));
  EXPECT_EQ(count(*h.standby, LinkCounter::audit_acks_sent), 2u);  // where it stood, then 6
}

// The standby's audit log found a gap: its AuditFrom (the position and hash it holds) reopens
// the primary's audit stream, the primary's AuditRestart says where the records that follow
// start, and records the standby saw already on this connection are delivered again, not
// refused as out of order.
TEST(ReplicationLinkAudit, AResendIsAskedAndAnsweredWithARestart) {
  TestAuditSink sink;
  Harness h;
  h.audit_sink = &sink;
  h.connect(0);
  std::optional<std::uint64_t> resume;
  ASSERT_TRUE(h.run_until([&] { return (resume = h.primary->take_audit_resume()).has_value(); }));
  EXPECT_EQ(*resume, 0u);
  std::array<std::uint8_t, 32> prev{};
  prev[0] = 0xaa;
  ASSERT_TRUE(h.primary->restart_audit(0, prev));
  for (std::uint64_t s = 1; s <= 6; ++s) {
    ASSERT_TRUE(h.primary->append_audit(s, audit_line(s)));
  }
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 6; }));
  ASSERT_EQ(sink.restarts.size(), 1u);
  EXPECT_EQ(sink.restarts[0], (std::pair<std::uint64_t, std::uint8_t>{0, 0xaa}));
  // 4 went missing before the standby's disk: it holds 3 and asks again from there.
  sink.held = 3;
  sink.resend = AuditPosition{3, {}};
  sink.resend->hash[0] = 0x33;
  h.poll_standby();  // the AuditFrom leaves...
  for (std::uint64_t s = 7; s <= 8; ++s) {  // ... while these are on their way
    ASSERT_TRUE(h.primary->append_audit(s, audit_line(s)));
  }
  h.primary->flush();
  ASSERT_TRUE(h.run_until([&] { return (resume = h.primary->take_audit_resume()).has_value(); }));
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 8; }));
  EXPECT_EQ(*resume, 3u);
  EXPECT_EQ(h.primary->audit_resume_hash()[0], 0x33);
  prev[0] = 0x33;
  ASSERT_TRUE(h.primary->restart_audit(3, prev));
  for (std::uint64_t s = 4; s <= 6; ++s) {
    ASSERT_TRUE(h.primary->append_audit(s, audit_line(s)));
  }
  ASSERT_TRUE(h.run_until([&] { return sink.lines.size() == 11; }));
  EXPECT_TRUE(h.standby->primary_alive());
  ASSERT_EQ(sink.restarts.size(), 2u);
  EXPECT_EQ(sink.restarts[1], (std::pair<std::uint64_t, std::uint8_t>{3, 0x33}));
  EXPECT_EQ(sink.lines.back().first, 6u);
  ASSERT_TRUE(h.run_until([&] { return h.primary->audit_acked() == 6; }));
  EXPECT_EQ(count(*h.standby, LinkCounter::bad_sequence), 0u);
}

// A standby without an audit log never asks: the primary ships nothing to it.
TEST(ReplicationLinkAudit, StandbyWithoutAnAuditLogIsNotShipped) {
  Harness h;
  h.connect(0);
  h.append_range(1, 3);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 3; }));
  EXPECT_FALSE(h.primary->take_audit_resume().has_value());
  EXPECT_FALSE(h.primary->audit_room());
  EXPECT_FALSE(h.primary->append_audit(1, audit_line(1)));
}

// Audit frames of the wrong size, direction or order close the primary's connection, counted.
TEST(ReplicationLinkAudit, PrimaryClosesMalformedAuditFrames) {
  Harness h;
  struct Case {
    std::vector<std::uint8_t> bytes;
    LinkCounter reason;
  };
  auto hello_then = [](std::vector<std::vector<std::uint8_t>> frames) {
    auto f = frame(1, 1, 0, u64(0));
    for (const auto& g : frames) {
      f.insert(f.end(), g.begin(), g.end());
    }
    return f;
  };
  std::vector<std::uint8_t> records_body = u64(1);
  records_body.insert(records_body.end(), {1, 0, 0, 0, 'x'});
  const std::vector<Case> cases{
      {hello_then({frame(11, 1, 0, {1, 2, 3})}), LinkCounter::bad_body},
      {hello_then({frame(11, 1, 0, std::vector<std::uint8_t>(16))}), LinkCounter::bad_body},
      {hello_then({frame(10, 1, 0, records_body)}), LinkCounter::bad_type},  // not to a primary
      {hello_then({frame(11, 1, 0, u64(5)), frame(11, 1, 0, u64(4))}),
       LinkCounter::bad_sequence},  // backwards
      {hello_then({frame(11, 1, 0, u64(5)), frame(11, 1, 0, u64(6))}),
       LinkCounter::bad_sequence},  // acknowledges what was never sent
  };
  for (const auto& c : cases) {
    const auto before = count(*h.primary, c.reason);
    const int fd = raw_connect(h.primary->port());
    ASSERT_EQ(send(fd, c.bytes.data(), c.bytes.size(), 0), static_cast<ssize_t>(c.bytes.size()));
    EXPECT_TRUE(h.run_until(
        [&] {
          (void)h.primary->take_hello();
          return closed_by_peer(fd);
        },
        100))
        << link_counter_name(c.reason);
    EXPECT_EQ(count(*h.primary, c.reason), before + 1) << link_counter_name(c.reason);
    close(fd);
  }
}

// A fake primary's AuditRecords: to a standby that never asked, out of order, or with an empty
// line. Each closes the connection, counted, and nothing of the frame reaches the audit log.
TEST(ReplicationLinkAudit, StandbyRefusesMalformedAuditRecords) {
  struct Case {
    bool with_sink;
    std::vector<std::pair<std::uint64_t, std::string>> records;
    LinkCounter reason;
  };
  const std::vector<Case> cases{
      {false, {{1, "a"}}, LinkCounter::bad_type},
      {true, {{2, "a"}, {2, "b"}}, LinkCounter::bad_sequence},
      {true, {{1, "a"}, {2, ""}}, LinkCounter::bad_body},
  };
  for (const auto& c : cases) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(listen(listener, 4), 0);
    socklen_t len = sizeof sa;
    ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    std::string why;
    auto standby = LinkStandby::create("127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), {}, why);
    ASSERT_NE(standby, nullptr) << why;
    TestAuditSink sink;
    if (c.with_sink) {
      standby->set_audit_sink(&sink);
    }
    auto now = LinkClock::time_point{} + 1h;
    auto poll = [&] {
      now += 1ms;
      standby->poll(
          now, [](std::uint64_t, std::span<const std::uint8_t>) {},
          [](std::uint64_t, std::span<const std::uint8_t>) {},
          [](std::uint64_t, std::uint64_t) { return std::uint64_t{0}; });
    };
    poll();
    const int fd = accept(listener, nullptr, nullptr);
    ASSERT_GE(fd, 0);
    std::vector<std::uint8_t> body;
    for (const auto& [seq, text] : c.records) {
      auto s = u64(seq);
      body.insert(body.end(), s.begin(), s.end());
      const auto n = static_cast<std::uint32_t>(text.size());
      body.insert(body.end(), reinterpret_cast<const std::uint8_t*>(&n),
                  reinterpret_cast<const std::uint8_t*>(&n) + 4);
      body.insert(body.end(), text.begin(), text.end());
    }
    auto bytes = frame(2, 1, 0, u64(9));
    const auto records = frame(10, 1, 0, body);
    bytes.insert(bytes.end(), records.begin(), records.end());
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    for (int i = 0; i < 100 && !closed_by_peer(fd); ++i) {
      poll();
    }
    EXPECT_TRUE(closed_by_peer(fd)) << link_counter_name(c.reason);
    EXPECT_TRUE(sink.lines.empty()) << link_counter_name(c.reason);
    EXPECT_EQ(standby->counters().read(c.reason), 1u) << link_counter_name(c.reason);
    close(fd);
    close(listener);
  }
}

}  // namespace
}  // namespace acd::dataplane

namespace acd::dataplane {
namespace {

// ---------------------------------------------------------------- sealed links

struct PairKeys {
  secure::StaticKeyPair primary = secure::generate_key_pair();
  secure::StaticKeyPair standby = secure::generate_key_pair();
  secure::StaticKeyPair stranger = secure::generate_key_pair();
  LinkKeys for_primary() const { return {primary.secret, standby.public_key}; }
  LinkKeys for_standby() const { return {standby.secret, primary.public_key}; }
};

// A TCP relay between a standby and the primary, pumped from the test thread; it shows the test
// every chunk the primary sends and lets it alter or inject bytes on their way to the standby.
struct Relay {
  explicit Relay(std::uint16_t primary_port) : primary_port_(primary_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len), 0);
    address = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  }
  ~Relay() {
    drop();
    close(listen_fd_);
  }
  void drop() {
    for (int* fd : {&standby_fd_, &primary_fd_}) {
      if (*fd >= 0) {
        close(*fd);
        *fd = -1;
      }
    }
  }
  // Moves what is waiting in each direction (to_standby may alter the primary's chunks).
  void pump() {
    if (standby_fd_ < 0) {
      standby_fd_ = accept(listen_fd_, nullptr, nullptr);
      if (standby_fd_ < 0) {
        return;
      }
      primary_fd_ = raw_connect(primary_port_);
    }
    if (!move(primary_fd_, standby_fd_, true) || !move(standby_fd_, primary_fd_, false)) {
      drop();
    }
  }
  void inject_to_standby(const std::vector<std::uint8_t>& bytes) {
    ASSERT_GE(standby_fd_, 0);
    ASSERT_EQ(send(standby_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  std::string address;
  std::function<void(std::vector<std::uint8_t>&)> to_standby;
  std::vector<std::uint8_t> seen_to_standby;  // everything the primary sent, as sent

 private:
  bool move(int from, int to, bool downstream) {
    std::vector<std::uint8_t> chunk(1u << 20);
    const ssize_t n = recv(from, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      return false;
    }
    if (n < 0) {
      return true;
    }
    chunk.resize(static_cast<std::size_t>(n));
    if (downstream) {
      seen_to_standby.insert(seen_to_standby.end(), chunk.begin(), chunk.end());
      if (to_standby) {
        to_standby(chunk);
      }
    }
    return send(to, chunk.data(), chunk.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(chunk.size());
  }

  std::uint16_t primary_port_;
  int listen_fd_ = -1;
  int standby_fd_ = -1;
  int primary_fd_ = -1;
};

// True when `chunk` is whole sealed messages ([u32 length][length bytes]...), nothing cut.
bool whole_sealed_messages(const std::vector<std::uint8_t>& chunk) {
  std::size_t at = 0;
  while (chunk.size() - at >= 4) {
    std::uint32_t n;
    std::memcpy(&n, chunk.data() + at, sizeof n);
    at += 4 + n;
  }
  return at == chunk.size() && !chunk.empty();
}

bool contains(const std::vector<std::uint8_t>& hay, const std::vector<std::uint8_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// A pair holding each other's keys replicates, acknowledges and catches up by snapshot as in clear
// text, and no payload can be read on the wire.
TEST(ReplicationLinkSealed, AuthenticatedPairReplicatesAndAcks) {
  const PairKeys keys;
  Harness h({}, keys.for_primary());
  h.standby_keys = keys.for_standby();
  Relay relay(h.primary->port());
  h.address = relay.address;
  h.between = [&] { relay.pump(); };
  EXPECT_EQ(h.connect(0), 0u);
  std::vector<std::uint8_t> image(600'000);  // three snapshot chunks
  for (std::size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<std::uint8_t>(i * 7);
  }
  ASSERT_TRUE(h.primary->send_snapshot(100, image));
  h.append_range(101, 400);
  ASSERT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 400; }));
  EXPECT_EQ(h.state.snapshot, image);
  ASSERT_EQ(h.state.seqs.size(), 300u);
  for (std::uint64_t i = 0; i < 300; ++i) {
    ASSERT_EQ(h.state.seqs[i], i + 101);
    ASSERT_EQ(h.state.payloads[i], payload_of(i + 101));
  }
  EXPECT_EQ(h.primary->peer(), PeerState::Synchronous);
  EXPECT_TRUE(h.standby->primary_alive());
  EXPECT_EQ(h.standby->primary_epoch(), 7u);
  for (std::uint64_t s = 101; s <= 400; s += 37) {
    EXPECT_FALSE(contains(relay.seen_to_standby, payload_of(s))) << s;
  }
  EXPECT_FALSE(contains(relay.seen_to_standby,
                        std::vector<std::uint8_t>(image.begin() + 1000, image.begin() + 1032)));
  for (const auto c : {LinkCounter::handshake_refused, LinkCounter::auth_failed}) {
    EXPECT_EQ(count(*h.primary, c), 0u);
    EXPECT_EQ(count(*h.standby, c), 0u);
  }
}

// A standby holding another key than the one the primary expects is refused at the handshake,
// again on each retry, counted, never served and never sent a record.
TEST(ReplicationLinkSealed, StandbyWithTheWrongKeyIsRefused) {
  const PairKeys keys;
  Harness h({}, keys.for_primary());
  h.standby_keys = LinkKeys{keys.stranger.secret, keys.primary.public_key};
  h.standby = h.new_standby(0);
  for (int i = 0; i < 200; ++i) {
    h.step();
    ASSERT_FALSE(h.primary->take_hello().has_value());
  }
  EXPECT_GE(count(*h.primary, LinkCounter::handshake_refused), 2u);
  EXPECT_EQ(count(*h.primary, LinkCounter::connections), 0u);
  EXPECT_EQ(h.primary->peer(), PeerState::None);
  EXPECT_FALSE(h.primary->append(1, payload_of(1)));
  EXPECT_FALSE(h.standby->primary_alive());
  EXPECT_EQ(count(*h.standby, LinkCounter::frames_received), 0u);
  EXPECT_TRUE(h.state.seqs.empty());
}

// A primary holding another key than the one the standby expects is not followed: the real
// primary code refuses the pair itself, and a forged primary that answers with bytes of its own
// ("I am the primary") is refused by the standby at the proof of its key, before any frame.
TEST(ReplicationLinkSealed, PrimaryWithTheWrongKeyIsRefused) {
  const PairKeys keys;
  {
    Harness h({}, LinkKeys{keys.stranger.secret, keys.standby.public_key});
    h.standby_keys = keys.for_standby();
    h.standby = h.new_standby(0);
    for (int i = 0; i < 200; ++i) {
      h.step();
      ASSERT_FALSE(h.primary->take_hello().has_value());
      ASSERT_FALSE(h.standby->primary_alive());
    }
    EXPECT_GE(count(*h.primary, LinkCounter::handshake_refused) +
                  count(*h.standby, LinkCounter::handshake_refused),
              2u);
    EXPECT_EQ(h.standby->primary_epoch(), 0u);
  }
  // The forged primary: a listening socket that answers with a well-formed key message, a header
  // and a proof it cannot have sealed, then a Welcome in clear text.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  std::string why;
  auto standby = LinkStandby::create("127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), {}, why,
                                     keys.for_standby());
  ASSERT_NE(standby, nullptr) << why;
  LinkClock::time_point now = LinkClock::time_point{} + 1h;
  auto poll = [&] {
    now += 1ms;
    standby->poll(
        now, [](std::uint64_t, std::span<const std::uint8_t>) { ADD_FAILURE(); },
        [](std::uint64_t, std::span<const std::uint8_t>) { ADD_FAILURE(); },
        [](std::uint64_t, std::uint64_t) { return std::uint64_t{0}; });
  };
  poll();
  const int fd = accept(listener, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> forged{'A', 'C', 'D', 'L', repl::kKeyVersion, 2, 0, 0};
  for (int i = 0; i < 32 + 24; ++i) {  // an ephemeral key, a secretstream header
    forged.push_back(static_cast<std::uint8_t>(rng()));
  }
  forged.insert(forged.end(), {17, 0, 0, 0});  // an empty sealed message: 17 bytes of tag
  for (int i = 0; i < 17; ++i) {
    forged.push_back(static_cast<std::uint8_t>(rng()));
  }
  const auto welcome = frame(2, 1, 0, u64(99));
  forged.insert(forged.end(), welcome.begin(), welcome.end());
  ASSERT_EQ(send(fd, forged.data(), forged.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(forged.size()));
  for (int i = 0; i < 50 && standby->counters().read(LinkCounter::handshake_refused) == 0; ++i) {
    poll();
  }
  EXPECT_EQ(standby->counters().read(LinkCounter::handshake_refused), 1u);
  EXPECT_EQ(standby->counters().read(LinkCounter::frames_received), 0u);
  EXPECT_FALSE(standby->primary_alive());
  EXPECT_EQ(standby->primary_epoch(), 0u);
  close(fd);
  close(listener);
}

// Connects a sealed pair through a relay and replicates records 1..10.
struct SealedPair {
  SealedPair() : h({}, keys.for_primary()), relay(h.primary->port()) {
    h.standby_keys = keys.for_standby();
    h.address = relay.address;
    h.between = [this] { relay.pump(); };
    h.connect(0);
    h.append_range(1, 10);
    EXPECT_TRUE(h.run_until([&] { return h.primary->acked_seq() == 10; }));
  }
  PairKeys keys;
  Harness h;
  Relay relay;
};

// One bit flipped in a sealed message on its way to the standby: the standby delivers nothing of
// it, closes the connection and counts it.
TEST(ReplicationLinkSealed, AlteredByteDropsTheLink) {
  SealedPair p;
  bool flipped = false;
  p.relay.to_standby = [&](std::vector<std::uint8_t>& chunk) {
    if (!flipped && chunk.size() > 100) {  // a message carrying records, not a heartbeat
      chunk[chunk.size() / 2] ^= 0x10;
      flipped = true;
    }
  };
  p.h.append_range(11, 30);
  ASSERT_TRUE(p.h.run_until(
      [&] { return p.h.standby->counters().read(LinkCounter::auth_failed) == 1; }, 200));
  EXPECT_TRUE(flipped);
  EXPECT_EQ(p.h.state.seqs.size(), 10u);
  EXPECT_EQ(p.h.state.seqs.back(), 10u);
  EXPECT_EQ(p.h.primary->acked_seq(), 10u);
}

// A sealed message the standby already received, sent to it again: refused (the stream's nonce
// has moved on), counted, the records in it not applied twice.
TEST(ReplicationLinkSealed, ReplayedMessageIsRefused) {
  SealedPair p;
  std::vector<std::uint8_t> saved;
  p.relay.to_standby = [&](std::vector<std::uint8_t>& chunk) {
    if (saved.empty() && chunk.size() > 100 && whole_sealed_messages(chunk)) {
      saved = chunk;
    }
  };
  p.h.append_range(11, 30);
  ASSERT_TRUE(p.h.run_until([&] { return p.h.primary->acked_seq() == 30; }));
  ASSERT_FALSE(saved.empty());
  p.relay.to_standby = nullptr;
  for (int i = 0; i < 5; ++i) {
    p.h.step();  // the stream is idle: heartbeats only, so what follows starts a message
  }
  p.relay.inject_to_standby(saved);
  ASSERT_TRUE(p.h.run_until(
      [&] { return p.h.standby->counters().read(LinkCounter::auth_failed) == 1; }, 200));
  EXPECT_EQ(p.h.state.seqs.size(), 30u);
  EXPECT_EQ(p.h.state.seqs.back(), 30u);
}

}  // namespace
}  // namespace acd::dataplane
