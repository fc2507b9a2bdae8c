// acd-loadgen --flood (bench/loadgen/flood.hpp): what it sends is what the benchmark claims —
// half handshake inits whose mac1 acdd's responder accepts (so they cost it a cookie reply, not a
// BadMac1 drop), half well-formed data datagrams naming sessions, from the source addresses asked.
#include "flood.hpp"

#include <gtest/gtest.h>

#include <poll.h>

#include <optional>
#include <set>
#include <span>

#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_session.hpp"

namespace {

namespace secure = acd::dataplane::secure;

class NoClients final : public secure::ClientDirectory {
 public:
  std::optional<secure::KnownClient> find(const secure::PublicKey&) override {
    return std::nullopt;
  }
};

// Every datagram of a short flood reaches a local socket and is what it should be.
TEST(LoadgenFlood, InitsPassMac1AndDataNamesASession) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  const int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(rx, 0);
  const int big = 4 << 20;
  (void)setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(rx, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(rx, reinterpret_cast<sockaddr*>(&sa), &len), 0);

  const acd::loadgen::FloodReport report =
      acd::loadgen::run_flood(server.public_key, sa.sin_addr.s_addr, sa.sin_port, 4000, 0.1, 5);
  ASSERT_EQ(report.why, "");
  ASSERT_GT(report.sent, 0u);

  NoClients clients;
  secure::Responder responder(server, clients);
  std::uint64_t inits = 0;
  std::uint64_t data = 0;
  std::set<std::uint32_t> sources;
  std::array<std::uint8_t, 2048> buf{};
  std::array<std::uint8_t, sizeof(secure::HandshakeResponse)> reply{};
  for (;;) {
    pollfd p{rx, POLLIN, 0};
    if (poll(&p, 1, 200) != 1) {
      break;
    }
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = recvfrom(rx, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                               &from_len);
    ASSERT_GT(n, 0);
    sources.insert(ntohl(from.sin_addr.s_addr));
    const std::span<const std::uint8_t> d(buf.data(), static_cast<std::size_t>(n));
    const secure::Peeked peeked = secure::peek(d);
    ASSERT_EQ(peeked.reason, secure::DropReason::None);
    if (peeked.handshake) {
      ASSERT_EQ(peeked.kind, secure::Kind::HandshakeInit);
      secure::Responder::Request rq;
      rq.datagram = d;
      rq.source = {from.sin_addr.s_addr, from.sin_port, 0};
      rq.under_load = true;
      const auto r = responder.respond(rq, reply);
      EXPECT_EQ(r.outcome, secure::Responder::Outcome::CookieSent) << "mac1 not made for the key";
      ++inits;
    } else {
      EXPECT_NE(peeked.index, 0u);
      ++data;
    }
  }
  close(rx);
  EXPECT_EQ(inits + data, report.sent);
  EXPECT_LE(inits > data ? inits - data : data - inits, 8u);  // half and half, per batch of 8
  EXPECT_EQ(sources, (std::set<std::uint32_t>{0x7f020001, 0x7f020002, 0x7f020003, 0x7f020004,
                                              0x7f020005}));
}

// The pacing: evenly, n / rate; in bursts of N, every burst's N datagrams at once, bursts N / rate
// apart, so a second holds `rate` datagrams either way.
TEST(LoadgenFlood, BurstPacingKeepsTheRate) {
  using acd::loadgen::flood_due;
  using acd::loadgen::flood_time_of;
  EXPECT_DOUBLE_EQ(flood_due(0.5, 20000, 0), 10000);
  EXPECT_DOUBLE_EQ(flood_due(0.5, 20000, 1), 10000);
  EXPECT_DOUBLE_EQ(flood_time_of(10000, 20000, 0), 0.5);
  // 100 every 5 ms at 20,000/s: the first burst at once, the second at 5 ms.
  EXPECT_DOUBLE_EQ(flood_due(0, 20000, 100), 100);
  EXPECT_DOUBLE_EQ(flood_due(0.0049, 20000, 100), 100);
  EXPECT_DOUBLE_EQ(flood_due(0.0051, 20000, 100), 200);
  EXPECT_DOUBLE_EQ(flood_due(0.9999, 20000, 100), 20000);
  EXPECT_DOUBLE_EQ(flood_time_of(0, 20000, 100), 0);
  EXPECT_DOUBLE_EQ(flood_time_of(99, 20000, 100), 0);
  EXPECT_DOUBLE_EQ(flood_time_of(100, 20000, 100), 0.005);
  EXPECT_DOUBLE_EQ(flood_time_of(250, 20000, 100), 0.010);
}

// A burst flood sends whole bursts (a burst's last batch is short when N is not a multiple of
// the batch), from every source asked.
TEST(LoadgenFlood, BurstsAreWhole) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  const int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(rx, 0);
  const int big = 4 << 20;
  (void)setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(rx, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(getsockname(rx, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  // 4,000/s in bursts of 100: one every 25 ms; 0.11 s holds the bursts at 0, 25, ..., 100 ms.
  const acd::loadgen::FloodReport report = acd::loadgen::run_flood(
      server.public_key, sa.sin_addr.s_addr, sa.sin_port, 4000, 0.11, 5, 100);
  ASSERT_EQ(report.why, "");
  EXPECT_GT(report.sent, 0u);
  EXPECT_EQ(report.sent % 100, 0u) << report.sent << " datagrams: a burst was not whole";
  std::uint64_t received = 0;
  std::array<std::uint8_t, 2048> buf{};
  for (;;) {
    pollfd p{rx, POLLIN, 0};
    if (poll(&p, 1, 200) != 1) {
      break;
    }
    ASSERT_GT(recv(rx, buf.data(), buf.size(), 0), 0);
    ++received;
  }
  close(rx);
  EXPECT_EQ(received, report.sent);
}

}  // namespace
