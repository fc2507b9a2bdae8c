// The history store: records read back as written, idempotent inserts, retention, refusal of
// files it cannot use, and a writer killed with SIGKILL mid-stream that leaves an intact prefix
// which re-derivation completes to the same contents as an uninterrupted run.
#include "acd/history/store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "../router/random_stream.hpp"
#include "acd/history/feed.hpp"

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

}  // namespace
}  // namespace acd::history
