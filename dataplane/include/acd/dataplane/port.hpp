// Packet I/O behind one interface, chosen at start-up (io_uring UDP, DPDK poll mode, in-memory).
// The worker makes at most two virtual calls per poll cycle (receive, send), never one per message.
//
// Thread-safety: a port belongs to the one thread that polls it.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace acd::dataplane {

// An IPv4 UDP endpoint, both fields in network byte order.
struct Endpoint {
  std::uint32_t address = 0;
  std::uint16_t port = 0;
  std::uint16_t reserved = 0;
  bool operator==(const Endpoint&) const = default;
};

std::string to_string(const Endpoint& e);
// "a.b.c.d:port"; false if malformed.
bool parse_endpoint(const std::string& text, Endpoint& out);

struct Datagram {
  Endpoint peer;
  std::span<const std::uint8_t> payload;
};

class Port {
 public:
  virtual ~Port() = default;
  // Fills `out` with received datagrams; their payloads stay valid until the next receive().
  virtual std::size_t receive(std::span<Datagram> out) = 0;
  // Queues datagrams for sending (payloads are copied); returns how many were accepted.
  virtual std::size_t send(std::span<const Datagram> datagrams) = 0;
  // The local endpoint (with the port chosen by the kernel when 0 was asked for).
  virtual Endpoint local() const = 0;
};

// For tests: datagrams pushed in by the test come out of receive(); sent ones are kept.
class MemoryPort final : public Port {
 public:
  explicit MemoryPort(Endpoint local = {}) : local_(local) {}
  void inject(Endpoint from, std::vector<std::uint8_t> payload) {
    inbox_.push_back({from, std::move(payload)});
  }
  struct Sent {
    Endpoint to;
    std::vector<std::uint8_t> payload;
  };
  std::vector<Sent> take_sent() { return std::exchange(sent_, {}); }

  std::size_t receive(std::span<Datagram> out) override;
  std::size_t send(std::span<const Datagram> datagrams) override;
  Endpoint local() const override { return local_; }

 private:
  struct Held {
    Endpoint from;
    std::vector<std::uint8_t> payload;
  };
  Endpoint local_;
  std::deque<Held> inbox_;
  std::vector<Held> delivered_;  // kept alive until the next receive()
  std::vector<Sent> sent_;
};

}  // namespace acd::dataplane
