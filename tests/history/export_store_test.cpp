// The store read as an export's back-log: every record the Store wrote comes back, field for
// field, in ID order across the four tables, from any ID on; the position is kept, survives a
// reopen and is never lowered; the record JSON and keys follow docs/kafka.md.
#include "acd/history/export_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../router/random_stream.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/record_json.hpp"
#include "acd/history/store.hpp"

namespace acd::history {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/acd-export-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The records of a seeded random stream, written to `store` in batches of `batch` inputs.
Records derive_into(Store& store, std::uint64_t seed, std::uint64_t inputs, std::uint64_t batch) {
  const router::EngineConfig config = router::testing::random_domain(seed);
  Feed feed(config, {});
  router::testing::StreamGenerator gen(seed, config);
  Records all;
  Records out;
  std::string why;
  for (std::uint64_t seq = 1; seq <= inputs; ++seq) {
    const router::Event e = gen.next(feed.engine());
    EXPECT_TRUE(feed.apply(seq, e, out));
    if (seq % 64 == 0) {
      gen.forget_gone(feed.engine());
    }
    if (seq % batch == 0 || seq == inputs) {
      EXPECT_TRUE(store.write(out, seq, why)) << why;
      all.calls.insert(all.calls.end(), out.calls.begin(), out.calls.end());
      all.states.insert(all.states.end(), out.states.begin(), out.states.end());
      all.queue_intervals.insert(all.queue_intervals.end(), out.queue_intervals.begin(),
                                 out.queue_intervals.end());
      all.agent_intervals.insert(all.agent_intervals.end(), out.agent_intervals.begin(),
                                 out.agent_intervals.end());
      out.clear();
    }
  }
  return all;
}

template <class T>
std::vector<RecordId> ids(const std::vector<T>& v) {
  std::vector<RecordId> out;
  for (const T& r : v) {
    out.push_back(r.id);
  }
  return out;
}

// Read in small chunks, resuming after the last ID read, the back-log is exactly the store's
// records; the chunks hold the smallest IDs first.
TEST(ExportStore, ReadsBackEveryRecordInIdOrder) {
  TempDir dir;
  std::string why;
  auto store = Store::open({dir.file("h.db")}, why);
  ASSERT_TRUE(store) << why;
  const Records want = derive_into(*store, 11, 6'000, 500);
  ASSERT_GT(want.calls.size(), 300u);
  ASSERT_GT(want.states.size(), 300u);
  ASSERT_GT(want.queue_intervals.size(), 10u);
  ASSERT_GT(want.agent_intervals.size(), 10u);

  auto exp = ExportStore::open(dir.file("h.db"), "kafka", why);
  ASSERT_TRUE(exp) << why;
  EXPECT_EQ(exp->position(), RecordId{});
  std::uint64_t n = 0;
  ASSERT_TRUE(exp->count({}, n, why)) << why;
  EXPECT_EQ(n, want.size());

  Records got;
  RecordId from{};
  std::size_t chunks = 0;
  for (;;) {
    Records chunk;
    ASSERT_TRUE(exp->read(from, 97, chunk, why)) << why;
    ASSERT_LE(chunk.size(), 97u);
    if (chunk.size() == 0) {
      break;
    }
    ++chunks;
    RecordId last{};
    for (const auto& v : {ids(chunk.calls), ids(chunk.states), ids(chunk.queue_intervals),
                          ids(chunk.agent_intervals)}) {
      for (const RecordId id : v) {
        EXPECT_GE(id, from);
        last = std::max(last, id);
      }
    }
    // Nothing left out below the chunk's last ID.
    std::uint64_t below = 0;
    std::uint64_t at_from = 0;
    ASSERT_TRUE(exp->count(from, at_from, why));
    ASSERT_TRUE(exp->count(RecordId{last.seq, last.index + 1}, below, why));
    EXPECT_EQ(at_from - below, chunk.size());
    got.calls.insert(got.calls.end(), chunk.calls.begin(), chunk.calls.end());
    got.states.insert(got.states.end(), chunk.states.begin(), chunk.states.end());
    got.queue_intervals.insert(got.queue_intervals.end(), chunk.queue_intervals.begin(),
                               chunk.queue_intervals.end());
    got.agent_intervals.insert(got.agent_intervals.end(), chunk.agent_intervals.begin(),
                               chunk.agent_intervals.end());
    from = RecordId{last.seq, last.index + 1};
  }
  EXPECT_GT(chunks, 10u);
  EXPECT_EQ(got.calls, want.calls);
  EXPECT_EQ(got.states, want.states);
  EXPECT_EQ(got.queue_intervals, want.queue_intervals);
  EXPECT_EQ(got.agent_intervals, want.agent_intervals);
}

// The position is saved, read again after a reopen, and never lowered; a database the Store has
// not set up is refused with a message.
TEST(ExportStore, PositionIsKeptAndNeverLowered) {
  TempDir dir;
  std::string why;
  EXPECT_FALSE(ExportStore::open(dir.file("h.db"), "kafka", why));
  EXPECT_NE(why.find("h.db"), std::string::npos) << why;
  std::ofstream(dir.file("h.db")).flush();  // an empty file: a database without the tables
  EXPECT_FALSE(ExportStore::open(dir.file("h.db"), "kafka", why));
  EXPECT_NE(why.find("open the history store first"), std::string::npos) << why;
  {
    auto store = Store::open({dir.file("h.db")}, why);
    ASSERT_TRUE(store) << why;
  }
  {
    auto exp = ExportStore::open(dir.file("h.db"), "kafka", why);
    ASSERT_TRUE(exp) << why;
    // A second connection that read the position earlier (a stale one) cannot lower it.
    auto stale = ExportStore::open(dir.file("h.db"), "kafka", why);
    ASSERT_TRUE(stale) << why;
    ASSERT_TRUE(exp->save_position({40, 2}, why)) << why;
    ASSERT_TRUE(exp->save_position({39, 7}, why)) << why;
    EXPECT_EQ(exp->position(), (RecordId{40, 2}));
    ASSERT_TRUE(stale->save_position({39, 7}, why)) << why;
  }
  auto exp = ExportStore::open(dir.file("h.db"), "kafka", why);
  ASSERT_TRUE(exp) << why;
  EXPECT_EQ(exp->position(), (RecordId{40, 2}));
  auto other = ExportStore::open(dir.file("h.db"), "other", why);
  ASSERT_TRUE(other) << why;
  EXPECT_EQ(other->position(), RecordId{});
}

// Keys are "SEQ/INDEX" both ways; JSON carries the schema version, the kind, the ID, and null
// for what is absent.
TEST(RecordJson, KeysAndFields) {
  EXPECT_EQ(record_key({123, 4}), "123/4");
  EXPECT_EQ(parse_record_key("123/4"), (RecordId{123, 4}));
  for (const char* bad : {"", "1", "1/", "/2", "1/2/3", "a/1", "1/x", "1 /2"}) {
    EXPECT_FALSE(parse_record_key(bad)) << bad;
  }
  CallDetail c;
  c.id = {77, 1};
  c.call = 5;
  c.outcome = CallOutcome::AbandonedQueued;
  c.first_queue = 2;
  c.path.push_back(PathStep{10, 2, router::kNone, router::kNone, StepKind::Arrival});
  const auto j = nlohmann::json::parse(to_json(c));
  EXPECT_EQ(j["schema"], kExportSchemaVersion);
  EXPECT_EQ(j["kind"], "call");
  EXPECT_EQ(j["seq"], 77);
  EXPECT_EQ(j["index"], 1);
  EXPECT_EQ(j["outcome"], "abandoned_queued");
  EXPECT_EQ(j["first_queue"], 2);
  EXPECT_TRUE(j["first_agent"].is_null());
  EXPECT_TRUE(j["answered"].is_null());
  EXPECT_TRUE(j["overflow_action"].is_null());
  EXPECT_EQ(j["path"][0]["step"], "arrival");
  EXPECT_TRUE(j["path"][0]["agent"].is_null());

  AgentStateRecord s;
  s.id = {9, 0};
  s.state = router::AgentState::NotReady;
  s.reason = 4;
  const auto js = nlohmann::json::parse(to_json(s));
  EXPECT_EQ(js["kind"], "agent_state");
  EXPECT_EQ(js["state"], "NotReady");
  EXPECT_EQ(js["reason"], 4);
  AgentInterval a;
  a.state_us[static_cast<int>(router::AgentState::Ready)] = 60;
  const auto ja = nlohmann::json::parse(to_json(a));
  EXPECT_EQ(ja["state_us"]["Ready"], 60);
  EXPECT_EQ(ja["not_ready_us"].size(), static_cast<std::size_t>(router::kNotReadyReasons));
  EXPECT_EQ(nlohmann::json::parse(to_json(QueueInterval{}))["kind"], "queue_interval");
}

}  // namespace
}  // namespace acd::history
