#include "acd/dataplane/dpdk_port.hpp"

#include <pthread.h>
#include <sched.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <array>
#include <cstring>

namespace acd::dataplane {

namespace {

constexpr std::uint16_t kBurst = 64;
constexpr std::uint16_t kRxDescriptors = 1024;
constexpr std::uint16_t kTxDescriptors = 1024;
constexpr std::size_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
constexpr std::size_t kArpEntries = 1024;  // peers' MAC addresses, direct-mapped by IPv4 address

bool g_eal_ready = false;

}  // namespace

bool init_eal(const std::vector<std::string>& args, std::string& error) {
  if (g_eal_ready) {
    return true;
  }
  std::vector<std::string> all{"acd"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  // EAL pins the calling thread to its main lcore's CPU. Every thread acdd starts afterwards (the
  // sign-in verifiers, the handshake worker, the control plane) would inherit that one CPU and
  // share it with the poll loop, which never yields: sign-ins and handshakes starved. The calling
  // thread gets back the CPUs it had; the IO thread pins itself to its core when it runs.
  cpu_set_t before;
  CPU_ZERO(&before);
  const bool saved = pthread_getaffinity_np(pthread_self(), sizeof(before), &before) == 0;
  if (rte_eal_init(static_cast<int>(all.size()), argv.data()) < 0) {
    error = std::string("rte_eal_init: ") + rte_strerror(rte_errno);
    return false;
  }
  if (saved) {
    (void)pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  }
  g_eal_ready = true;
  return true;
}

struct DpdkPort::Impl {
  std::uint16_t port = 0;
  rte_mempool* pool = nullptr;
  Endpoint local{};
  rte_ether_addr mac{};
  std::array<rte_mbuf*, kBurst> held{};  // payloads handed out by the last receive()
  std::uint16_t held_count = 0;
  struct ArpEntry {
    std::uint32_t ip = 0;
    rte_ether_addr mac{};
  };
  std::array<ArpEntry, kArpEntries> arp{};
  DpdkStats stats;

  ~Impl() {
    free_held();
    rte_eth_dev_stop(port);
  }

  void free_held() {
    for (std::uint16_t i = 0; i < held_count; ++i) {
      rte_pktmbuf_free(held[i]);
    }
    held_count = 0;
  }

  ArpEntry& arp_slot(std::uint32_t ip) { return arp[(ip ^ (ip >> 16)) % kArpEntries]; }

  void learn(std::uint32_t ip, const rte_ether_addr& from) {
    ArpEntry& e = arp_slot(ip);
    e.ip = ip;
    e.mac = from;
  }

  // Turns an ARP request for our address into the reply, in the same mbuf, and sends it.
  void answer_arp(rte_mbuf* m) {
    if (m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
      ++stats.rx_malformed;
      rte_pktmbuf_free(m);
      return;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* arp_hdr = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    if (arp_hdr->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
        arp_hdr->arp_data.arp_tip != local.address) {
      ++stats.rx_not_for_us;
      rte_pktmbuf_free(m);
      return;
    }
    learn(arp_hdr->arp_data.arp_sip, arp_hdr->arp_data.arp_sha);
    arp_hdr->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp_hdr->arp_data.arp_tha = arp_hdr->arp_data.arp_sha;
    arp_hdr->arp_data.arp_tip = arp_hdr->arp_data.arp_sip;
    arp_hdr->arp_data.arp_sha = mac;
    arp_hdr->arp_data.arp_sip = local.address;
    eth->dst_addr = eth->src_addr;
    eth->src_addr = mac;
    if (rte_eth_tx_burst(port, 0, &m, 1) == 1) {
      ++stats.arp_replies;
    } else {
      ++stats.tx_dropped;
      rte_pktmbuf_free(m);
    }
  }
};

std::unique_ptr<DpdkPort> DpdkPort::create(std::uint16_t port_id, const Endpoint& local,
                                           std::string& error) {
  if (!g_eal_ready) {
    error = "DPDK's EAL is not initialised";
    return nullptr;
  }
  if (!rte_eth_dev_is_valid_port(port_id)) {
    error = "no DPDK port " + std::to_string(port_id);
    return nullptr;
  }
  if (local.address == 0 || local.port == 0) {
    error = "a DPDK port needs an explicit IPv4 address and UDP port";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->port = port_id;
  impl->local = local;
  const std::string pool_name = "acd_pool_" + std::to_string(port_id);
  impl->pool = rte_pktmbuf_pool_create(pool_name.c_str(), 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       static_cast<int>(rte_socket_id()));
  if (impl->pool == nullptr) {
    error = std::string("rte_pktmbuf_pool_create: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
  if (rc == 0) {
    rc = rte_eth_rx_queue_setup(port_id, 0, kRxDescriptors, rte_eth_dev_socket_id(port_id), nullptr,
                                impl->pool);
  }
  if (rc == 0) {
    rc =
        rte_eth_tx_queue_setup(port_id, 0, kTxDescriptors, rte_eth_dev_socket_id(port_id), nullptr);
  }
  if (rc == 0) {
    rc = rte_eth_dev_start(port_id);
  }
  if (rc != 0) {
    error = "configuring DPDK port " + std::to_string(port_id) + ": " + rte_strerror(-rc);
    return nullptr;
  }
  rte_eth_macaddr_get(port_id, &impl->mac);
  rte_eth_promiscuous_enable(port_id);
  return std::unique_ptr<DpdkPort>(new DpdkPort(std::move(impl)));
}

DpdkPort::DpdkPort(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DpdkPort::~DpdkPort() = default;

Endpoint DpdkPort::local() const {
  return impl_->local;
}
const DpdkStats& DpdkPort::stats() const {
  return impl_->stats;
}
void DpdkPort::add_neighbour(std::uint32_t address, const std::array<std::uint8_t, 6>& mac) {
  rte_ether_addr a{};
  std::memcpy(a.addr_bytes, mac.data(), mac.size());
  impl_->learn(address, a);
}

std::size_t DpdkPort::receive(std::span<Datagram> out) {
  Impl& p = *impl_;
  p.free_held();
  std::array<rte_mbuf*, kBurst> frames;
  const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(out.size(), kBurst));
  const std::uint16_t n = rte_eth_rx_burst(p.port, 0, frames.data(), want);
  std::size_t got = 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = frames[i];
    ++p.stats.rx_frames;
    if (!rte_pktmbuf_is_contiguous(m) || m->data_len < sizeof(rte_ether_hdr)) {
      ++p.stats.rx_malformed;
      rte_pktmbuf_free(m);
      continue;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
      p.answer_arp(m);
      continue;
    }
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
      ++p.stats.rx_not_for_us;
      rte_pktmbuf_free(m);
      continue;
    }
    // IPv4: a full header, no options beyond what the length says, no fragments, UDP to us.
    const std::size_t after_eth = m->data_len - sizeof(rte_ether_hdr);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    const std::size_t ihl = (ip->version_ihl & 0x0F) * 4u;
    const std::size_t total = rte_be_to_cpu_16(ip->total_length);
    const bool well_formed = after_eth >= sizeof(rte_ipv4_hdr) && (ip->version_ihl >> 4) == 4 &&
                             ihl >= 20 && total >= ihl + sizeof(rte_udp_hdr) &&
                             total <= after_eth &&
                             (rte_be_to_cpu_16(ip->fragment_offset) & 0x3FFF) == 0;
    if (!well_formed) {
      ++p.stats.rx_malformed;
      rte_pktmbuf_free(m);
      continue;
    }
    auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<std::uint8_t*>(ip) + ihl);
    const std::size_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
    if (ip->next_proto_id != IPPROTO_UDP || ip->dst_addr != p.local.address ||
        udp->dst_port != p.local.port) {
      ++p.stats.rx_not_for_us;
      rte_pktmbuf_free(m);
      continue;
    }
    if (udp_len < sizeof(rte_udp_hdr) || udp_len > total - ihl) {
      ++p.stats.rx_malformed;
      rte_pktmbuf_free(m);
      continue;
    }
    p.learn(ip->src_addr, eth->src_addr);
    const auto* payload = reinterpret_cast<const std::uint8_t*>(udp + 1);
    out[got++] = Datagram{Endpoint{ip->src_addr, udp->src_port, 0},
                          std::span<const std::uint8_t>(payload, udp_len - sizeof(rte_udp_hdr))};
    p.held[p.held_count++] = m;
  }
  return got;
}

std::size_t DpdkPort::send(std::span<const Datagram> datagrams) {
  Impl& p = *impl_;
  std::array<rte_mbuf*, kBurst> frames;
  std::size_t accepted = 0;
  std::size_t i = 0;
  while (i < datagrams.size()) {
    std::uint16_t n = 0;
    for (; i < datagrams.size() && n < kBurst; ++i) {
      const Datagram& d = datagrams[i];
      const Impl::ArpEntry& route = p.arp_slot(d.peer.address);
      if (route.ip != d.peer.address) {
        ++p.stats.tx_no_route;
        continue;
      }
      rte_mbuf* m = rte_pktmbuf_alloc(p.pool);
      if (m == nullptr || rte_pktmbuf_tailroom(m) < kHeaders + d.payload.size()) {
        ++p.stats.tx_dropped;
        if (m != nullptr) {
          rte_pktmbuf_free(m);
        }
        continue;
      }
      auto* eth = reinterpret_cast<rte_ether_hdr*>(
          rte_pktmbuf_append(m, static_cast<std::uint16_t>(kHeaders + d.payload.size())));
      eth->dst_addr = route.mac;
      eth->src_addr = p.mac;
      eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
      std::memset(ip, 0, sizeof(*ip));
      ip->version_ihl = RTE_IPV4_VHL_DEF;
      ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(
          sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + d.payload.size()));
      ip->time_to_live = 64;
      ip->next_proto_id = IPPROTO_UDP;
      ip->src_addr = p.local.address;
      ip->dst_addr = d.peer.address;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
      auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
      udp->src_port = p.local.port;
      udp->dst_port = d.peer.port;
      udp->dgram_len =
          rte_cpu_to_be_16(static_cast<std::uint16_t>(sizeof(rte_udp_hdr) + d.payload.size()));
      udp->dgram_cksum = 0;  // optional over IPv4
      std::memcpy(udp + 1, d.payload.data(), d.payload.size());
      frames[n++] = m;
    }
    const std::uint16_t sent = rte_eth_tx_burst(p.port, 0, frames.data(), n);
    accepted += sent;
    for (std::uint16_t k = sent; k < n; ++k) {
      ++p.stats.tx_dropped;
      rte_pktmbuf_free(frames[k]);
    }
  }
  return accepted;
}

}  // namespace acd::dataplane
