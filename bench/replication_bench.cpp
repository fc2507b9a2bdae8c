// The replication link's cost, clear text against sealed: records per second through a real
// primary/standby pair on loopback (both ends polled by the benchmark thread, batches of records
// acknowledged before the next), and the sealing itself (one secretstream push and pull per
// message, by message size, as the link seals each flush).
//
//   build/bench/replication_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <memory>
#include <vector>

#include "acd/dataplane/replication_link.hpp"

namespace acd::dataplane {
namespace {

// Arg 0: sealed (1) or clear (0); arg 1: records per batch (64-byte payloads).
void BM_LinkRecords(benchmark::State& state) {
  const bool sealed = state.range(0) != 0;
  const auto batch = static_cast<std::uint64_t>(state.range(1));
  const auto primary_keys = secure::generate_key_pair();
  const auto standby_keys = secure::generate_key_pair();
  std::optional<LinkKeys> for_primary;
  std::optional<LinkKeys> for_standby;
  if (sealed) {
    for_primary = LinkKeys{primary_keys.secret, standby_keys.public_key};
    for_standby = LinkKeys{standby_keys.secret, primary_keys.public_key};
  }
  const LinkTiming timing{std::chrono::seconds(1), std::chrono::seconds(10)};
  std::string why;
  auto primary = LinkPrimary::listen("127.0.0.1:0", timing, 1, why, for_primary);
  auto standby =
      LinkStandby::create("127.0.0.1:" + std::to_string(primary->port()), timing, why, for_standby);
  std::uint64_t applied = 0;
  auto poll_both = [&] {
    const auto now = LinkClock::now();
    primary->poll(now);
    primary->flush();
    standby->poll(
        now, [](std::uint64_t, std::span<const std::uint8_t>) {},
        [&](std::uint64_t seq, std::span<const std::uint8_t>) { applied = seq; },
        [](std::uint64_t, std::uint64_t) { return std::uint64_t{0}; });
  };
  while (!primary->take_hello()) {
    poll_both();
  }
  const std::vector<std::uint8_t> payload(64, 0x5a);
  std::uint64_t seq = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      (void)primary->append(++seq, payload);
    }
    while (primary->acked_seq() < seq) {
      poll_both();
    }
  }
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(seq), benchmark::Counter::kIsRate);
  state.counters["ns/record"] = benchmark::Counter(
      static_cast<double>(seq), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (applied != seq) {
    state.SkipWithError("records lost");
  }
}
BENCHMARK(BM_LinkRecords)->ArgsProduct({{0, 1}, {1, 32, 1024}})->UseRealTime();

// One sealed message of `range(0)` bytes: push on one stream, pull on its peer.
void BM_SealOpenMessage(benchmark::State& state) {
  if (sodium_init() < 0) {
    state.SkipWithError("libsodium cannot start");
    return;
  }
  const auto size = static_cast<std::size_t>(state.range(0));
  std::array<std::uint8_t, crypto_secretstream_xchacha20poly1305_KEYBYTES> key;
  crypto_secretstream_xchacha20poly1305_keygen(key.data());
  crypto_secretstream_xchacha20poly1305_state push;
  crypto_secretstream_xchacha20poly1305_state pull;
  std::array<std::uint8_t, crypto_secretstream_xchacha20poly1305_HEADERBYTES> header;
  crypto_secretstream_xchacha20poly1305_init_push(&push, header.data(), key.data());
  crypto_secretstream_xchacha20poly1305_init_pull(&pull, header.data(), key.data());
  std::vector<std::uint8_t> plain(size, 7);
  std::vector<std::uint8_t> sealed(size + crypto_secretstream_xchacha20poly1305_ABYTES);
  std::vector<std::uint8_t> opened(size);
  for (auto _ : state) {
    crypto_secretstream_xchacha20poly1305_push(&push, sealed.data(), nullptr, plain.data(), size,
                                               nullptr, 0,
                                               crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&pull, opened.data(), nullptr, &tag,
                                                   sealed.data(), sealed.size(), nullptr, 0) != 0) {
      state.SkipWithError("pull failed");
      break;
    }
    benchmark::DoNotOptimize(opened.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_SealOpenMessage)->Arg(28)->Arg(1024)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace acd::dataplane

BENCHMARK_MAIN();
