// Dataplane micro-benchmarks: SPSC rings (same core and across cores), the ACDP codec, and the
// whole pipeline over the in-memory port (the software ceiling, without the kernel).
//
//   build/bench/dataplane_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <atomic>
#include <thread>
#include <vector>

#include <boost/lockfree/spsc_queue.hpp>

#include "acd/dataplane/pipeline.hpp"

namespace acd::dataplane {
namespace {

using Ring = boost::lockfree::spsc_queue<Input, boost::lockfree::capacity<8192>>;

// Push a batch, pop it back, on one thread: the ring's own cost per message.
void BM_SpscSameCore(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  auto ring = std::make_unique<Ring>();
  std::vector<Input> in(batch), out(batch);
  std::uint64_t messages = 0;
  const std::uint64_t t0 = __rdtsc();
  for (auto _ : state) {
    ring->push(in.data(), batch);
    benchmark::DoNotOptimize(ring->pop(out.data(), batch));
    messages += batch;
  }
  state.counters["cycles_per_msg"] =
      static_cast<double>(__rdtsc() - t0) / static_cast<double>(messages);
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_SpscSameCore)->Arg(1)->Arg(32);

// A producer thread on the other core pushes batches; this thread pops them.
void BM_SpscCrossCore(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  auto ring = std::make_unique<Ring>();
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    pin_to_cpu(1);
    std::vector<Input> in(batch);
    while (!stop.load(std::memory_order_relaxed)) {
      if (ring->write_available() >= batch) {
        ring->push(in.data(), batch);
      }
    }
  });
  pin_to_cpu(0);
  std::vector<Input> out(batch);
  std::uint64_t messages = 0;
  const std::uint64_t t0 = __rdtsc();
  for (auto _ : state) {
    std::size_t got = 0;
    while (got < batch) {
      got += ring->pop(out.data(), batch - got);
    }
    messages += batch;
  }
  state.counters["cycles_per_msg"] =
      static_cast<double>(__rdtsc() - t0) / static_cast<double>(messages);
  stop = true;
  producer.join();
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_SpscCrossCore)->Arg(1)->Arg(32)->UseRealTime();

std::vector<std::uint8_t> route_requests(int count) {
  std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
  DatagramWriter w(buf, 7);
  for (int i = 0; i < count; ++i) {
    wire::RouteRequest rr{};
    rr.call_id = static_cast<std::uint64_t>(i + 1);
    rr.skill_count = 1;
    rr.skills[0] = {0, 1, 0};
    w.add(wire::Type::RouteRequest, static_cast<std::uint64_t>(i + 1), rr);
  }
  buf.resize(w.finish());
  return buf;
}

