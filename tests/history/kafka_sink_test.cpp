// The Kafka export against librdkafka's mock cluster (a real Kafka protocol peer in-process):
// every record is delivered and read back by a consumer with its ID; a broker down for longer
// than the send timeout loses nothing; a restart resumes from the saved position (records
// before it are not sent again); a crash with a refused send pending loses nothing; a position
// learned from elsewhere is adopted, never lowered.
#include "acd/history/kafka_sink.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "acd/history/store.hpp"

namespace acd::history {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kPartitions = 2;
constexpr std::int16_t kProduceApi = 0;          // Kafka protocol API keys: Produce,
constexpr std::int16_t kInitProducerIdApi = 22;  // InitProducerId

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/acd-kafka-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A one-broker Kafka cluster in this process, with the four topics of prefix "t.".
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
    for (int t = 0; t < kRecordTypeCount; ++t) {
      const std::string name = "t." + std::string(topic_suffix(RecordType(t)));
      EXPECT_EQ(rd_kafka_mock_topic_create(cluster_, name.c_str(), kPartitions, 1),
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
  // The next `n` requests of Kafka API `api` fail with `err`.
  void refuse(std::int16_t api, int n, rd_kafka_resp_err_t err) {
    std::vector<rd_kafka_resp_err_t> errs(static_cast<std::size_t>(n), err);
    rd_kafka_mock_push_request_errors_array(cluster_, api, errs.size(), errs.data());
  }
  void down() { rd_kafka_mock_broker_set_down(cluster_, 1); }
  void up() { rd_kafka_mock_broker_set_up(cluster_, 1); }
  // The next `n` Produce requests fail with a non-retriable error.
  void refuse_produce(int n) {
    std::vector<rd_kafka_resp_err_t> errs(static_cast<std::size_t>(n),
                                          RD_KAFKA_RESP_ERR_INVALID_RECORD);
    rd_kafka_mock_push_request_errors_array(cluster_, kProduceApi, errs.size(), errs.data());
  }

  // Every message of the four topics: ID -> how many times it was read. Checks each message's
  // key, its JSON ID and schema version, and that its kind matches its topic. Reads until
  // `expected` distinct IDs were seen and every partition is at its end (or 20 s passed).
  std::map<RecordId, int> read_back(std::size_t expected) const {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "check", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    EXPECT_NE(c, nullptr) << err;
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
    for (int t = 0; t < kRecordTypeCount; ++t) {
      const std::string name = "t." + std::string(topic_suffix(RecordType(t)));
      for (int p = 0; p < kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(parts, name.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
      }
    }
    EXPECT_EQ(rd_kafka_assign(c, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    std::map<RecordId, int> seen;
    std::map<std::string, bool> at_end;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (m == nullptr) {
        continue;
      }
      const std::string where =
          std::string(rd_kafka_topic_name(m->rkt)) + "/" + std::to_string(m->partition);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        at_end[where] = true;
      } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        at_end[where] = false;
        const auto id =
            parse_record_key(std::string_view(static_cast<const char*>(m->key), m->key_len));
        EXPECT_TRUE(id) << "a message without a record key in " << where;
        const auto j = nlohmann::json::parse(static_cast<const char*>(m->payload),
                                             static_cast<const char*>(m->payload) + m->len);
        if (id) {
          ++seen[*id];
          EXPECT_EQ(j["seq"], id->seq);
          EXPECT_EQ(j["index"], id->index);
        }
        EXPECT_EQ(j["schema"], kExportSchemaVersion);
        const std::string topic = rd_kafka_topic_name(m->rkt);
        EXPECT_EQ(topic, "t." + std::string(topic_suffix(type_of(j["kind"]))));
      }
      rd_kafka_message_destroy(m);
      const bool ends =
          at_end.size() == kRecordTypeCount * kPartitions &&
          std::all_of(at_end.begin(), at_end.end(), [](const auto& kv) { return kv.second; });
      if (seen.size() >= expected && ends) {
        break;
      }
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return seen;
  }

 private:
  static RecordType type_of(const std::string& kind) {
    for (int t = 0; t < kRecordTypeCount; ++t) {
      if (kind_name(RecordType(t)) == kind) {
        return RecordType(t);
      }
    }
    ADD_FAILURE() << "unknown kind " << kind;
    return RecordType::Call;
  }

  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

// Records of inputs [first, last]: a call of each input, an agent state of every second, and a
// queue and an agent interval of every tenth, with IDs as the deriver gives them.
Records records(std::uint64_t first, std::uint64_t last) {
  Records r;
  for (std::uint64_t seq = first; seq <= last; ++seq) {
    std::uint32_t index = 0;
    CallDetail& c = r.calls.emplace_back();
    c.id = {seq, index++};
    c.call = seq;
    c.arrived = seq * 1000;
    c.ended = seq * 1000 + 500;
    c.first_queue = c.last_queue = static_cast<QueueIndex>(seq % 3);
    c.path.push_back(
        PathStep{c.arrived, c.first_queue, router::kNone, router::kNone, StepKind::Arrival});
    if (seq % 2 == 0) {
      AgentStateRecord& s = r.states.emplace_back();
      s.id = {seq, index++};
      s.agent = static_cast<AgentIndex>(seq % 5);
      s.state = router::AgentState::Ready;
      s.start = seq * 900;
      s.end = seq * 1000;
    }
    if (seq % 10 == 0) {
      QueueInterval& q = r.queue_intervals.emplace_back();
      q.id = {seq, index++};
      q.start = seq * 1000;
      q.offered = 3;
      AgentInterval& a = r.agent_intervals.emplace_back();
      a.id = {seq, index++};
      a.start = seq * 1000;
      a.handled = 1;
    }
  }
  return r;
}

std::vector<RecordId> all_ids(const Records& r) {
  std::vector<RecordId> v;
  for (const auto& c : r.calls) {
    v.push_back(c.id);
  }
  for (const auto& s : r.states) {
    v.push_back(s.id);
  }
  for (const auto& q : r.queue_intervals) {
    v.push_back(q.id);
  }
  for (const auto& a : r.agent_intervals) {
    v.push_back(a.id);
  }
  std::sort(v.begin(), v.end());
  return v;
}

RecordId end_of(std::uint64_t last) {
  return RecordId{last, static_cast<std::uint32_t>(records(last, last).size())};
}

class KafkaSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    store_ = Store::open({dir_.file("h.db")}, why);
    ASSERT_TRUE(store_) << why;
    config_.enabled = true;
    config_.brokers = {cluster_.bootstraps()};
    config_.topic_prefix = "t.";
    config_.client_id = "acd-test";
    config_.message_timeout_ms = 1'000;
    config_.socket_timeout_ms = 500;
    config_.resend_backoff_ms = 50;
    config_.close_timeout_ms = 5'000;
    config_.max_in_flight = 400;  // smaller than the back-logs below: they are read in windows
    config_.properties = {{"log_level", "2"},  // the broker going down is no news here
                          {"reconnect.backoff.ms", "50"},
                          {"reconnect.backoff.max.ms", "200"}};
  }

  // Stores the records of inputs [first, last] (as the history thread does).
  Records write(std::uint64_t first, std::uint64_t last) {
    Records r = records(first, last);
    std::string why;
    EXPECT_TRUE(store_->write(r, last, why)) << why;
    return r;
  }

  std::unique_ptr<KafkaSink> open_sink() {
    std::string why;
    auto sink = KafkaSink::open(config_, dir_.file("h.db"), why);
    EXPECT_TRUE(sink) << why;
    return sink;
  }

  // Polls every 10 ms until `done` or `limit` passed (a watchdog: the test then fails).
  static bool poll_until(KafkaSink& sink, const std::function<bool()>& done,
                         std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string why;
    while (std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(sink.poll(why)) << why;
      if (done()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // Polls for `d`, whatever happens.
  static void poll_for(KafkaSink& sink, std::chrono::milliseconds d) {
    poll_until(
        sink, [] { return false; }, d);
  }

  TempDir dir_;
  MockCluster cluster_;
  std::unique_ptr<Store> store_;
  KafkaConfig config_;
};

// Every stored record reaches its topic once, with its ID as key; the position ends past the last
// one and is saved; the counters say so.
TEST_F(KafkaSinkTest, DeliversEveryRecordWithItsId) {
  const Records written = write(1, 600);
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(600); }))
      << "position " << record_key(sink->position()) << "; " << sink->last_error();
  EXPECT_TRUE(poll_until(
      *sink, [&] { return sink->counters().broker_up.load() == 1; }, 3s));
  const std::vector<RecordId> ids = all_ids(written);
  EXPECT_EQ(sink->counters().delivered.load(), ids.size());
  EXPECT_EQ(sink->counters().backlog.load(), 0u);
  EXPECT_EQ(sink->counters().position_seq.load(), 600u);
  std::string why;
  EXPECT_TRUE(sink->close(why)) << why;

  const auto seen = cluster_.read_back(ids.size());
  ASSERT_EQ(seen.size(), ids.size());
  for (const RecordId id : ids) {
    EXPECT_EQ(seen.count(id) ? seen.at(id) : 0, 1) << record_key(id);
  }
  auto exp = ExportStore::open(dir_.file("h.db"), "kafka", why);
  ASSERT_TRUE(exp) << why;
  EXPECT_EQ(exp->position(), end_of(600));
}

// The broker goes down for longer than the send timeout while records keep coming: nothing
// passes the position, the back-log counts them, the broker is seen down; once it is up again
// every record is delivered at least once.
TEST_F(KafkaSinkTest, BrokerOutageLosesNothing) {
  const Records a = write(1, 200);
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(200); }));

  cluster_.down();
  const Records b = write(201, 700);
  poll_for(*sink, 3s);                              // three send timeouts
  EXPECT_EQ(sink->position(), (RecordId{201, 0}));  // the first record not delivered
  EXPECT_GT(sink->counters().failed.load(), 0u);
  EXPECT_EQ(sink->counters().backlog.load(), all_ids(b).size());
  EXPECT_EQ(sink->counters().broker_up.load(), 0u);

  cluster_.up();
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(700); }))
      << "position " << record_key(sink->position()) << "; " << sink->last_error();
  EXPECT_EQ(sink->counters().backlog.load(), 0u);
  std::string why;
  EXPECT_TRUE(sink->close(why)) << why;

  std::vector<RecordId> ids = all_ids(a);
  const std::vector<RecordId> more = all_ids(b);
  ids.insert(ids.end(), more.begin(), more.end());
  const auto seen = cluster_.read_back(ids.size());
  for (const RecordId id : ids) {
    EXPECT_GE(seen.count(id) ? seen.at(id) : 0, 1) << "lost " << record_key(id);
  }
  EXPECT_EQ(seen.size(), ids.size());
}

