// acdd's Kafka export driven by the history thread over a real journal, against librdkafka's
// in-process mock cluster: every record the feed stores reaches its topic (polled on commits and
// while idle, closed when the feed stops); an export that cannot open is counted and never stops
// the feed.
#include "acd/control/kafka_export.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "../router/random_stream.hpp"
#include "acd/control/history_feed.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/journal.hpp"
#include "acd/history/export_store.hpp"
#include "acd/history/feed.hpp"
#include "acd/history/record_json.hpp"

namespace acd::control {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kPartitions = 2;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/acd-kafka-export-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string topic(int t) { return "t." + std::string(history::topic_suffix(history::RecordType(t))); }

// A one-broker cluster in this process with the four topics of prefix "t.".
class MockCluster {
 public:
  MockCluster() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    EXPECT_NE(host_, nullptr) << err;
    cluster_ = rd_kafka_mock_cluster_new(host_, 1);
    EXPECT_NE(cluster_, nullptr);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    for (int t = 0; t < history::kRecordTypeCount; ++t) {
      EXPECT_EQ(rd_kafka_mock_topic_create(cluster_, topic(t).c_str(), kPartitions, 1),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  const std::string& bootstraps() const { return bootstraps_; }

  // The distinct record IDs on the four topics, read until `expected` were seen (or 20 s).
  std::set<history::RecordId> read_back(std::size_t expected) const {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "check", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    EXPECT_NE(c, nullptr) << err;
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
    for (int t = 0; t < history::kRecordTypeCount; ++t) {
      for (int p = 0; p < kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(parts, topic(t).c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
      }
    }
    EXPECT_EQ(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    std::set<history::RecordId> seen;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (seen.size() < expected && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (m == nullptr) {
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const auto id = history::parse_record_key(
            std::string_view(static_cast<const char*>(m->key), m->key_len));
        EXPECT_TRUE(id);
        if (id) {
          seen.insert(*id);
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return seen;
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

// Writes `inputs` random inputs (each after a tick to its time) to a journal in `dir`; returns
// the records a one-shot derivation of them gives.
// With `position_at` (0..1), an ExportPosition record follows the inputs: the ID of the record
// at that fraction of the sorted IDs, returned in `position`.
history::Records write_journal(const std::string& dir, const ApplianceConfig& start,
                               const history::DeriverConfig& dc, int inputs,
                               std::uint64_t& last_seq, double position_at = -1,
                               history::RecordId* position = nullptr) {
  dataplane::JournalConfig jc;
  jc.dir = dir;
  jc.sync = false;
  std::string why;
  auto journal = dataplane::Journal::open(jc, 1, why);
  EXPECT_TRUE(journal) << why;
  history::Records all;
  if (!journal) {
    return all;
  }
  history::Feed reference(start.domain, dc);
  router::testing::StreamGenerator gen(7, start.domain);
  std::uint64_t seq = 0;
  auto append = [&](const router::Event& e) {
    dataplane::LogRecord r;
    r.kind = dataplane::RecordKind::Input;
    r.event = e;
    std::uint8_t buf[dataplane::kMaxLogRecord];
    const std::size_t n = dataplane::encode_record(r, buf);
    dataplane::LogRecord back;
    if (!dataplane::decode_record(std::span<const std::uint8_t>(buf, n), back)) {
      return;  // a malformed event the wire would refuse: never in a log
    }
    ++seq;
    while (!journal->append(seq, std::span<const std::uint8_t>(buf, n))) {
      ASSERT_FALSE(journal->failed()) << journal->error();
      std::this_thread::yield();
    }
    EXPECT_TRUE(reference.apply(seq, e, all));
  };
  for (int i = 0; i < inputs; ++i) {
    router::Event e = gen.next(reference.engine());
    router::Event tick;
    tick.time = e.time;
    append(tick);
    append(e);
    if (i % 64 == 0) {
      gen.forget_gone(reference.engine());
    }
  }
  if (position_at >= 0) {
    std::vector<history::RecordId> ids;
    for (const auto& r : all.calls) ids.push_back(r.id);
    for (const auto& r : all.states) ids.push_back(r.id);
    for (const auto& r : all.queue_intervals) ids.push_back(r.id);
    for (const auto& r : all.agent_intervals) ids.push_back(r.id);
    std::sort(ids.begin(), ids.end());
    EXPECT_FALSE(ids.empty());
    const history::RecordId at =
        ids[static_cast<std::size_t>(position_at * static_cast<double>(ids.size() - 1))];
    dataplane::LogRecord r;
    r.kind = dataplane::RecordKind::ExportPosition;
    r.export_position = dataplane::ExportPosition{at.seq, at.index};
    std::uint8_t buf[dataplane::kMaxLogRecord];
    const std::size_t n = dataplane::encode_record(r, buf);
    ++seq;
    while (!journal->append(seq, std::span<const std::uint8_t>(buf, n))) {
      EXPECT_FALSE(journal->failed()) << journal->error();
      std::this_thread::yield();
    }
    *position = at;
  }
  last_seq = seq;
  return all;
}

// The IDs of `records` at or above `from`.
std::set<history::RecordId> ids_from(const history::Records& records, history::RecordId from) {
  std::set<history::RecordId> out;
  auto add = [&](const auto& list) {
    for (const auto& r : list) {
      if (r.id >= from) {
        out.insert(r.id);
      }
    }
  };
  add(records.calls);
  add(records.states);
  add(records.queue_intervals);
  add(records.agent_intervals);
  return out;
}

HistoryFeedOptions options_for(const TempDir& dir, const ApplianceConfig& start,
                               const std::string& brokers) {
  HistoryFeedOptions o;
  o.journal_dir = dir.file("journal");
  o.path = dir.file("history.db");
  o.deriver.interval_us = 5ull * 60 * 1'000'000;
  o.retention_days = 0;
  o.commit_every = 5ms;
  o.commit_inputs = 500;
  o.idle_wait = 2ms;
  o.start = &start;
  o.kafka.enabled = true;
  o.kafka.brokers = {brokers};
  o.kafka.topic_prefix = "t.";
  o.kafka.message_timeout_ms = 5'000;
  o.kafka.close_timeout_ms = 5'000;
  o.kafka.properties = {{"log_level", "2"}};
  return o;
}

template <class Done>
bool wait_for(Done done, std::chrono::seconds limit = 60s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The feed stores the journal's records and the export, polled by the history thread alone
// (on commits and while idle), gets every one of them acknowledged; after the feed stops, a
// consumer finds each record's ID on the topics.
TEST(KafkaExport, TheHistoryThreadDeliversEveryStoredRecord) {
  TempDir dir;
  MockCluster cluster;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(43);
  const HistoryFeedOptions options = options_for(dir, start, cluster.bootstraps());
  std::uint64_t last = 0;
  const history::Records want =
      write_journal(options.journal_dir, start, options.deriver, 1500, last);
  ASSERT_GT(want.size(), 100u);

  KafkaExport exporter(options.kafka, options.path, 20ms);
  {
    auto feed = HistoryFeed::start(options, &exporter);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
        << feed.value()->error();
    // Delivered while the feed runs, not only at its close.
    const bool delivered = wait_for(
        [&] {
          const history::KafkaCounters* c = exporter.counters();
          return c != nullptr && c->delivered.load() >= want.size() && c->backlog.load() == 0;
        },
        30s);
    const history::KafkaCounters* c = exporter.counters();
    ASSERT_NE(c, nullptr) << "the export never opened";
    EXPECT_TRUE(delivered) << "delivered " << c->delivered.load() << " of " << want.size()
                           << ", backlog " << c->backlog.load();
    EXPECT_EQ(c->failed.load(), 0u);
    EXPECT_EQ(exporter.open_failures(), 0u);
  }
  const std::set<history::RecordId> seen = cluster.read_back(want.size());
  EXPECT_EQ(seen.size(), want.size());
  for (const history::CallDetail& r : want.calls) {
    if (!seen.contains(r.id)) {
      ADD_FAILURE() << "call record " << r.id.seq << "/" << r.id.index << " not on Kafka";
      break;
    }
  }
}

// An export that cannot open (its SASL password file is missing) is counted and tried again;
// the feed stores everything regardless.
TEST(KafkaExport, AnExportThatCannotOpenNeverStopsTheFeed) {
  TempDir dir;
  MockCluster cluster;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(44);
  HistoryFeedOptions options = options_for(dir, start, cluster.bootstraps());
  options.kafka.security = history::KafkaSecurity::SaslPlaintext;
  options.kafka.sasl_mechanism = "PLAIN";
  options.kafka.sasl_username = "acd";
  options.kafka.sasl_password_file = dir.file("missing-password");
  std::uint64_t last = 0;
  (void)write_journal(options.journal_dir, start, options.deriver, 300, last);

  KafkaExport exporter(options.kafka, options.path, 20ms, 50ms);
  {
    auto feed = HistoryFeed::start(options, &exporter);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
        << feed.value()->error();
    EXPECT_TRUE(wait_for([&] { return exporter.open_failures() >= 2; }, 10s))
        << "not tried again: " << exporter.open_failures();
    EXPECT_EQ(feed.value()->error(), "");
  }
  EXPECT_EQ(exporter.counters(), nullptr);
}

// A standby's export (following) opens nothing and keeps the position its primary logged, saved
// in the history database; activated (the node took over), it opens once history has caught up
// and sends exactly the records from that position on, then offers its own position for the log.
TEST(KafkaExport, AFollowerKeepsTheLoggedPositionAndResumesThereWhenActivated) {
  TempDir dir;
  MockCluster cluster;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(45);
  const HistoryFeedOptions options = options_for(dir, start, cluster.bootstraps());
  std::uint64_t last = 0;
  history::RecordId logged;
  const history::Records all =
      write_journal(options.journal_dir, start, options.deriver, 1500, last, 0.6, &logged);
  const std::set<history::RecordId> want = ids_from(all, logged);
  ASSERT_GT(want.size(), 50u);
  ASSERT_LT(want.size(), all.size());

  dataplane::ExportPositionChannel positions;
  KafkaExport exporter(options.kafka, options.path, 20ms);
  exporter.follow();
  exporter.set_positions(&positions, 0ms);
  {
    auto feed = HistoryFeed::start(options, &exporter);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
        << feed.value()->error();
    EXPECT_EQ(feed.value()->counter(HistoryCounter::export_positions), 1u);
    EXPECT_EQ(exporter.positions_adopted(), 1u);
    // Saved where the export will read it.
    ASSERT_TRUE(wait_for(
        [&] {
          std::string why;
          auto store = history::ExportStore::open(options.path, history::kKafkaExportName, why);
          return store != nullptr && store->position() == logged;
        },
        10s));
    std::this_thread::sleep_for(200ms);  // many idle calls: still not exporting
    EXPECT_EQ(exporter.counters(), nullptr) << "a following export opened";
    EXPECT_FALSE(exporter.exporting());
    EXPECT_TRUE(positions.take_latest().empty());

    exporter.activate();
    const bool delivered = wait_for(
        [&] {
          const history::KafkaCounters* c = exporter.counters();
          return c != nullptr && c->delivered.load() >= want.size() && c->backlog.load() == 0;
        },
        30s);
    const history::KafkaCounters* c = exporter.counters();
    ASSERT_NE(c, nullptr) << "the activated export never opened";
    EXPECT_TRUE(delivered) << "delivered " << c->delivered.load() << " of " << want.size();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(c->delivered.load(), want.size()) << "records below the logged position were sent";
    // Its own position, offered for the log: past every record.
    const dataplane::ExportPosition offered = positions.take_latest();
    EXPECT_GT(offered, (dataplane::ExportPosition{logged.seq, logged.index}));
    EXPECT_EQ(offered.seq, c->position_seq.load());
  }
  const std::set<history::RecordId> seen = cluster.read_back(want.size());
  EXPECT_EQ(seen, want);
}

// An activated export whose history thread never catches up (it commits, never idles: the
// journal grows faster than it is read) does not wait for it forever: after catch_up_timeout it
// opens from the position it holds, says so, counts it, and delivers every stored record.
TEST(KafkaExport, TheWaitForHistoryToCatchUpIsBounded) {
  TempDir dir;
  MockCluster cluster;
  ApplianceConfig start;
  start.domain = router::testing::random_domain(46);
  const HistoryFeedOptions options = options_for(dir, start, cluster.bootstraps());
  std::uint64_t last = 0;
  const history::Records want =
      write_journal(options.journal_dir, start, options.deriver, 600, last);
  ASSERT_GT(want.size(), 50u);
  {  // the records stored, without an export
    auto feed = HistoryFeed::start(options);
    ASSERT_TRUE(feed.ok()) << feed.failure().message;
    ASSERT_TRUE(wait_for([&] { return feed.value()->stored_seq() >= last; }))
        << feed.value()->error();
  }

  KafkaExport exporter(options.kafka, options.path, 20ms, 50ms, 400ms);
  exporter.follow();
  // Driven as a history thread that is always behind: commits, never on_idle.
  const history::Records none;
  auto commit_for = [&](std::chrono::milliseconds span) {
    const auto until = std::chrono::steady_clock::now() + span;
    while (std::chrono::steady_clock::now() < until) {
      exporter.on_committed(none, last);
      std::this_thread::sleep_for(5ms);
    }
  };
  commit_for(100ms);
  EXPECT_FALSE(exporter.waiting_for_history()) << "not activated yet";
  const auto activated = std::chrono::steady_clock::now();
  exporter.activate();
  EXPECT_TRUE(exporter.waiting_for_history());
  commit_for(250ms);
  EXPECT_EQ(exporter.counters(), nullptr) << "opened before the timeout without catching up";
  EXPECT_EQ(exporter.catch_up_timeouts(), 0u);
  EXPECT_TRUE(exporter.waiting_for_history());

  const auto opened_by = activated + 5s;
  while (exporter.counters() == nullptr && std::chrono::steady_clock::now() < opened_by) {
    exporter.on_committed(none, last);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_NE(exporter.counters(), nullptr) << "the export waited for history without a bound";
  EXPECT_GE(std::chrono::steady_clock::now() - activated, 400ms);
  EXPECT_EQ(exporter.catch_up_timeouts(), 1u);
  EXPECT_FALSE(exporter.waiting_for_history());
  const history::KafkaCounters* c = exporter.counters();
  const auto until = std::chrono::steady_clock::now() + 30s;
  while ((c->delivered.load() < want.size() || c->backlog.load() != 0) &&
         std::chrono::steady_clock::now() < until) {
    exporter.on_committed(none, last);
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(c->delivered.load(), want.size());
  exporter.on_stop();
  EXPECT_EQ(exporter.catch_up_timeouts(), 1u);
  EXPECT_EQ(cluster.read_back(want.size()).size(), want.size());
}

}  // namespace
}  // namespace acd::control
