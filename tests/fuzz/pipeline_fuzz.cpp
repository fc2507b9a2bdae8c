// libFuzzer target: arbitrary bytes as datagrams into the whole pipeline (decoder, reply cache,
// sequencer, engine, reply encoder). Nothing a packet contains may crash, read out of bounds, or
// leave the engine inconsistent.
//
// Each input is self-contained: it starts from the same engine state with a new IO stage, and
// the engine's invariants are checked after every datagram, so a crash file reproduces on its own.
// Input: one byte that picks the sending client of each datagram (two bits per datagram, in turn)
// and the clock's step between datagrams, then one or more datagrams back to back, each cut at
// the length its header declares (the rest of the input when that length does not fit). A
// datagram may register its client and then send requests, so registration, cache and
// retransmission paths are reached from one input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "acd/dataplane/pipeline.hpp"

namespace {

using namespace acd;

constexpr std::size_t kMaxDatagramsPerInput = 32;

router::EngineConfig fuzz_centre() {
  router::EngineConfig config;
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
  for (std::uint32_t i = 0; i < 16; ++i) {
    router::AgentConfig a;
    a.number = 1000 + i;
    a.skills = {router::SkillLevel{static_cast<router::SkillId>(i % 4), 5, 0}};
    a.capacity = {1, static_cast<std::uint8_t>(i % 3), 0, 0};
    config.agents.push_back(a);
  }
  return config;
}

std::vector<router::AgentNumber> numbers_of(const router::EngineConfig& c) {
  std::vector<router::AgentNumber> n;
  for (const router::AgentConfig& a : c.agents) {
    n.push_back(a.number);
  }
  return n;
}

dataplane::DataplaneConfig dataplane_config(const router::EngineConfig& c) {
  dataplane::DataplaneConfig dp;
  dp.max_clients = 8;
  dp.reply_cache_per_client = 64;
  dp.max_calls = c.max_calls;
  return dp;
}

// The IO side of the pipeline, built fresh for every input around the engine.
struct Pipeline {
  dataplane::MemoryPort port;
  dataplane::ManualClock clock;
  dataplane::IoStage io;
  dataplane::Worker worker;

  Pipeline(router::Engine& engine, const std::vector<router::AgentNumber>& numbers,
           const dataplane::DataplaneConfig& dp)
      : io(port, clock, nullptr, numbers, dp), worker(engine, io) {}
};

// The length of the datagram at the start of `rest`: the declared one when it fits, else all.
std::size_t next_datagram(const std::uint8_t* rest, std::size_t size) {
  if (size < sizeof(dataplane::wire::DatagramHeader)) {
    return size;
  }
  std::uint16_t declared = 0;
  std::memcpy(&declared, rest + offsetof(dataplane::wire::DatagramHeader, length),
              sizeof(declared));
  return declared >= sizeof(dataplane::wire::DatagramHeader) && declared <= size ? declared : size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  static const router::EngineConfig config = fuzz_centre();
  static const router::Engine pristine(config);
  static router::Engine engine(config);
  static const std::vector<router::AgentNumber> numbers = numbers_of(config);
  static const dataplane::DataplaneConfig dp = dataplane_config(config);
  // Every input starts from the same engine state (a copy: the engine is plain values, and its
  // vectors keep their storage, which is much cheaper than building one) and a new IO stage.
  engine = pristine;
  Pipeline pipeline(engine, numbers, dp);
  const std::uint8_t pick = data[0];
  std::size_t at = 1;
  for (std::size_t k = 0; at < size && k < kMaxDatagramsPerInput; ++k) {
    const std::size_t n = next_datagram(data + at, size - at);
    const auto client = static_cast<std::uint16_t>((pick >> (2 * (k % 4))) & 3);
    const dataplane::Endpoint from{0x0100007f, static_cast<std::uint16_t>(4000 + client), 0};
    pipeline.port.inject(from, std::vector<std::uint8_t>(data + at, data + at + n));
    pipeline.clock.advance(1000 + pick * pick * 1000ull);  // 1 ms to 65 s: timers come due too
    pipeline.worker.poll();
    pipeline.port.take_sent();
    at += n;
    std::string why;
    if (!engine.check_invariants(&why)) {
      std::fprintf(stderr, "invariant broken after datagram %zu: %s\n", k, why.c_str());
      std::abort();
    }
  }
  return 0;
}
