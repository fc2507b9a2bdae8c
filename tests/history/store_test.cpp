// The history store: records read back as written, idempotent inserts, retention, refusal of
// files it cannot use, and a writer killed with SIGKILL mid-stream that leaves an intact prefix
// which re-derivation completes to the same contents as an uninterrupted run.
#include "acd/history/store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "../router/random_stream.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/measures.hpp"

namespace acd::history {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/acd-history-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Derives the records of a seeded random stream, `inputs` long, in batches: `on_batch(records,
// through)` after every `batch` inputs and at the end (the records of that batch only).
template <class OnBatch>
void derive(std::uint64_t seed, std::uint64_t inputs, std::uint64_t batch, OnBatch on_batch) {
  const router::EngineConfig config = router::testing::random_domain(seed);
  Feed feed(config, {});
  router::testing::StreamGenerator gen(seed, config);
  Records out;
  for (std::uint64_t seq = 1; seq <= inputs; ++seq) {
    const router::Event e = gen.next(feed.engine());
    EXPECT_TRUE(feed.apply(seq, e, out));
    if (seq % 64 == 0) {
      gen.forget_gone(feed.engine());
    }
    if (seq % batch == 0 || seq == inputs) {
      if (!on_batch(out, seq)) {
        return;
      }
      out.clear();
    }
  }
}

Records all_records(std::uint64_t seed, std::uint64_t inputs) {
  Records all;
  derive(seed, inputs, 1000, [&](const Records& r, std::uint64_t) {
    all.calls.insert(all.calls.end(), r.calls.begin(), r.calls.end());
    all.states.insert(all.states.end(), r.states.begin(), r.states.end());
    all.queue_intervals.insert(all.queue_intervals.end(), r.queue_intervals.begin(),
                               r.queue_intervals.end());
    all.agent_intervals.insert(all.agent_intervals.end(), r.agent_intervals.begin(),
                               r.agent_intervals.end());
    return true;
  });
  return all;
}

Records read_all(Store& store) {
  Records r;
  std::string why;
  const Micros end = ~Micros{0} >> 1;
  EXPECT_TRUE(store.calls(0, end, r.calls, why)) << why;
  EXPECT_TRUE(store.agent_states(0, end, r.states, why)) << why;
  EXPECT_TRUE(store.queue_intervals(0, end, r.queue_intervals, why)) << why;
  EXPECT_TRUE(store.agent_intervals(0, end, r.agent_intervals, why)) << why;
  return r;
}

// Every record keeps the fields it had when read back in ID order, whatever the batching.
TEST(HistoryStore, RoundTrip) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  EXPECT_EQ(store->last_seq(), 0u);
  derive(5, 20'000, 777, [&](const Records& r, std::uint64_t through) {
    EXPECT_TRUE(store->write(r, through, why)) << why;
    return true;
  });
  EXPECT_EQ(store->last_seq(), 20'000u);
  const Records want = all_records(5, 20'000);
  ASSERT_GT(want.calls.size(), 1000u);
  const Records got = read_all(*store);
  EXPECT_EQ(got.calls, want.calls);
  EXPECT_EQ(got.states, want.states);
  EXPECT_EQ(got.queue_intervals, want.queue_intervals);
  EXPECT_EQ(got.agent_intervals, want.agent_intervals);
  // Reopened: the same last seq.
  store.reset();
  store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  EXPECT_EQ(store->last_seq(), 20'000u);
}

// Writing the same records again changes nothing, and last_seq never goes back.
TEST(HistoryStore, InsertIsIdempotent) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  const Records r = all_records(6, 5'000);
  ASSERT_TRUE(store->write(r, 5'000, why)) << why;
  ASSERT_TRUE(store->write(r, 4'000, why)) << why;
  EXPECT_EQ(store->last_seq(), 5'000u);
  const Records got = read_all(*store);
  EXPECT_EQ(got.calls.size(), r.calls.size());
  EXPECT_EQ(got.states.size(), r.states.size());
  EXPECT_EQ(got.queue_intervals.size(), r.queue_intervals.size());
}

// A checkpoint commits with its records (replaced by the next), a call is found by its ID with
// its whole path, counts match the reads, and a read-only store refuses to write.
TEST(HistoryStore, CheckpointLookupAndReadOnly) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  std::uint64_t seq = 7;
  std::vector<std::uint8_t> state{1};
  ASSERT_TRUE(store->load_checkpoint(seq, state, why)) << why;
  EXPECT_EQ(seq, 0u);
  EXPECT_TRUE(state.empty());
  const Records r = all_records(8, 5'000);
  ASSERT_TRUE(store->write(r, 5'000, std::vector<std::uint8_t>{9, 8, 7}, why)) << why;
  ASSERT_TRUE(store->write(Records{}, 5'100, std::vector<std::uint8_t>{1, 2}, why)) << why;
  ASSERT_TRUE(store->write(Records{}, 5'200, why)) << why;  // no checkpoint: the last one stays
  ASSERT_TRUE(store->load_checkpoint(seq, state, why)) << why;
  EXPECT_EQ(seq, 5'100u);
  EXPECT_EQ(state, (std::vector<std::uint8_t>{1, 2}));

  ASSERT_FALSE(r.calls.empty());
  const CallDetail& want = r.calls[r.calls.size() / 2];
  std::vector<CallDetail> found;
  ASSERT_TRUE(store->call_by_id(want.call, found, why)) << why;
  ASSERT_FALSE(found.empty());
  bool same = false;
  for (const CallDetail& c : found) {
    EXPECT_EQ(c.call, want.call);
    same = same || c == want;
  }
  EXPECT_TRUE(same);
  std::uint64_t n = 0;
  const Micros end = ~Micros{0} >> 1;
  ASSERT_TRUE(store->count(RecordTable::Call, 0, end, n, why)) << why;
  EXPECT_EQ(n, r.calls.size());
  ASSERT_TRUE(store->count(RecordTable::AgentInterval, 0, end, n, why)) << why;
  EXPECT_EQ(n, r.agent_intervals.size());

  store.reset();
  auto reader = Store::open_read_only(dir.file("h.db"), why);
  ASSERT_TRUE(reader) << why;
  EXPECT_EQ(reader->last_seq(), 5'200u);
  EXPECT_FALSE(reader->write(r, 6'000, why));
  EXPECT_EQ(read_all(*reader).calls, r.calls);
  EXPECT_FALSE(Store::open_read_only(dir.file("missing.db"), why));
  EXPECT_NE(why.find("missing.db"), std::string::npos);
}

// The report reads: interval rows of a period, one at a time and summed per queue and per agent,
// equal a reference computed from the records written, over periods whose bounds fall on, just
// before and just after interval starts, with and without a queue or agent filter. Some rows are
// written out of time order (a later seq with an earlier start), which the deriver never does, so
// the reads are exact whatever the order of the rows.
TEST(HistoryStore, IntervalReadsAndTotalsEqualAReference) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  Records all = all_records(11, 30'000);
  ASSERT_GT(all.queue_intervals.size(), 50u);
  ASSERT_GT(all.agent_intervals.size(), 50u);
  ASSERT_TRUE(store->write(all, 30'000, why)) << why;
  std::vector<Micros> starts;
  for (const auto& r : all.queue_intervals) {
    starts.push_back(r.start);
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  ASSERT_GE(starts.size(), 4u);
  {
    Records late;  // rows of a later seq whose start is the second and the first interval's
    QueueInterval q = all.queue_intervals.front();
    q.id = {40'000, 0};
    q.start = starts[1];
    q.offered = 7;
    late.queue_intervals.push_back(q);
    AgentInterval a = all.agent_intervals.front();
    a.id = {40'000, 1};
    a.start = starts[0];
    a.handled = 5;
    late.agent_intervals.push_back(a);
    ASSERT_TRUE(store->write(late, 40'000, why)) << why;
    all.queue_intervals.push_back(q);
    all.agent_intervals.push_back(a);
  }
  store.reset();
  store = Store::open_read_only(dir.file("h.db"), why);
  ASSERT_TRUE(store) << why;

  auto in = [](Micros t, Micros from, Micros to) { return t >= from && t < to; };
  std::vector<std::pair<Micros, Micros>> periods = {{0, ~Micros{0} >> 1}};
  for (std::size_t i = 0; i + 2 < starts.size(); i += 1 + starts.size() / 5) {
    periods.push_back({starts[i], starts[i + 2]});
    periods.push_back({starts[i] + 1, starts[i + 2] + 1});
    if (starts[i] > 0) {
      periods.push_back({starts[i] - 1, starts[i + 1] - 1});
    }
    periods.push_back({starts[i], starts[i] + 1});
  }
  periods.push_back({starts.back() + 1, starts.back() + 2});  // nothing in it
  for (const auto& [from, to] : periods) {
    SCOPED_TRACE("period [" + std::to_string(from) + ", " + std::to_string(to) + ")");
    std::vector<QueueInterval> want_q;
    std::map<QueueIndex, QueueInterval> want_qsum;
    for (const auto& r : all.queue_intervals) {
      if (in(r.start, from, to)) {
        want_q.push_back(r);
        add(want_qsum[r.queue], r);
      }
    }
    std::vector<AgentInterval> want_a;
    std::map<AgentIndex, AgentInterval> want_asum;
    for (const auto& r : all.agent_intervals) {
      if (in(r.start, from, to)) {
        want_a.push_back(r);
        add(want_asum[r.agent], r);
      }
    }
    auto by_id = [](const auto& x, const auto& y) {
      return std::tie(x.id.seq, x.id.index) < std::tie(y.id.seq, y.id.index);
    };
    std::sort(want_q.begin(), want_q.end(), by_id);
    std::sort(want_a.begin(), want_a.end(), by_id);
    std::vector<QueueInterval> got_q;
    std::vector<AgentInterval> got_a;
    ASSERT_TRUE(store->queue_intervals(from, to, got_q, why)) << why;
    ASSERT_TRUE(store->agent_intervals(from, to, got_a, why)) << why;
    EXPECT_EQ(got_q, want_q);
    EXPECT_EQ(got_a, want_a);

    std::vector<QueueInterval> want_qt;
    for (auto [queue, sum] : want_qsum) {
      sum.queue = queue;
      want_qt.push_back(sum);
    }
    std::vector<AgentInterval> want_at;
    for (auto [agent, sum] : want_asum) {
      sum.agent = agent;
      want_at.push_back(sum);
    }
    std::vector<QueueInterval> got_qt;
    std::vector<AgentInterval> got_at;
    ASSERT_TRUE(store->queue_totals(from, to, std::nullopt, got_qt, why)) << why;
    ASSERT_TRUE(store->agent_totals(from, to, std::nullopt, got_at, why)) << why;
    EXPECT_EQ(got_qt, want_qt);
    EXPECT_EQ(got_at, want_at);
    // One queue, one agent: the reference's sum for it alone (or nothing).
    for (const QueueIndex queue : {QueueIndex{0}, QueueIndex{2}}) {
      std::vector<QueueInterval> one;
      ASSERT_TRUE(store->queue_totals(from, to, queue, one, why)) << why;
      std::vector<QueueInterval> want_one;
      for (const auto& r : want_qt) {
        if (r.queue == queue) {
          want_one.push_back(r);
        }
      }
      EXPECT_EQ(one, want_one) << "queue " << queue;
    }
    for (const AgentIndex agent : {AgentIndex{0}, AgentIndex{3}}) {
      std::vector<AgentInterval> one;
      ASSERT_TRUE(store->agent_totals(from, to, agent, one, why)) << why;
      std::vector<AgentInterval> want_one;
      for (const auto& r : want_at) {
        if (r.agent == agent) {
          want_one.push_back(r);
        }
      }
      EXPECT_EQ(one, want_one) << "agent " << agent;
    }
  }
}

// Retention deletes exactly the records older than the cutoff.
TEST(HistoryStore, RetentionDeletesOlderRecords) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  const Records r = all_records(7, 20'000);
  ASSERT_TRUE(store->write(r, 20'000, why)) << why;
  const Micros cutoff = r.calls[r.calls.size() / 2].arrived;
  std::uint64_t want = 0;
  for (const CallDetail& c : r.calls) {
    want += c.arrived < cutoff ? 1 : 0;
  }
  for (const AgentStateRecord& s : r.states) {
    want += s.start < cutoff ? 1 : 0;
  }
  for (const QueueInterval& q : r.queue_intervals) {
    want += q.start < cutoff ? 1 : 0;
  }
  for (const AgentInterval& a : r.agent_intervals) {
    want += a.start < cutoff ? 1 : 0;
  }
  std::uint64_t deleted = 0;
  ASSERT_TRUE(store->delete_before(cutoff, deleted, why)) << why;
  EXPECT_EQ(deleted, want);
  EXPECT_GT(deleted, 0u);
  const Records left = read_all(*store);
  for (const CallDetail& c : left.calls) {
    EXPECT_GE(c.arrived, cutoff);
  }
  EXPECT_EQ(left.size(), r.size() - want);
}

// A file that is not a database, or has a newer schema, is refused with a message and left alone.
TEST(HistoryStore, RefusesFilesItCannotUse) {
  TempDir dir;
  std::string why;
  {
    std::ofstream f(dir.file("junk.db"));
    f << "this is not a database, just some text that is long enough to have a header\n";
  }
  EXPECT_FALSE(Store::open({dir.file("junk.db")}, why));
  EXPECT_NE(why.find("not a history database"), std::string::npos) << why;
  {
    auto store = Store::open({dir.file("h.db")}, why);
    ASSERT_TRUE(store) << why;
  }
  {
    // The header's user_version (offset 60, big-endian) as a newer program would leave it.
    std::fstream f(dir.file("h.db"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    const char v[4] = {0, 0, 0, 9};
    f.write(v, 4);
  }
  EXPECT_FALSE(Store::open({dir.file("h.db")}, why));
  EXPECT_NE(why.find("schema version 9"), std::string::npos) << why;
  EXPECT_FALSE(Store::open({dir.file("nosuchdir/h.db")}, why));
  EXPECT_NE(why.find("cannot open"), std::string::npos) << why;
}

// A writer killed by SIGKILL in the middle of its transactions: the database is intact and holds
// exactly the records of inputs 1..last_seq; re-deriving from there gives the contents of a run
// that was never killed.
TEST(HistoryStore, SurvivesKillDuringWrites) {
  TempDir dir;
  constexpr std::uint64_t kInputs = 60'000;
  constexpr std::uint64_t kBatch = 64;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    std::string why;
    auto store = Store::open({dir.file("h.db"), true}, why);
    if (!store) {
      _exit(2);
    }
    derive(8, kInputs, kBatch, [&](const Records& r, std::uint64_t through) {
      if (!store->write(r, through, why)) {
        _exit(3);
      }
      const ssize_t n = write(fds[1], &through, sizeof through);
      (void)n;
      return true;
    });
    _exit(0);
  }
  close(fds[1]);
  std::uint64_t through = 0;
  while (through < kInputs / 6) {
    ASSERT_EQ(read(fds[0], &through, sizeof through), static_cast<ssize_t>(sizeof through))
        << "the writer stopped early";
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer finished before it was killed";

  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  ASSERT_TRUE(store->check_integrity(why)) << why;
  const std::uint64_t last = store->last_seq();
  EXPECT_GE(last, kInputs / 6);
  EXPECT_LT(last, kInputs);
  EXPECT_EQ(last % kBatch, 0u);

  // Exactly the records closed by inputs 1..last.
  const Records want = all_records(8, kInputs);
  Records prefix;
  for (const CallDetail& c : want.calls) {
    if (c.id.seq <= last) {
      prefix.calls.push_back(c);
    }
  }
  for (const AgentStateRecord& s : want.states) {
    if (s.id.seq <= last) {
      prefix.states.push_back(s);
    }
  }
  const Records got = read_all(*store);
  EXPECT_EQ(got.calls, prefix.calls);
  EXPECT_EQ(got.states, prefix.states);

  // Re-derive from the start (the deriver is rebuilt by replay) and store what is past `last`.
  derive(8, kInputs, kBatch, [&](const Records& r, std::uint64_t upto) {
    if (upto <= last) {
      return true;
    }
    EXPECT_TRUE(store->write(r, upto, why)) << why;
    return true;
  });
  EXPECT_EQ(store->last_seq(), kInputs);
  const Records all = read_all(*store);
  EXPECT_EQ(all.calls, want.calls);
  EXPECT_EQ(all.states, want.states);
  EXPECT_EQ(all.queue_intervals, want.queue_intervals);
  EXPECT_EQ(all.agent_intervals, want.agent_intervals);
  EXPECT_TRUE(store->check_integrity(why)) << why;
}

// A takeover at a chosen seq T. The old primary's store holds the log's records through its last
// commit before it died (T - 37); the standby's holds them through T, with a checkpoint every
// 1,000 inputs. The standby takes over and its history starts again from that checkpoint: it
// derives the inputs up to T again (their records are already stored: not one row is added), then
// the inputs it routes itself. Its store holds every record of the whole log exactly once, equal
// to a one-shot derivation, and each record the old primary stored is there with the same ID and
// the same fields: a reader of both databases finds no record twice and no two versions of one.
TEST(HistoryStore, TakeoverAtAChosenSeqStoresEachRecordOnce) {
  constexpr std::uint64_t kSeed = 12;
  constexpr std::uint64_t kInputs = 12'000;
  constexpr std::uint64_t kBatch = 250;
  constexpr std::uint64_t kCheckpointEvery = 1'000;
  const router::EngineConfig config = router::testing::random_domain(kSeed);
  // The log: what the old primary routed up to T, then what the new primary routes.
  std::vector<router::Event> log;
  Records one_shot;
  {
    Feed feed(config, {});
    router::testing::StreamGenerator gen(kSeed, config);
    for (std::uint64_t seq = 1; seq <= kInputs; ++seq) {
      log.push_back(gen.next(feed.engine()));
      ASSERT_TRUE(feed.apply(seq, log.back(), one_shot));
      if (seq % 64 == 0) {
        gen.forget_gone(feed.engine());
      }
    }
  }
  ASSERT_GT(one_shot.calls.size(), 1000u);
  auto blob = [](const Feed& f) {
    const std::vector<std::uint8_t> engine = f.engine_image();
    const std::vector<std::uint8_t> deriver = f.deriver_image();
    std::vector<std::uint8_t> out(8);
    const std::uint64_t n = engine.size();
    std::memcpy(out.data(), &n, 8);
    out.insert(out.end(), engine.begin(), engine.end());
    out.insert(out.end(), deriver.begin(), deriver.end());
    return out;
  };
  // Inputs from..to into `store` in batches, a checkpoint at every multiple of `every` (0: none).
  auto run = [&](Store& store, Feed& feed, std::uint64_t from, std::uint64_t to,
                 std::uint64_t every) {
    Records out;
    std::string why;
    for (std::uint64_t seq = from; seq <= to; ++seq) {
      ASSERT_TRUE(feed.apply(seq, log[seq - 1], out));
      const bool checkpoint = every != 0 && seq % every == 0;
      if (seq % kBatch == 0 || seq == to || checkpoint) {
        const std::vector<std::uint8_t> state =
            checkpoint ? blob(feed) : std::vector<std::uint8_t>{};
        ASSERT_TRUE(store.write(out, seq, state, why)) << why;
        out.clear();
      }
    }
  };
  auto rows = [](Store& store) {
    std::uint64_t total = 0;
    std::string why;
    for (const RecordTable t : {RecordTable::Call, RecordTable::AgentState,
                                RecordTable::QueueInterval, RecordTable::AgentInterval}) {
      std::uint64_t n = 0;
      EXPECT_TRUE(store.count(t, 0, ~Micros{0} >> 1, n, why)) << why;
      total += n;
    }
    return total;
  };
  auto prefix = [](const Records& r, std::uint64_t through) {
    Records out;
    auto keep = [&](const auto& from, auto& to) {
      for (const auto& x : from) {
        if (x.id.seq <= through) {
          to.push_back(x);
        }
      }
    };
    keep(r.calls, out.calls);
    keep(r.states, out.states);
    keep(r.queue_intervals, out.queue_intervals);
    keep(r.agent_intervals, out.agent_intervals);
    return out;
  };

  for (const std::uint64_t takeover : {3'000u, 3'001u, 5'432u, 9'999u}) {
    SCOPED_TRACE(takeover);
    TempDir dir;
    std::string why;
    auto old_primary = Store::open({dir.file("a.db")}, why);
    auto standby = Store::open({dir.file("b.db")}, why);
    ASSERT_TRUE(old_primary && standby) << why;
    {
      Feed a(config, {});
      run(*old_primary, a, 1, takeover - 37, kCheckpointEvery);
      Feed b(config, {});
      run(*standby, b, 1, takeover, kCheckpointEvery);
    }
    const std::uint64_t before = rows(*standby);
    // The new primary's history starts again from its checkpoint.
    std::uint64_t at = 0;
    std::vector<std::uint8_t> state;
    ASSERT_TRUE(standby->load_checkpoint(at, state, why)) << why;
    ASSERT_EQ(at, takeover / kCheckpointEvery * kCheckpointEvery);
    std::uint64_t engine_size = 0;
    ASSERT_GE(state.size(), 8u);
    std::memcpy(&engine_size, state.data(), 8);
    ASSERT_LE(engine_size, state.size() - 8);
    const std::span<const std::uint8_t> bytes(state);
    Feed resumed(config, {});
    ASSERT_TRUE(resumed.restore(at, bytes.subspan(8, engine_size), bytes.subspan(8 + engine_size)));
    run(*standby, resumed, at + 1, takeover, kCheckpointEvery);
    EXPECT_EQ(rows(*standby), before) << "records derived again were stored twice";
    EXPECT_EQ(standby->last_seq(), takeover);
    run(*standby, resumed, takeover + 1, kInputs, kCheckpointEvery);

    const Records got = read_all(*standby);
    EXPECT_EQ(got.calls, one_shot.calls);
    EXPECT_EQ(got.states, one_shot.states);
    EXPECT_EQ(got.queue_intervals, one_shot.queue_intervals);
    EXPECT_EQ(got.agent_intervals, one_shot.agent_intervals);
    EXPECT_EQ(rows(*standby), one_shot.size());
    const Records old_rows = read_all(*old_primary);
    const Records same = prefix(got, takeover - 37);
    EXPECT_EQ(old_rows.calls, same.calls);
    EXPECT_EQ(old_rows.states, same.states);
    EXPECT_EQ(old_rows.queue_intervals, same.queue_intervals);
    EXPECT_EQ(old_rows.agent_intervals, same.agent_intervals);
    EXPECT_GT(old_rows.size(), 0u);
  }
}

// A standby begun from an image at seq 12,000 holds the records of the inputs after it; it copies
// the primary's records of inputs 1..13,000 in small chunks (reopened half way: the copy resumes
// where it stood), the 1,000 inputs it holds itself ignored by ID, and ends equal to the primary.
// A chunk for another position, one whose next position goes back, a truncated one and one with
// a row of an input outside the copy are refused and change nothing.
TEST(HistoryStore, CopiesTheRecordsBeforeAnImageInChunks) {
  TempDir dir;
  std::string why;
  auto a = Store::open({dir.file("a.db")}, why);
  auto b = Store::open({dir.file("b.db")}, why);
  ASSERT_TRUE(a && b) << why;
  const Records all = all_records(9, 20'000);
  ASSERT_TRUE(a->write(all, 20'000, why)) << why;
  Records after;
  const auto keep = [](const auto& from, auto& to) {
    for (const auto& r : from) {
      if (r.id.seq > 12'000) {
        to.push_back(r);
      }
    }
  };
  keep(all.calls, after.calls);
  keep(all.states, after.states);
  keep(all.queue_intervals, after.queue_intervals);
  keep(all.agent_intervals, after.agent_intervals);
  ASSERT_TRUE(b->write(after, 20'000, why)) << why;
  // Clock points: a's before b went live (one before a restart of a, one after), b's own first,
  // then a later one of a's. b keeps a's points before its own first.
  ASSERT_TRUE(a->note_clock(100, 1'000'100, why)) << why;
  ASSERT_TRUE(a->note_clock(3'000, 1'009'000, why)) << why;
  ASSERT_TRUE(a->note_clock(9'000, 1'015'050, why)) << why;
  ASSERT_TRUE(b->note_clock(4'000, 1'010'001, why)) << why;
  std::optional<FetchPosition> pending;
  ASSERT_TRUE(b->pending_fetch(pending, why)) << why;
  EXPECT_FALSE(pending);
  ASSERT_TRUE(b->begin_fetch(1, 13'000, why)) << why;
  ASSERT_TRUE(b->pending_fetch(pending, why)) << why;
  ASSERT_TRUE(pending);
  EXPECT_EQ(*pending, (FetchPosition{0, 1, 0, 1, 13'000}));
  std::vector<std::uint8_t> bytes;
  encode_position(*pending, bytes);
  ASSERT_EQ(bytes.size(), kFetchPositionBytes);
  FetchPosition back;
  ASSERT_TRUE(decode_position(bytes, back));
  EXPECT_EQ(back, *pending);
  bytes[32] = kFetchTables;  // no such table
  EXPECT_FALSE(decode_position(bytes, back));

  std::uint64_t chunks = 0;
  std::uint64_t imported_total = 0;
  bool refusals_tried = false;
  for (bool done = false; !done;) {
    ASSERT_TRUE(b->pending_fetch(pending, why)) << why;
    ASSERT_TRUE(pending);
    const FetchPosition at = *pending;
    std::vector<std::uint8_t> rows;
    FetchPosition next;
    ASSERT_TRUE(a->read_rows(at, 4096, rows, next, done, why)) << why;
    std::uint64_t imported = 0;
    if (!refusals_tried && chunks == 5) {
      refusals_tried = true;
      FetchPosition other = at;
      other.idx += 1;
      EXPECT_FALSE(b->import_rows(other, rows, next, done, imported, why));
      EXPECT_FALSE(b->import_rows(at, rows, at, false, imported, why));  // goes nowhere
      const std::vector<std::uint8_t> cut(rows.begin(), rows.end() - 3);
      EXPECT_FALSE(b->import_rows(at, cut, next, done, imported, why));
      FetchPosition wider = at;
      wider.through = 20'000;
      std::vector<std::uint8_t> beyond;
      FetchPosition beyond_next;
      bool beyond_done = false;
      wider.seq = 13'001;  // rows of inputs after the copy's end
      ASSERT_TRUE(a->read_rows(wider, 4096, beyond, beyond_next, beyond_done, why)) << why;
      ASSERT_FALSE(beyond.empty());
      std::vector<std::uint8_t> mixed = rows;
      mixed.insert(mixed.end(), beyond.begin(), beyond.end());
      EXPECT_FALSE(b->import_rows(at, mixed, next, done, imported, why));
      EXPECT_EQ(imported, 0u);
      ASSERT_TRUE(b->pending_fetch(pending, why)) << why;
      EXPECT_EQ(*pending, at);  // unchanged
    }
    ASSERT_TRUE(b->import_rows(at, rows, next, done, imported, why)) << why;
    imported_total += imported;
    ++chunks;
    if (chunks == 20) {  // a restart half way: the copy goes on from its saved position
      b.reset();
      b = Store::open({dir.file("b.db")}, why);
      ASSERT_TRUE(b) << why;
    }
  }
  ASSERT_TRUE(b->pending_fetch(pending, why)) << why;
  EXPECT_FALSE(pending);
  EXPECT_GT(chunks, 40u);
  const Records want = read_all(*a);
  const Records got = read_all(*b);
  EXPECT_EQ(got.calls, want.calls);
  EXPECT_EQ(got.states, want.states);
  EXPECT_EQ(got.queue_intervals, want.queue_intervals);
  EXPECT_EQ(got.agent_intervals, want.agent_intervals);
  const auto upto = [](const auto& v, std::uint64_t s) {
    return static_cast<std::uint64_t>(
        std::count_if(v.begin(), v.end(), [&](const auto& r) { return r.id.seq <= s; }));
  };
  EXPECT_EQ(imported_total, upto(all.calls, 12'000) + upto(all.states, 12'000) +
                                upto(all.queue_intervals, 12'000) +
                                upto(all.agent_intervals, 12'000));
  EXPECT_EQ(b->last_seq(), 20'000u);
  std::vector<std::pair<Micros, std::int64_t>> clock;
  ASSERT_TRUE(b->clock(clock, why)) << why;
  const std::vector<std::pair<Micros, std::int64_t>> want_clock = {
      {100, 1'000'100}, {3'000, 1'009'000}, {4'000, 1'010'001}};
  EXPECT_EQ(clock, want_clock);
}

}  // namespace
}  // namespace acd::history
