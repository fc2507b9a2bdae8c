// The DPDK port on in-process virtual devices (two ring-based ethdevs wired back to back, EAL with
// --no-huge): ARP for its own address is answered, UDP/IPv4 frames are parsed in place, malformed
// or foreign frames are dropped and counted, replies carry correct headers, and the whole pipeline
// routes a call over it, in clear text (ACDP/1) and sealed (ACDP/2: handshake, sealed request,
// sealed reply).
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <rte_arp.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "acd/dataplane/dpdk_port.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/session_layer.hpp"
#include "secure_peer.hpp"

namespace acd::dataplane {
namespace {

constexpr std::uint32_t kServerIp = 0x0101000a;  // 10.0.1.1 in network order
constexpr std::uint32_t kClientIp = 0x0201000a;  // 10.0.1.2
constexpr std::uint16_t kServerPort = 0x9a1b;    // network order
constexpr std::uint16_t kClientPort = 0x3930;
const rte_ether_addr kClientMac{{0x02, 0, 0, 0, 0, 0x22}};

// EAL once per process; two ring ethdevs: the server's TX is the client's RX and back.
struct Wire {
  std::uint16_t server = 0;
  std::uint16_t client = 0;
  rte_mempool* pool = nullptr;
};

// The CPUs the thread that started EAL could run on, before and after init_eal.
cpu_set_t g_cpus_before_eal;
cpu_set_t g_cpus_after_eal;

Wire& wire_up() {
  static Wire w = [] {
    Wire made;
    std::string error;
    pthread_getaffinity_np(pthread_self(), sizeof(g_cpus_before_eal), &g_cpus_before_eal);
    const bool ok = init_eal({"--no-huge", "--no-pci", "-m", "256", "--no-shconf",
                              "--log-level=lib.eal:error", "-l", "0"},
                             error);
    EXPECT_TRUE(ok) << error;
    pthread_getaffinity_np(pthread_self(), sizeof(g_cpus_after_eal), &g_cpus_after_eal);
    rte_ring* a = rte_ring_create("acd_test_a", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* b = rte_ring_create("acd_test_b", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    made.server = static_cast<std::uint16_t>(rte_eth_from_rings("acd_server", &a, 1, &b, 1, 0));
    made.client = static_cast<std::uint16_t>(rte_eth_from_rings("acd_client", &b, 1, &a, 1, 0));
    made.pool = rte_pktmbuf_pool_create("acd_test_pool", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    rte_eth_conf conf{};
    rte_eth_dev_configure(made.client, 1, 1, &conf);
    rte_eth_rx_queue_setup(made.client, 0, 256, 0, nullptr, made.pool);
    rte_eth_tx_queue_setup(made.client, 0, 256, 0, nullptr);
    rte_eth_dev_start(made.client);
    return made;
  }();
  return w;
}

std::unique_ptr<DpdkPort>& server_port() {
  static std::unique_ptr<DpdkPort> port = [] {
    std::string error;
    auto p = DpdkPort::create(wire_up().server, Endpoint{kServerIp, kServerPort, 0}, error);
    EXPECT_NE(p, nullptr) << error;
    return p;
  }();
  return port;
}

// A UDP/IPv4 frame from the client to `dst_port` with this payload.
rte_mbuf* udp_frame(const std::vector<std::uint8_t>& payload,
                    std::uint16_t dst_port = kServerPort) {
  rte_mbuf* m = rte_pktmbuf_alloc(wire_up().pool);
  const auto len = static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) +
                                              sizeof(rte_udp_hdr) + payload.size());
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
  eth->src_addr = kClientMac;
  eth->dst_addr = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x11}};
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof(*ip));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(len - sizeof(rte_ether_hdr)));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = kClientIp;
  ip->dst_addr = kServerIp;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = kClientPort;
  udp->dst_port = dst_port;
  udp->dgram_len =
      rte_cpu_to_be_16(static_cast<std::uint16_t>(sizeof(rte_udp_hdr) + payload.size()));
  std::memcpy(udp + 1, payload.data(), payload.size());
  return m;
}

void client_send(rte_mbuf* m) {
  ASSERT_EQ(rte_eth_tx_burst(wire_up().client, 0, &m, 1), 1);
}

std::vector<rte_mbuf*> client_receive() {
  std::vector<rte_mbuf*> out(64);
  out.resize(rte_eth_rx_burst(wire_up().client, 0, out.data(), 64));
  return out;
}

// EAL (here with -l 0) pins the thread that starts it to one CPU; init_eal gives the thread its
// CPUs back, so that the threads acdd starts after it (sign-in verifiers, the handshake worker)
// are not confined to the poll loop's CPU. (On a machine that allows one CPU only, both sets are
// that CPU.)
TEST(DpdkEal, TheCallingThreadKeepsItsCpus) {
  wire_up();
  EXPECT_TRUE(CPU_EQUAL(&g_cpus_before_eal, &g_cpus_after_eal))
      << "CPUs before EAL " << CPU_COUNT(&g_cpus_before_eal) << ", after "
      << CPU_COUNT(&g_cpus_after_eal);
}

