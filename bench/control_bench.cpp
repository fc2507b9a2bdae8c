// What monitoring costs the routing core: SnapshotBoard::maybe_publish copies the engine's agents,
// queues and calls for the control socket and the metrics endpoint, on the routing thread.
//
//   build/bench/control_bench
#include <benchmark/benchmark.h>

#include <memory>

#include "acd/control/control_server.hpp"

namespace {

using namespace acd;

// `agents` signed-in agents over 100 queues, `calls` calls waiting.
std::unique_ptr<router::Engine> make_engine(std::uint32_t agents, std::uint32_t calls) {
  router::EngineConfig c;
  c.skill_count = 100;
  c.max_calls = calls + 16;
  for (std::uint32_t q = 0; q < 100; ++q) {
    router::QueueConfig qc;
    qc.skills = {router::SkillRequirement{static_cast<router::SkillId>(q), 1, 0}};
    c.queues.push_back(qc);
  }
  for (std::uint32_t a = 0; a < agents; ++a) {
    router::AgentConfig ac;
    ac.number = 100'000 + a;
    ac.skills = {router::SkillLevel{static_cast<router::SkillId>(a % 100), 5, 0}};
    c.agents.push_back(ac);
  }
  auto engine = std::make_unique<router::Engine>(c);
  router::Micros now = 1;
  auto ignore = [](const router::Decision&) {};
  for (std::uint32_t a = 0; a < agents; ++a) {
    router::Event e;
    e.time = ++now;
    e.type = router::EventType::AgentSignIn;
    e.agent = a;
    engine->apply(e, ignore);
  }
  for (std::uint32_t i = 0; i < calls; ++i) {
    router::Event e;
    e.time = ++now;
    e.type = router::EventType::RouteRequest;
    e.call = i + 1;
    e.queue = i % 100;
    engine->apply(e, ignore);
  }
  return engine;
}

// One poll cycle's share of the publication (interval 0: a new sweep starts as soon as one ends).
// The time per iteration is what the routing core pays per poll cycle while a sweep runs;
// cycles_per_sweep says how many cycles one full copy takes.
void BM_Publish(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const auto calls = static_cast<std::uint32_t>(state.range(1));
  const auto engine = make_engine(agents, calls);
  control::ApplianceConfig config;
  control::SnapshotBoard board(&config, 0);
  std::uint64_t sweeps = 0;
  std::uint64_t last = 0;
  for (auto _ : state) {
    board.maybe_publish(*engine, nullptr);
    if (board.published_ns() != last) {
      last = board.published_ns();
      ++sweeps;
    }
  }
  state.counters["cycles_per_sweep"] =
      sweeps > 0 ? static_cast<double>(state.iterations()) / static_cast<double>(sweeps) : 0.0;
}
BENCHMARK(BM_Publish)
    ->Args({200, 100})
    ->Args({10'000, 1'000})
    ->Args({100'000, 10'000})
    ->Args({1'000'000, 10'000})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