// Closed after delivering the first records, a new sink on the same database starts from the
// saved position: the first records are on Kafka exactly once, the later ones too.
TEST_F(KafkaSinkTest, RestartResumesFromTheSavedPosition) {
  const Records a = write(1, 300);
  {
    auto sink = open_sink();
    ASSERT_TRUE(sink);
    ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(300); }));
    std::string why;
    EXPECT_TRUE(sink->close(why)) << why;
  }
  const Records b = write(301, 500);
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  EXPECT_EQ(sink->position(), end_of(300));
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(500); }));
  EXPECT_EQ(sink->counters().delivered.load(), all_ids(b).size());

  std::vector<RecordId> ids = all_ids(a);
  const std::vector<RecordId> more = all_ids(b);
  ids.insert(ids.end(), more.begin(), more.end());
  const auto seen = cluster_.read_back(ids.size());
  ASSERT_EQ(seen.size(), ids.size());
  for (const RecordId id : ids) {
    EXPECT_EQ(seen.count(id) ? seen.at(id) : 0, 1) << record_key(id);
  }
}

// The broker refuses the first sends (a non-retriable error) and the process dies before they
// are sent again, while later records were acknowledged: the position stays below the refused
// records, and the next sink delivers them.
TEST_F(KafkaSinkTest, CrashWithRefusedRecordsLosesNothing) {
  const Records a = write(1, 300);
  cluster_.refuse_produce(2);
  {
    config_.resend_backoff_ms = 600'000;  // never sent again by this sink
    auto sink = open_sink();
    ASSERT_TRUE(sink);
    ASSERT_TRUE(poll_until(*sink,
                           [&] {
                             return sink->counters().failed.load() > 0 &&
                                    sink->counters().delivered.load() > 0 &&
                                    sink->counters().in_flight.load() == 0;
                           }))
        << sink->last_error() << "; delivered " << sink->counters().delivered.load() << ", failed "
        << sink->counters().failed.load() << ", in flight " << sink->counters().in_flight.load();
    EXPECT_LT(sink->position(), end_of(300));
  }  // destroyed without close(): as a crash
  config_.resend_backoff_ms = 50;
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(300); }))
      << sink->last_error();
  const std::vector<RecordId> ids = all_ids(a);
  const auto seen = cluster_.read_back(ids.size());
  for (const RecordId id : ids) {
    EXPECT_GE(seen.count(id) ? seen.at(id) : 0, 1) << "lost " << record_key(id);
  }
  EXPECT_EQ(seen.size(), ids.size());
}