// ARP: a request for the server's address gets a reply with its MAC; for another address, none.
TEST(DpdkPort, AnswersArpForItsAddress) {
  auto& port = server_port();
  ASSERT_NE(port, nullptr);
  for (std::uint32_t target : {kServerIp, 0x0901000au}) {
    rte_mbuf* m = rte_pktmbuf_alloc(wire_up().pool);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(
        rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
    eth->src_addr = kClientMac;
    std::memset(&eth->dst_addr, 0xFF, sizeof(eth->dst_addr));
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = 6;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = kClientMac;
    arp->arp_data.arp_sip = kClientIp;
    arp->arp_data.arp_tip = target;
    client_send(m);
  }
  std::vector<Datagram> out(8);
  EXPECT_EQ(port->receive(out), 0u);
  const auto replies = client_receive();
  ASSERT_EQ(replies.size(), 1u);
  const auto* arp = rte_pktmbuf_mtod_offset(replies[0], const rte_arp_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
  EXPECT_EQ(arp->arp_data.arp_sip, kServerIp);
  EXPECT_EQ(arp->arp_data.arp_tip, kClientIp);
  rte_pktmbuf_free(replies[0]);
  EXPECT_EQ(port->stats().arp_replies, 1u);
}

// UDP to our port arrives with its source; other ports and malformed frames are dropped; a reply
// goes back with correct addresses, ports, lengths and IPv4 checksum.
TEST(DpdkPort, ParsesInPlaceAndReplies) {
  auto& port = server_port();
  ASSERT_NE(port, nullptr);
  const DpdkStats before = port->stats();
  client_send(udp_frame({1, 2, 3, 4, 5}));
  client_send(udp_frame({9}, 0x0101));  // another port
  rte_mbuf* truncated = udp_frame({1, 2, 3});
  rte_pktmbuf_trim(truncated, 10);  // IPv4 total length now exceeds the frame
  client_send(truncated);
  rte_mbuf* fragment = udp_frame({1});
  rte_pktmbuf_mtod_offset(fragment, rte_ipv4_hdr*, sizeof(rte_ether_hdr))->fragment_offset =
      rte_cpu_to_be_16(0x2000);
  client_send(fragment);
  std::vector<Datagram> out(8);
  const std::size_t n = port->receive(out);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(out[0].peer.address, kClientIp);
  EXPECT_EQ(out[0].peer.port, kClientPort);
  ASSERT_EQ(out[0].payload.size(), 5u);
  EXPECT_EQ(out[0].payload[4], 5);
  EXPECT_EQ(port->stats().rx_not_for_us - before.rx_not_for_us, 1u);
  EXPECT_EQ(port->stats().rx_malformed - before.rx_malformed, 2u);

  const std::uint8_t reply[] = {7, 7, 7};
  const Datagram d{out[0].peer, reply};
  ASSERT_EQ(port->send(std::span<const Datagram>(&d, 1)), 1u);
  const auto frames = client_receive();
  ASSERT_EQ(frames.size(), 1u);
  const auto* eth = rte_pktmbuf_mtod(frames[0], const rte_ether_hdr*);
  EXPECT_EQ(std::memcmp(&eth->dst_addr, &kClientMac, sizeof(kClientMac)), 0);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  EXPECT_EQ(ip->src_addr, kServerIp);
  EXPECT_EQ(ip->dst_addr, kClientIp);
  EXPECT_EQ(rte_ipv4_cksum(ip), 0);  // the one's-complement sum over a valid header is zero
  const auto* udp = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
  EXPECT_EQ(udp->src_port, kServerPort);
  EXPECT_EQ(udp->dst_port, kClientPort);
  EXPECT_EQ(rte_be_to_cpu_16(udp->dgram_len), sizeof(rte_udp_hdr) + 3);
  rte_pktmbuf_free(frames[0]);
}

// The pipeline over DPDK: register, route a call, get the RouteResponse back in a frame.
TEST(DpdkPort, PipelineRoutesOverVirtualDevice) {
  auto& port = server_port();
  ASSERT_NE(port, nullptr);
  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 16;
  router::QueueConfig q;
  q.skills = {router::SkillRequirement{0, 1, 0}};
  config.queues.push_back(q);
  router::Engine engine(config);
  ManualClock clock;
  IoStage io(*port, clock, nullptr, {}, DataplaneConfig{});
  Worker worker(engine, io);
  std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
  DatagramWriter w(buf, 3);
  w.add(wire::Type::Register, 1, wire::Register{1, 0, 5});
  wire::RouteRequest rr{};
  rr.call_id = 77;
  w.add(wire::Type::RouteRequest, 2, rr);
  buf.resize(w.finish());
  client_send(udp_frame(buf));
  worker.poll();
  const auto frames = client_receive();
  ASSERT_EQ(frames.size(), 1u);
  const std::size_t offset = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
  const std::span<const std::uint8_t> payload(
      rte_pktmbuf_mtod_offset(frames[0], const std::uint8_t*, offset),
      frames[0]->data_len - offset);
  wire::DatagramHeader h;
  ASSERT_EQ(check_header(payload, h), HeaderCheck::Ok);
  std::vector<wire::Type> types;
  for_each_message(
      payload, h, [&](const Message& m) { types.push_back(m.type); },
      [](std::uint64_t, wire::WireError) { FAIL(); });
  EXPECT_EQ(types, (std::vector<wire::Type>{wire::Type::Ack, wire::Type::RouteResponse}));
  rte_pktmbuf_free(frames[0]);
  EXPECT_EQ(engine.calls_in_engine(), 1u);
}

// The payload of a UDP/IPv4 frame the server sent, and the frame freed.
Bytes payload_of(rte_mbuf* frame) {
  const std::size_t offset = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
  const auto* data = rte_pktmbuf_mtod_offset(frame, const std::uint8_t*, offset);
  Bytes out(data, data + (frame->data_len - offset));
  rte_pktmbuf_free(frame);
  return out;
}

// ACDP/2 over the DPDK port: the handshake goes through the layer's worker thread and back out
// of the port, a sealed Register and RouteRequest reach the engine as the configured switch, the
// replies leave sealed, and a clear-text request on the same port reaches nothing.
TEST(DpdkPort, SealedPipelineRoutesOverVirtualDevice) {
  auto& port = server_port();
  ASSERT_NE(port, nullptr);
  while (!client_receive().empty()) {
  }
  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 16;
  router::QueueConfig q;
  q.skills = {router::SkillRequirement{0, 1, 0}};
  config.queues.push_back(q);
  router::Engine engine(config);
  ManualClock clock;
  IoStage io(*port, clock, nullptr, {}, DataplaneConfig{});
  Worker worker(engine, io);
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer sw("sbc-1", Endpoint{kClientIp, kClientPort, 0}, server.public_key);
  SecureConfig sc;
  sc.keys = server;
  sc.clients.push_back({"sbc-1", wire::Role::Switch, sw.keys.public_key, {}});
  ASSERT_EQ(check_secure_config(sc), "");
  SessionLayer layer(sc);
  layer.start();
  io.set_security(&layer);

  const auto frames_after = [&](int polls) {
    std::vector<Bytes> got;
    for (int i = 0; i < polls && got.empty(); ++i) {
      worker.poll();
      for (rte_mbuf* m : client_receive()) {
        got.push_back(payload_of(m));
      }
      if (got.empty()) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    return got;
  };

  const Bytes init = sw.init();
  client_send(udp_frame(init));
  const auto response = frames_after(4000);
  ASSERT_EQ(response.size(), 1u);
  ASSERT_TRUE(secure::peek(response[0]).handshake);
  secure::Initiator::Established e = sw.initiator.consume_response(response[0]);
  ASSERT_EQ(e.reason, secure::DropReason::None);
  sw.cipher.emplace(e.keys, secure::Side::Client, secure::Aead::ChaCha20Poly1305);
  sw.index = e.session_index;

  Bytes clear(wire::kMaxSendDatagram);
  DatagramWriter w(clear, 0);
  ASSERT_TRUE(w.add(wire::Type::Register, ++sw.seq,
                    wire::Register{static_cast<std::uint32_t>(wire::Role::Switch), 0, 1}));
  wire::RouteRequest rr{};
  rr.call_id = 77;
  ASSERT_TRUE(w.add(wire::Type::RouteRequest, ++sw.seq, rr));
  clear.resize(w.finish());

  // In clear text the same request is dropped by the layer: no reply, no call.
  client_send(udp_frame(clear));
  EXPECT_TRUE(frames_after(20).empty());
  EXPECT_EQ(engine.calls_in_engine(), 0u);

  client_send(udp_frame(sw.seal(clear)));
  const auto replies = frames_after(200);
  ASSERT_EQ(replies.size(), 1u);
  std::vector<Reply> opened;
  ASSERT_TRUE(sw.open(replies[0], opened)) << "the reply is not sealed under the session";
  ASSERT_EQ(opened.size(), 2u);
  EXPECT_EQ(opened[0].type, wire::Type::Ack);
  EXPECT_EQ(opened[1].type, wire::Type::RouteResponse);
  EXPECT_EQ(engine.calls_in_engine(), 1u);
  io.set_security(nullptr);
}

}  // namespace
}  // namespace acd::dataplane
