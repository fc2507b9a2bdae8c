// libFuzzer target: arbitrary bytes as datagrams into the whole pipeline (decoder, reply cache,
// sequencer, engine, reply encoder). Nothing a packet contains may crash, read out of bounds, or
// leave the engine inconsistent. The first byte picks the sending client, so registration, cache
// and retransmission paths are reached too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "acd/dataplane/pipeline.hpp"

namespace {

using namespace acd;

struct World {
  router::EngineConfig config;
  std::unique_ptr<router::Engine> engine;
  dataplane::MemoryPort port;
  dataplane::ManualClock clock;
  std::unique_ptr<dataplane::IoStage> io;
  std::unique_ptr<dataplane::Worker> worker;
  std::uint64_t inputs = 0;

  World() {
    config.skill_count = 4;
    config.max_calls = 256;
    for (router::SkillId s = 0; s < 4; ++s) {
      router::QueueConfig q;
      q.skills = {router::SkillRequirement{s, 1, 0}};
      q.wrap_up_ms = s % 2 == 0 ? 1000 : 0;
      q.ring_timeout_ms = 5000;
      q.max_wait_ms = 60'000;
      config.queues.push_back(q);
    }
    std::vector<router::AgentNumber> numbers;
    for (std::uint32_t i = 0; i < 16; ++i) {
      router::AgentConfig a;
      a.number = 1000 + i;
      a.skills = {router::SkillLevel{static_cast<router::SkillId>(i % 4), 5, 0}};
      a.capacity = {1, static_cast<std::uint8_t>(i % 3), 0, 0};
      config.agents.push_back(a);
      numbers.push_back(a.number);
    }
    engine = std::make_unique<router::Engine>(config);
    dataplane::DataplaneConfig dp;
    dp.max_clients = 8;
    dp.reply_cache_per_client = 64;
    dp.max_calls = config.max_calls;
    io = std::make_unique<dataplane::IoStage>(port, clock, nullptr, numbers, dp);
    worker = std::make_unique<dataplane::Worker>(*engine, *io);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size == 0) {
    return 0;
  }
  const dataplane::Endpoint from{0x0100007f, static_cast<std::uint16_t>(4000 + data[0] % 4), 0};
  world.port.inject(from, std::vector<std::uint8_t>(data + 1, data + size));
  world.clock.advance(1000 + data[0] * 997ull);
  world.worker->poll();
  world.port.take_sent();
  if (++world.inputs % 64 == 0) {
    std::string why;
    if (!world.engine->check_invariants(&why)) {
      std::fprintf(stderr, "invariant broken: %s\n", why.c_str());
      std::abort();
    }
  }
  return 0;
}