// The cluster refuses the producer its ID (a fatal error of the idempotent producer): the
// producer is rebuilt and every record is still delivered.
TEST_F(KafkaSinkTest, FatalProducerErrorRebuildsTheProducer) {
  const Records a = write(1, 100);
  cluster_.refuse(kInitProducerIdApi, 1, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(100); }))
      << sink->last_error();
  EXPECT_GE(sink->counters().restarts.load(), 1u) << sink->last_error();
  std::string why;
  EXPECT_TRUE(sink->close(why)) << why;
  const std::vector<RecordId> ids = all_ids(a);
  const auto seen = cluster_.read_back(ids.size());
  EXPECT_EQ(seen.size(), ids.size());
}

// A position learned from elsewhere (a former primary's) is adopted: records below it are not
// sent; a lower one changes nothing.
TEST_F(KafkaSinkTest, AdoptedPositionSkipsWhatWasDelivered) {
  const Records a = write(1, 100);
  auto sink = open_sink();
  ASSERT_TRUE(sink);
  std::string why;
  ASSERT_TRUE(sink->adopt(end_of(60), why)) << why;
  ASSERT_TRUE(sink->adopt(end_of(10), why)) << why;
  EXPECT_EQ(sink->position(), end_of(60));
  ASSERT_TRUE(poll_until(*sink, [&] { return sink->position() == end_of(100); }));
  EXPECT_TRUE(sink->close(why)) << why;
  const std::vector<RecordId> later = all_ids(records(61, 100));
  const auto seen = cluster_.read_back(later.size());
  EXPECT_EQ(seen.size(), later.size());
  for (const RecordId id : later) {
    EXPECT_EQ(seen.count(id) ? seen.at(id) : 0, 1) << record_key(id);
  }
}

// What cannot be used is refused with a message naming it.
TEST_F(KafkaSinkTest, RefusesWhatItCannotUse) {
  std::string why;
  KafkaConfig bad = config_;
  bad.sasl_password_file = dir_.file("missing");
  bad.security = KafkaSecurity::SaslPlaintext;
  bad.sasl_mechanism = "PLAIN";
  bad.sasl_username = "acd";
  EXPECT_FALSE(KafkaSink::open(bad, dir_.file("h.db"), why));
  EXPECT_NE(why.find("sasl_password_file"), std::string::npos) << why;
  EXPECT_FALSE(KafkaSink::open(config_, dir_.file("none.db"), why));
  EXPECT_NE(why.find("none.db"), std::string::npos) << why;
  bad = config_;
  bad.properties = {{"max.in.flight.requests.per.connection", "50"}};  // idempotence allows 5
  EXPECT_FALSE(KafkaSink::open(bad, dir_.file("h.db"), why));
  EXPECT_NE(why.find("history.kafka"), std::string::npos) << why;
}

}  // namespace
}  // namespace acd::history
