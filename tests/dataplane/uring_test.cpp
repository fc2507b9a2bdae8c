// The io_uring port on loopback: datagrams from a plain UDP socket arrive with their source, and
// replies reach that socket; bursts larger than one receive() are delivered in later calls.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "acd/dataplane/uring_port.hpp"

namespace acd::dataplane {
namespace {

TEST(UringPort, LoopbackReceiveAndSend) {
  Endpoint any;
  ASSERT_TRUE(parse_endpoint("127.0.0.1:0", any));
  std::string error;
  auto port = UringPort::create(any, error);
  ASSERT_NE(port, nullptr) << error;
  ASSERT_NE(port->local().port, 0);

  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = port->local().address;
  to.sin_port = port->local().port;
  constexpr int kCount = 300;
  for (int i = 0; i < kCount; ++i) {
    std::uint32_t value = static_cast<std::uint32_t>(i);
    ASSERT_EQ(sendto(fd, &value, sizeof(value), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              4);
  }
  std::vector<Datagram> burst(32);
  std::vector<bool> seen(kCount, false);
  int received = 0;
  Endpoint from{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (received < kCount && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = port->receive(burst);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(burst[i].payload.size(), 4u);
      std::uint32_t value;
      std::memcpy(&value, burst[i].payload.data(), 4);
      ASSERT_LT(value, static_cast<std::uint32_t>(kCount));
      EXPECT_FALSE(seen[value]);
      seen[value] = true;
      from = burst[i].peer;
      ++received;
    }
    if (n == 0) {
      port->wait(1000);
    }
  }
  ASSERT_EQ(received, kCount);

  const std::uint8_t reply[] = {'o', 'k'};
  const Datagram out{from, reply};
  ASSERT_EQ(port->send(std::span<const Datagram>(&out, 1)), 1u);
  char buf[16];
  ASSERT_EQ(recv(fd, buf, sizeof(buf), 0), 2);
  EXPECT_EQ(std::memcmp(buf, "ok", 2), 0);
  close(fd);
}

}  // namespace
}  // namespace acd::dataplane

namespace acd::dataplane {
namespace {

// A burst of arrivals larger than the port's send slots, each answered as it is received (as the
// IO stage does, 32 at a time): every answer is accepted and reaches the peer, although the
// sends' completions queue behind the arrivals not yet received.
TEST(UringPort, AnswersEveryDatagramOfABurstLargerThanItsSendSlots) {
  Endpoint any;
  ASSERT_TRUE(parse_endpoint("127.0.0.1:0", any));
  std::string error;
  auto port = UringPort::create(any, error);
  ASSERT_NE(port, nullptr) << error;

  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  const int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = port->local().address;
  to.sin_port = port->local().port;
  constexpr int kCount = 3000;  // more than the 1,024 send slots, fewer than the 4,096 buffers
  for (int i = 0; i < kCount; ++i) {
    std::uint32_t value = static_cast<std::uint32_t>(i);
    ASSERT_EQ(sendto(fd, &value, sizeof(value), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              4);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all of them in the ring
  std::vector<Datagram> burst(32);
  int received = 0;
  std::size_t accepted = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (received < kCount && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = port->receive(burst);
    received += static_cast<int>(n);
    accepted += port->send(std::span<const Datagram>(burst.data(), n));  // echo each
    if (n == 0) {
      port->wait(1000);
    }
  }
  ASSERT_EQ(received, kCount);
  EXPECT_EQ(accepted, static_cast<std::size_t>(kCount));
  std::vector<bool> seen(kCount, false);
  int echoed = 0;
  std::uint32_t value = 0;
  while (echoed < kCount && recv(fd, &value, sizeof(value), 0) == 4) {
    ASSERT_LT(value, static_cast<std::uint32_t>(kCount));
    EXPECT_FALSE(seen[value]);
    seen[value] = true;
    ++echoed;
    if (echoed % 256 == 0) {
      port->receive(burst);  // the port's own cycle: retries and completions move on
    }
  }
  EXPECT_EQ(echoed, kCount);
  close(fd);
}

}  // namespace
}  // namespace acd::dataplane
