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
  state.counters["cycles_per_msg"] = static_cast<double>(__rdtsc() - t0) / static_cast<double>(messages);
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
  state.counters["cycles_per_msg"] = static_cast<double>(__rdtsc() - t0) / static_cast<double>(messages);
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

}  // namespace
}  // namespace acd::dataplane

BENCHMARK_MAIN();