// Decoding and validating a datagram of route requests.
void BM_CodecDecode(benchmark::State& state) {
  const auto d = route_requests(static_cast<int>(state.range(0)));
  std::uint64_t messages = 0;
  for (auto _ : state) {
    wire::DatagramHeader h;
    benchmark::DoNotOptimize(check_header(d, h));
    messages += for_each_message(
        d, h, [](const Message& m) { benchmark::DoNotOptimize(m.as<wire::RouteRequest>()); },
        [](std::uint64_t, wire::WireError) {});
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_CodecDecode)->Arg(1)->Arg(24);

// Encoding route responses into a datagram.
void BM_CodecEncode(benchmark::State& state) {
  std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
  wire::RouteResponse r{};
  std::uint64_t messages = 0;
  for (auto _ : state) {
    DatagramWriter w(buf, 7);
    for (std::uint64_t i = 0; i < 20; ++i) {
      r.call_id = i;
      w.add(wire::Type::RouteResponse, i, r);
    }
    benchmark::DoNotOptimize(w.finish());
    messages += 20;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_CodecEncode);

// The whole pipeline on one core over the in-memory port: decode, reply cache, sequencer, engine
// (queueing: no agents), reply encode. Datagrams of 24 route requests.
void BM_PipelineInMemory(benchmark::State& state) {
  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 1 << 20;
  router::QueueConfig q;
  q.skills = {router::SkillRequirement{0, 1, 0}};
  config.queues.push_back(q);
  router::Engine engine(config);
  MemoryPort port;
  SteadyClock clock;
  DataplaneConfig dp;
  dp.max_calls = config.max_calls;
  IoStage io(port, clock, nullptr, {}, dp);
  Worker worker(engine, io);
  const Endpoint peer{0x0100007f, 4000, 0};
  {
    std::vector<std::uint8_t> buf(wire::kMaxSendDatagram);
    DatagramWriter reg(buf, 7);
    reg.add(wire::Type::Register, 1, wire::Register{1, 0, 1});
    buf.resize(reg.finish());
    port.inject(peer, buf);
    worker.poll();
    port.take_sent();
  }
  std::uint64_t call = 1;
  std::uint64_t seq = 2;
  std::uint64_t messages = 0;
  std::vector<std::uint8_t> d(wire::kMaxSendDatagram);
  for (auto _ : state) {
    state.PauseTiming();
    if (call > config.max_calls - 64) {
      state.SkipWithError("call pool exhausted");
      break;
    }
    for (int k = 0; k < 32; ++k) {
      d.assign(wire::kMaxSendDatagram, 0);
      DatagramWriter w(d, 7);
      for (int i = 0; i < 24; ++i) {
        wire::RouteRequest rr{};
        rr.call_id = call++;
        w.add(wire::Type::RouteRequest, seq++, rr);
      }
      d.resize(w.finish());
      port.inject(peer, d);
    }
    state.ResumeTiming();
    worker.poll();
    state.PauseTiming();
    port.take_sent();
    messages += 32 * 24;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}
BENCHMARK(BM_PipelineInMemory)->Iterations(1000);

#ifdef ACD_WITH_DPDK
}  // namespace
}  // namespace acd::dataplane

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "acd/dataplane/dpdk_port.hpp"

namespace acd::dataplane {
namespace {

// The DPDK port on a ring-based virtual device: frames of `messages` route requests each are
// received, parsed in place and answered with a frame of the same size, one core. Frames are put on
// the wire (and the replies taken off it) outside the timing. Reports frames/s and messages/s.
void BM_DpdkPortRing(benchmark::State& state) {
  const auto messages = static_cast<int>(state.range(0));
  static bool ready = false;
  static std::uint16_t server = 0;
  static std::uint16_t client = 0;
  static rte_mempool* pool = nullptr;
  static std::unique_ptr<DpdkPort> port;
  constexpr std::uint32_t kServerIp = 0x0101000a;
  constexpr std::uint32_t kClientIp = 0x0201000a;
  if (!ready) {
    std::string error;
    if (!init_eal({"--no-huge", "--no-pci", "-m", "512", "--no-shconf", "--log-level=lib.eal:error",
                   "-l", "0"},
                  error)) {
      state.SkipWithError(error.c_str());
      return;
    }
    rte_ring* a = rte_ring_create("bench_a", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* b = rte_ring_create("bench_b", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    server = static_cast<std::uint16_t>(rte_eth_from_rings("bench_server", &a, 1, &b, 1, 0));
    client = static_cast<std::uint16_t>(rte_eth_from_rings("bench_client", &b, 1, &a, 1, 0));
    pool = rte_pktmbuf_pool_create("bench_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    rte_eth_conf conf{};
    rte_eth_dev_configure(client, 1, 1, &conf);
    rte_eth_rx_queue_setup(client, 0, 1024, 0, nullptr, pool);
    rte_eth_tx_queue_setup(client, 0, 1024, 0, nullptr);
    rte_eth_dev_start(client);
    port = DpdkPort::create(server, Endpoint{kServerIp, 0x9a1b, 0}, error);
    if (!port) {
      state.SkipWithError(error.c_str());
      return;
    }
    ready = true;
  }
  const auto payload = route_requests(messages);
  auto frame = [&]() {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const auto len = static_cast<std::uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) +
                                                sizeof(rte_udp_hdr) + payload.size());
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, len));
    eth->src_addr = rte_ether_addr{{2, 0, 0, 0, 0, 0x22}};
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, sizeof(*ip));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(len - sizeof(rte_ether_hdr)));
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = kClientIp;
    ip->dst_addr = kServerIp;
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = 0x3930;
    udp->dst_port = 0x9a1b;
    udp->dgram_len =
        rte_cpu_to_be_16(static_cast<std::uint16_t>(sizeof(rte_udp_hdr) + payload.size()));
    std::memcpy(udp + 1, payload.data(), payload.size());
    return m;
  };
  constexpr int kFrames = 32;
  std::vector<rte_mbuf*> frames(kFrames);
  std::vector<Datagram> in(kFrames);
  std::vector<Datagram> replies(kFrames);
  std::uint64_t handled = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& f : frames) {
      f = frame();
    }
    rte_eth_tx_burst(client, 0, frames.data(), kFrames);
    state.ResumeTiming();
    const std::size_t n = port->receive(in);
    for (std::size_t i = 0; i < n; ++i) {
      replies[i] = Datagram{in[i].peer, in[i].payload};  // same size back, as a response burst
    }
    port->send(std::span<const Datagram>(replies.data(), n));
    handled += n;
    state.PauseTiming();
    const std::uint16_t back = rte_eth_rx_burst(client, 0, frames.data(), kFrames);
    for (std::uint16_t i = 0; i < back; ++i) {
      rte_pktmbuf_free(frames[i]);
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(handled));
  state.counters["messages_per_s"] =
      benchmark::Counter(static_cast<double>(handled) * messages, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DpdkPortRing)->Arg(1)->Arg(20);
#endif

}  // namespace
}  // namespace acd::dataplane

BENCHMARK_MAIN();
