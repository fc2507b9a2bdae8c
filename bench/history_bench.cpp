// Call history: derivation rate of the Deriver (inputs per second, the engine's decisions made
// beforehand) and of a whole Feed (follower engine + deriver), and SQLite ingest of the records
// (records per second, by batch size). Goals: 1M inputs/s derived on one core; >= 200k records/s
// stored.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>

#include "../tests/router/random_stream.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/measures.hpp"
#include "acd/history/store.hpp"

namespace {

using acd::history::Deriver;
using acd::history::Feed;
using acd::history::Records;
using acd::history::Store;
using acd::router::Decision;
using acd::router::Engine;
using acd::router::EngineConfig;
using acd::router::Event;

// A recorded log: each input with the decisions it caused, flattened.
struct Log {
  EngineConfig config;
  std::vector<Event> inputs;
  std::vector<std::uint32_t> first;  // decisions of input i: [first[i], first[i + 1])
  std::vector<Decision> decisions;
};

Log record_log(std::uint32_t agents, std::size_t inputs) {
  Log log;
  log.config = acd::router::testing::random_domain(11, agents, 12, 8);
  log.config.max_calls = agents * 4;
  Engine engine(log.config);
  acd::router::testing::StreamGenerator gen(11, log.config);
  for (std::size_t i = 0; i < inputs; ++i) {
    const Event e = gen.next(engine);
    log.inputs.push_back(e);
    log.first.push_back(static_cast<std::uint32_t>(log.decisions.size()));
    engine.apply(e, [&](const Decision& d) { log.decisions.push_back(d); });
    if (i % 64 == 0) {
      gen.forget_gone(engine);
    }
  }
  log.first.push_back(static_cast<std::uint32_t>(log.decisions.size()));
  return log;
}

// The deriver alone over a recorded log; args: agents.
void BM_Derive(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const Log log = record_log(agents, 200'000);
  std::uint64_t records = 0;
  std::uint64_t inputs = 0;
  for (auto _ : state) {
    Deriver deriver(log.config, {});
    Records out;
    for (std::size_t i = 0; i < log.inputs.size(); ++i) {
      const std::span<const Decision> d(log.decisions.data() + log.first[i],
                                        log.first[i + 1] - log.first[i]);
      deriver.apply(i + 1, log.inputs[i], d, out);
      if (out.size() >= 4096) {
        records += out.size();
        out.clear();
      }
    }
    records += out.size();
    inputs += log.inputs.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(inputs));
  state.counters["records_per_input"] =
      static_cast<double>(records) / static_cast<double>(inputs);
  state.counters["decisions_per_input"] =
      static_cast<double>(log.decisions.size()) / static_cast<double>(log.inputs.size());
}
BENCHMARK(BM_Derive)->Arg(60)->Arg(600)->Unit(benchmark::kMillisecond);

// Follower engine + deriver (what a history thread does per input); args: agents.
void BM_Feed(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const Log log = record_log(agents, 200'000);
  std::uint64_t inputs = 0;
  for (auto _ : state) {
    Feed feed(log.config, {});
    Records out;
    for (std::size_t i = 0; i < log.inputs.size(); ++i) {
      feed.apply(i + 1, log.inputs[i], out);
      if (out.size() >= 4096) {
        out.clear();
      }
    }
    inputs += log.inputs.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(inputs));
}
BENCHMARK(BM_Feed)->Arg(60)->Arg(600)->Unit(benchmark::kMillisecond);

// The WAL header's checkpoint sequence number (big-endian u32 at byte 12): SQLite raises it each
// time a checkpoint has copied the whole WAL back and the next write starts the WAL again. 0 when
// there is no WAL file yet.
std::uint32_t wal_restarts(const std::string& wal) {
  std::ifstream in(wal, std::ios::binary);
  unsigned char h[16] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) {
    return 0;
  }
  return (std::uint32_t{h[12]} << 24) | (std::uint32_t{h[13]} << 16) |
         (std::uint32_t{h[14]} << 8) | std::uint32_t{h[15]};
}

// SQLite ingest: the records of a recorded log written in transactions of `batch` records each,
// renumbered per iteration so that every insert is new; args: batch size, durable (FULL sync).
// Counters: wal_restarts, the WAL checkpoints completed inside the timed loop (with SQLite's
// default auto-checkpoint every 1,000 pages); db_MiB, the database file at the end.
void BM_StoreIngest(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const bool durable = state.range(1) != 0;
  const Log log = record_log(60, 200'000);
  // Derive the record mix once; split it into batches of `batch` records.
  Records all;
  {
    Deriver deriver(log.config, {});
    for (std::size_t i = 0; i < log.inputs.size(); ++i) {
      const std::span<const Decision> d(log.decisions.data() + log.first[i],
                                        log.first[i + 1] - log.first[i]);
      deriver.apply(i + 1, log.inputs[i], d, all);
    }
  }
  std::vector<Records> batches(1);
  auto room = [&] {
    if (batches.back().size() >= batch) {
      batches.emplace_back();
    }
    return &batches.back();
  };
  for (const auto& r : all.calls) {
    room()->calls.push_back(r);
  }
  for (const auto& r : all.states) {
    room()->states.push_back(r);
  }
  for (const auto& r : all.queue_intervals) {
    room()->queue_intervals.push_back(r);
  }
  for (const auto& r : all.agent_intervals) {
    room()->agent_intervals.push_back(r);
  }
  const std::string dir = "/tmp/acd-history-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string why;
  auto store = Store::open({dir + "/h.db", durable}, why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::uint64_t round = 0;
  std::uint64_t written = 0;
  std::size_t next = 0;
  const std::uint32_t restarts_before = wal_restarts(dir + "/h.db-wal");
  for (auto _ : state) {
    Records& b = batches[next];
    state.PauseTiming();
    const std::uint64_t base = round << 32;  // a fresh ID space per pass over the batches
    for (auto& r : b.calls) {
      r.id.seq = (r.id.seq & 0xFFFF'FFFFu) | base;
    }
    for (auto& r : b.states) {
      r.id.seq = (r.id.seq & 0xFFFF'FFFFu) | base;
    }
    for (auto& r : b.queue_intervals) {
      r.id.seq = (r.id.seq & 0xFFFF'FFFFu) | base;
    }
    for (auto& r : b.agent_intervals) {
      r.id.seq = (r.id.seq & 0xFFFF'FFFFu) | base;
    }
    state.ResumeTiming();
    if (!store->write(b, base + next, why)) {
      state.SkipWithError(why.c_str());
      break;
    }
    written += b.size();
    if (++next == batches.size()) {
      next = 0;
      ++round;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(written));
  state.counters["calls_share"] =
      static_cast<double>(all.calls.size()) / static_cast<double>(all.size());
  state.counters["wal_restarts"] =
      static_cast<double>(wal_restarts(dir + "/h.db-wal") - restarts_before);
  std::error_code ec;
  state.counters["db_MiB"] =
      static_cast<double>(std::filesystem::file_size(dir + "/h.db", ec)) / (1024.0 * 1024.0);
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreIngest)
    ->Args({100, 0})
    ->Args({1000, 0})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond);
// The same, long: 2,000,000 records per run (about ten passes over the log's records), timed in
// real (wall-clock) time, so that fsync waits and many WAL checkpoints fall inside the timing.
// items_per_second is records per wall-clock second.
constexpr std::int64_t kLongRecords = 2'000'000;
const bool kLongRegistered = [] {
  for (const auto& [batch, durable] : {std::pair<std::int64_t, std::int64_t>{1000, 0},
                                       {10000, 0},
                                       {10000, 1}}) {
    benchmark::RegisterBenchmark("BM_StoreIngestLong", BM_StoreIngest)
        ->Args({batch, durable})
        ->Iterations(kLongRecords / batch)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

// A one-day report (`acdctl report agents` and `report queues` over 24 h): the store holds one
// day of 15-minute intervals (96) for `agents` agents and 100 queues, written beforehand. Timed,
// in wall-clock time: opening the file read-only, reading the day's agent and queue intervals and
// summing them per agent and per queue into the report's measures, as acdctl does (without its
// table printing). arg: agents.
void BM_ReportOneDay(benchmark::State& state) {
  using acd::history::AgentInterval;
  using acd::history::QueueInterval;
  constexpr acd::router::Micros kInterval = 15ull * 60 * 1'000'000;
  constexpr std::uint32_t kIntervals = 96;
  constexpr std::uint32_t kQueues = 100;
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const std::string dir = "/tmp/acd-history-report-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string why;
  {
    auto store = Store::open({dir + "/h.db", false}, why);
    if (!store) {
      state.SkipWithError(why.c_str());
      return;
    }
    std::uint64_t seq = 0;
    for (std::uint32_t i = 0; i < kIntervals; ++i) {
      Records r;  // one interval's rows, one transaction, as the history thread commits them
      ++seq;
      std::uint32_t index = 0;
      for (std::uint32_t a = 0; a < agents; ++a) {
        AgentInterval ai;
        ai.id = {seq, index++};
        ai.start = i * kInterval;
        ai.agent = a;
        ai.handled = 3 + (a + i) % 7;
        ai.talk_us = ai.handled * 180'000'000ull;
        ai.wrap_us = ai.handled * 20'000'000ull;
        ai.state_us[2] = kInterval / 2;
        ai.state_us[3] = kInterval / 2;
        r.agent_intervals.push_back(ai);
      }
      for (std::uint32_t q = 0; q < kQueues; ++q) {
        QueueInterval qi;
        qi.id = {seq, index++};
        qi.start = i * kInterval;
        qi.queue = q;
        qi.offered = 60 + q % 20;
        qi.answered = qi.offered - 3;
        qi.answered_in_sl = qi.answered - 5;
        qi.abandoned = 3;
        qi.handled = qi.answered;
        qi.wait_answered_us = qi.answered * 12'000'000ull;
        qi.talk_us = qi.handled * 180'000'000ull;
        r.queue_intervals.push_back(qi);
      }
      if (!store->write(r, seq, why)) {
        state.SkipWithError(why.c_str());
        return;
      }
    }
  }
  std::size_t rows = 0;
  for (auto _ : state) {
    auto store = Store::open_read_only(dir + "/h.db", why);
    std::vector<AgentInterval> agent_sums;
    std::vector<QueueInterval> queue_sums;
    if (!store || !store->agent_totals(0, kIntervals * kInterval, std::nullopt, agent_sums, why) ||
        !store->queue_totals(0, kIntervals * kInterval, std::nullopt, queue_sums, why)) {
      state.SkipWithError(why.c_str());
      break;
    }
    double total = 0;
    for (const auto& sum : agent_sums) {
      total += static_cast<double>(acd::history::measures(sum).handled);
    }
    for (const auto& sum : queue_sums) {
      total += static_cast<double>(acd::history::measures(sum).offered);
    }
    benchmark::DoNotOptimize(total);
    rows = agent_sums.size() + queue_sums.size();
  }
  state.counters["totals"] = static_cast<double>(rows);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReportOneDay)->Arg(10'000)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

// The history thread's checkpoint at large agent counts: the blob written today (the follower
// engine's snapshot and the deriver's state, each length-prefixed) beside a compact one (only the
// deriver's state: the engine would come from the journal's snapshot at the same seq, which now
// carries the deriver's state too). Timed: saving the parts and committing them with Store::write
// (no records, synchronous=NORMAL), as the history thread does every checkpoint_every_s; wall time.
// The state is that after 300,000 inputs of the random stream. args: agents, compact (0/1).
void BM_Checkpoint(benchmark::State& state) {
  const auto agents = static_cast<std::uint32_t>(state.range(0));
  const bool compact = state.range(1) != 0;
  const Log log = record_log(agents, 300'000);
  Feed feed(log.config, {});
  {
    Records out;
    for (std::size_t i = 0; i < log.inputs.size(); ++i) {
      feed.apply(i + 1, log.inputs[i], out);
      if (out.size() >= 4096) {
        out.clear();
      }
    }
  }
  const std::string dir = "/tmp/acd-history-bench-cp-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string why;
  auto store = Store::open({dir + "/h.db", false}, why);
  if (!store) {
    state.SkipWithError(why.c_str());
    return;
  }
  auto put = [](std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& part) {
    for (int i = 0; i < 8; ++i) {
      out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(part.size()) >> (8 * i)));
    }
    out.insert(out.end(), part.begin(), part.end());
  };
  std::uint64_t through = log.inputs.size();
  std::size_t bytes = 0;
  std::size_t deriver_bytes = 0;
  const Records none;
  for (auto _ : state) {
    std::vector<std::uint8_t> cp;
    if (!compact) {
      put(cp, feed.engine_image());
    }
    const std::vector<std::uint8_t> d = feed.deriver_image();
    deriver_bytes = d.size();
    put(cp, d);
    bytes = cp.size();
    if (!store->write(none, ++through, cp, why)) {
      state.SkipWithError(why.c_str());
      break;
    }
  }
  state.counters["checkpoint_KiB"] = static_cast<double>(bytes) / 1024.0;
  state.counters["deriver_KiB"] = static_cast<double>(deriver_bytes) / 1024.0;
  store.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Checkpoint)
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Args({100000, 0})
    ->Args({100000, 1})
    ->Iterations(20)  // no probing: the set-up (300,000 inputs at 100,000 agents) is the long part
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
