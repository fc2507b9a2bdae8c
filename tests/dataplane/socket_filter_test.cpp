// The ACDP/2 socket filter on a real loopback socket: a data datagram naming a session index
// outside the issued range is dropped by the kernel (and counted in the socket's drops);
// everything else — indices inside the range (also across the 2^32 wrap), handshake inits,
// clear text, malformed headers — still reaches the reader, which counts it by reason.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "acd/dataplane/secure_wire.hpp"
#include "acd/dataplane/socket_filter.hpp"
#include "acd/dataplane/wire.hpp"

namespace acd::dataplane {
namespace {

struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd >= 0) {
      close(fd);
    }
  }
};

// A datagram whose first 16 bytes are an ACDP header (`version`, `kind`, `index`, the length
// field = its size) and whose last 4 bytes carry `tag`, so the reader knows which one arrived.
std::vector<std::uint8_t> datagram(std::uint8_t version, std::uint8_t kind, std::uint32_t index,
                                   std::size_t size, std::uint32_t tag) {
  std::vector<std::uint8_t> d(size, 0);
  const secure::Header h{wire::kMagic, version, kind, static_cast<std::uint16_t>(size), index, 0};
  std::memcpy(d.data(), &h, sizeof h);
  std::memcpy(d.data() + size - 4, &tag, 4);
  return d;
}

class SocketFilter : public ::testing::Test {
 protected:
  void SetUp() override {
    rx_.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    tx_.fd = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(rx_.fd, 0);
    ASSERT_GE(tx_.fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(rx_.fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof to_;
    ASSERT_EQ(getsockname(rx_.fd, reinterpret_cast<sockaddr*>(&to_), &len), 0);
  }
  void send(const std::vector<std::uint8_t>& d) {
    ASSERT_EQ(sendto(tx_.fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
                     sizeof to_),
              static_cast<ssize_t>(d.size()));
  }
  // The tags of every datagram that reached the socket; `end_tag` is sent last (unfiltered: a
  // clear-text datagram), so once it is read everything sent before it has been judged.
  std::set<std::uint32_t> received(std::uint32_t end_tag) {
    send(datagram(1, 1, 0, 32, end_tag));
    std::set<std::uint32_t> tags;
    std::uint8_t buf[2048];
    while (tags.count(end_tag) == 0) {
      pollfd p{rx_.fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) {
        ADD_FAILURE() << "the last datagram never arrived";
        break;
      }
      const ssize_t n = recv(rx_.fd, buf, sizeof buf, 0);
      if (n >= 4) {
        std::uint32_t tag;
        std::memcpy(&tag, buf + n - 4, 4);
        tags.insert(tag);
      }
    }
    tags.erase(end_tag);
    return tags;
  }
  Socket rx_{-1};
  Socket tx_{-1};
  sockaddr_in to_{};
};

constexpr std::size_t kData = secure::kDataOverhead + 24;  // a data datagram of one small message

TEST_F(SocketFilter, DropsOnlyDataForIndicesNeverIssued) {
  std::string error;
  ASSERT_TRUE(filter_session_indices(rx_.fd, 1000, 1003, error)) << error;
  const std::uint64_t drops_before = socket_drops(rx_.fd);
  send(datagram(2, 1, 1000, kData, 1));                        // first issued: passes
  send(datagram(2, 64, 1002, kData, 2));                       // last issued, 64 messages
  send(datagram(2, 1, 999, kData, 3));                         // below: dropped
  send(datagram(2, 1, 1003, kData, 4));                        // the next, not yet issued
  send(datagram(2, 3, 0xDEADBEEF, kData, 5));                  // a forger's guess
  send(datagram(2, 0x81, 0xDEADBEEF, sizeof(secure::HandshakeInit), 6));  // init: passes
  send(datagram(1, 1, 0xDEADBEEF, kData, 7));                  // clear text: malformed, read
  send(datagram(2, 0, 0xDEADBEEF, kData, 8));                  // no message: malformed, read
  send(datagram(2, 65, 0xDEADBEEF, kData, 9));                 // too many: malformed, read
  send(datagram(2, 1, 0xDEADBEEF, 20, 10));                    // shorter than a data datagram
  std::vector<std::uint8_t> wrong_magic = datagram(2, 1, 0xDEADBEEF, kData, 11);
  wrong_magic[0] ^= 1;
  send(wrong_magic);                                           // not ACDP: read, malformed
  EXPECT_EQ(received(99), (std::set<std::uint32_t>{1, 2, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(socket_drops(rx_.fd) - drops_before, 3u) << "the kernel counts what it filtered";
}

TEST_F(SocketFilter, RangeAcrossTheWrapAndReplacement) {
  std::string error;
  ASSERT_TRUE(filter_session_indices(rx_.fd, 0xFFFF'FFFEu, 2, error)) << error;
  send(datagram(2, 1, 0xFFFF'FFFEu, kData, 1));
  send(datagram(2, 1, 0xFFFF'FFFFu, kData, 2));
  send(datagram(2, 1, 1, kData, 3));
  send(datagram(2, 1, 2, kData, 4));            // the next: dropped
  send(datagram(2, 1, 0xFFFF'FFFDu, kData, 5)); // before the oldest: dropped
  EXPECT_EQ(received(99), (std::set<std::uint32_t>{1, 2, 3}));
  // A later range replaces the earlier one: the new session's index passes.
  ASSERT_TRUE(filter_session_indices(rx_.fd, 0xFFFF'FFFFu, 3, error)) << error;
  send(datagram(2, 1, 2, kData, 6));
  send(datagram(2, 1, 0xFFFF'FFFEu, kData, 7));  // now older than the oldest live
  EXPECT_EQ(received(98), (std::set<std::uint32_t>{6}));
}

TEST_F(SocketFilter, AnEmptyRangePassesNoData) {
  std::string error;
  ASSERT_TRUE(filter_session_indices(rx_.fd, 0, 0, error)) << error;
  send(datagram(2, 1, 0, kData, 1));
  send(datagram(2, 1, 1, kData, 2));
  send(datagram(2, 0x81, 0, sizeof(secure::HandshakeInit), 3));
  EXPECT_EQ(received(99), (std::set<std::uint32_t>{3}));
}

}  // namespace
}  // namespace acd::dataplane
