// UDP/IPv4 over a DPDK ethdev, poll mode: RX and TX bursts, headers parsed and built in place in
// the mbufs, ARP answered for the port's own address. Built when libdpdk is found (ACD_WITH_DPDK).
//
// Thread-safety: one thread polls the port (queue 0). init_eal() once per process, before create().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "acd/dataplane/port.hpp"

namespace acd::dataplane {

// Initialises DPDK's EAL with these arguments (program name first is added). Idempotent; false
// with `error` set if EAL refused them.
bool init_eal(const std::vector<std::string>& args, std::string& error);

struct DpdkStats {
  std::uint64_t rx_frames = 0;
  std::uint64_t rx_not_for_us = 0;  // other protocols, addresses, ports
  std::uint64_t rx_malformed = 0;   // short, bad IPv4 header, fragments, bad UDP length
  std::uint64_t arp_replies = 0;
  std::uint64_t tx_no_route = 0;  // peer MAC unknown
  std::uint64_t tx_dropped = 0;   // no mbuf, or the device did not take it
};

class DpdkPort final : public Port {
 public:
  // Configures and starts ethdev `port_id` (1 RX and 1 TX queue) serving UDP on `local`
  // (address and port must be set). Null, with `error` set, on failure.
  static std::unique_ptr<DpdkPort> create(std::uint16_t port_id, const Endpoint& local,
                                          std::string& error);
  ~DpdkPort() override;

  std::size_t receive(std::span<Datagram> out) override;
  std::size_t send(std::span<const Datagram> datagrams) override;
  Endpoint local() const override;
  const DpdkStats& stats() const;
  // A peer's MAC address known beforehand, for a peer that sends first to an address that does not
  // ARP (a client on a point-to-point link such as memif, whose server only answers ARP). The
  // peer's own frames replace the entry as they arrive. `address` in network byte order.
  void add_neighbour(std::uint32_t address, const std::array<std::uint8_t, 6>& mac);

  struct Impl;

 private:
  explicit DpdkPort(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acd::dataplane
