// The Kafka export of the history records: the producer (librdkafka, idempotent), the records in
// flight and their delivery reports, the position raised over what is acknowledged and saved in
// the history database, and the back-log read again from the store.
#include "acd/history/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace acd::history {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBatch = 1000;  // records read from the store per poll at most
constexpr auto kCountEvery = std::chrono::seconds(1);  // back-log recount when not drained

RecordId after(RecordId id) {
  return RecordId{id.seq, id.index + 1};
}

bool read_password(const std::string& path, std::string& out, std::string& why) {
  std::ifstream in(path);
  if (!in || !std::getline(in, out) || out.empty()) {
    why = "history.kafka.sasl_password_file " + path +
          " cannot be read or its first line is empty; put the password on its first line "
          "(mode 0600, readable by acd)";
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<KafkaSink> KafkaSink::open(const KafkaConfig& config, const std::string& database,
                                           std::string& why) {
  std::unique_ptr<ExportStore> store = ExportStore::open(database, kKafkaExportName, why);
  if (store == nullptr) {
    return nullptr;
  }
  std::unique_ptr<KafkaSink> sink(new KafkaSink(config, std::move(store)));
  if (!config.sasl_password_file.empty() &&
      !read_password(config.sasl_password_file, sink->password_, why)) {
    return nullptr;
  }
  if (!sink->create_producer(why)) {
    return nullptr;
  }
  sink->next_read_ = sink->store_->position();
  sink->counters_.position_seq.store(sink->next_read_.seq, std::memory_order_relaxed);
  return sink;
}

KafkaSink::~KafkaSink() {
  destroy_producer();
}

bool KafkaSink::create_producer(std::string& why) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512] = "";
  auto properties = kafka_properties(config_);
  if (!password_.empty()) {
    properties.emplace_back("sasl.password", password_);
  }
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      why = "history.kafka: librdkafka refuses " + name + ": " + err;
      rd_kafka_conf_destroy(conf);
      return false;
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &KafkaSink::on_error);
  rd_kafka_conf_set_stats_cb(conf, &KafkaSink::on_stats);
  rd_kafka_conf_set_opaque(conf, this);  // the callbacks run inside poll()/close() on our thread
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (producer_ == nullptr) {
    why = std::string("history.kafka: cannot create the Kafka producer: ") + err;
    rd_kafka_conf_destroy(conf);  // not taken over on failure
    return false;
  }
  for (int t = 0; t < kRecordTypeCount; ++t) {
    const std::string name = config_.topic_prefix + std::string(topic_suffix(RecordType(t)));
    topics_[t] = rd_kafka_topic_new(producer_, name.c_str(), nullptr);
    if (topics_[t] == nullptr) {
      why = "history.kafka: topic " + name + ": " + rd_kafka_err2str(rd_kafka_last_error());
      destroy_producer();
      return false;
    }
  }
  fatal_ = false;
  return true;
}

void KafkaSink::destroy_producer() {
  if (producer_ == nullptr) {
    return;
  }
  // What is unacknowledged is dropped here and sent again from the store (or from pending_).
  rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  for (rd_kafka_topic_t*& t : topics_) {
    if (t != nullptr) {
      rd_kafka_topic_destroy(t);
      t = nullptr;
    }
  }
  rd_kafka_destroy(producer_);
  producer_ = nullptr;
  for (Pending& p : pending_) {
    if (p.state == Send::InFlight || p.state == Send::Failed) {
      p.state = Send::Waiting;
    }
  }
  counters_.broker_up.store(0, std::memory_order_relaxed);
}

KafkaSink::Pending* KafkaSink::find(RecordId id) {
  auto it = std::lower_bound(pending_.begin(), pending_.end(), id,
                             [](const Pending& p, RecordId i) { return p.id < i; });
  return it != pending_.end() && it->id == id ? &*it : nullptr;
}

void KafkaSink::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  const std::optional<RecordId> id = parse_record_key(
      std::string_view(static_cast<const char*>(m->key), m->key != nullptr ? m->key_len : 0));
  Pending* p = id ? self->find(*id) : nullptr;
  if (p == nullptr || p->state != Send::InFlight) {
    return;  // a report for a send already settled (adopted past, or a producer since rebuilt)
  }
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    p->state = Send::Delivered;
    self->counters_.delivered.fetch_add(1, std::memory_order_relaxed);
    self->counters_.broker_up.store(1, std::memory_order_relaxed);
    return;
  }
  p->state = Send::Failed;
  p->retry_at = Clock::now() + std::chrono::milliseconds(self->config_.resend_backoff_ms);
  self->counters_.failed.fetch_add(1, std::memory_order_relaxed);
  self->last_error_ = std::string("delivery of record ") + record_key(*id) +
                      " failed: " + rd_kafka_err2str(m->err) + "; it will be sent again";
}

void KafkaSink::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512] = "";
    rd_kafka_fatal_error(rk, why, sizeof why);
    self->fatal_ = true;
    self->last_error_ = std::string("fatal producer error: ") + why +
                        "; the producer is rebuilt and unacknowledged records are sent again";
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    self->counters_.broker_up.store(0, std::memory_order_relaxed);
  }
  self->last_error_ = reason != nullptr ? reason : rd_kafka_err2str(rd_kafka_resp_err_t(err));
}

int KafkaSink::on_stats(rd_kafka_t*, char* json, std::size_t len, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  const nlohmann::json j = nlohmann::json::parse(json, json + len, nullptr, false);
  if (j.is_discarded() || !j.contains("brokers") || !j["brokers"].is_object()) {
    return 0;
  }
  bool up = false;
  for (const auto& [name, b] : j["brokers"].items()) {
    // Bootstrap entries (nodeid -1) stand for addresses, not brokers of the cluster.
    if (b.value("nodeid", -1) >= 0 && b.value("state", "") == "UP") {
      up = true;
    }
  }
  self->counters_.broker_up.store(up ? 1 : 0, std::memory_order_relaxed);
  return 0;  // librdkafka frees the text
}

bool KafkaSink::advance(std::string& why) {
  while (!pending_.empty() && pending_.front().state == Send::Delivered) {
    pending_.pop_front();
  }
  // Every record below the first unacknowledged one is delivered; with none in memory, every
  // record read so far is.
  const RecordId next = pending_.empty() ? next_read_ : pending_.front().id;
  if (next > store_->position() && !store_->save_position(next, why)) {
    return false;
  }
  counters_.position_seq.store(store_->position().seq, std::memory_order_relaxed);
  return true;
}

bool KafkaSink::read_more(std::string& why) {
  if (pending_.size() >= config_.max_in_flight) {
    return true;
  }
  const std::size_t limit =
      std::min<std::size_t>(config_.max_in_flight - pending_.size(), kReadBatch);
  Records r;
  if (!store_->read(next_read_, limit, r, why)) {
    return false;
  }
  // Merge the four ID-ordered lists into pending_, in ID order.
  std::size_t i[kRecordTypeCount] = {};
  const std::size_t n[kRecordTypeCount] = {r.calls.size(), r.states.size(),
                                           r.queue_intervals.size(), r.agent_intervals.size()};
  const auto id_of = [&](int t) {
    switch (RecordType(t)) {
      case RecordType::Call:
        return r.calls[i[t]].id;
      case RecordType::AgentState:
        return r.states[i[t]].id;
      case RecordType::QueueInterval:
        return r.queue_intervals[i[t]].id;
      case RecordType::AgentInterval:
        break;
    }
    return r.agent_intervals[i[t]].id;
  };
  for (std::size_t k = 0; k < r.size(); ++k) {
    int best = -1;
    for (int t = 0; t < kRecordTypeCount; ++t) {
      if (i[t] < n[t] && (best < 0 || id_of(t) < id_of(best))) {
        best = t;
      }
    }
    Pending p;
    p.id = id_of(best);
    p.type = RecordType(best);
    switch (p.type) {
      case RecordType::Call:
        p.json = to_json(r.calls[i[best]]);
        break;
      case RecordType::AgentState:
        p.json = to_json(r.states[i[best]]);
        break;
      case RecordType::QueueInterval:
        p.json = to_json(r.queue_intervals[i[best]]);
        break;
      case RecordType::AgentInterval:
        p.json = to_json(r.agent_intervals[i[best]]);
        break;
    }
    ++i[best];
    next_read_ = after(p.id);
    pending_.push_back(std::move(p));
  }
  store_drained_ = r.size() < limit;
  return true;
}

void KafkaSink::produce_waiting() {
  const Clock::time_point now = Clock::now();
  std::uint64_t in_flight = 0;
  bool full = false;
  static const std::string kSchema = std::to_string(kExportSchemaVersion);
  for (Pending& p : pending_) {
    const bool due = p.state == Send::Waiting || (p.state == Send::Failed && p.retry_at <= now);
    if (due && !full) {
      const std::string key = record_key(p.id);
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_RKT(topics_[static_cast<int>(p.type)]),
          RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(p.json.data(), p.json.size()),
          RD_KAFKA_V_HEADER("acd-schema", kSchema.data(), static_cast<ssize_t>(kSchema.size())),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p.state = Send::InFlight;
      } else if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        counters_.refused.fetch_add(1, std::memory_order_relaxed);
        full = true;
      } else {
        p.state = Send::Failed;
        p.retry_at = now + std::chrono::milliseconds(config_.resend_backoff_ms);
        counters_.failed.fetch_add(1, std::memory_order_relaxed);
        last_error_ = "producing record " + key + ": " + rd_kafka_err2str(err);
      }
    }
    in_flight += p.state == Send::InFlight ? 1 : 0;
  }
  counters_.in_flight.store(in_flight, std::memory_order_relaxed);
}

void KafkaSink::refresh_backlog() {
  std::uint64_t unacked = 0;
  std::uint64_t acked = 0;
  for (const Pending& p : pending_) {
    (p.state == Send::Delivered ? acked : unacked) += 1;
  }
  if (store_drained_) {
    counters_.backlog.store(unacked, std::memory_order_relaxed);
    return;
  }
  const Clock::time_point now = Clock::now();
  if (now - backlog_counted_ < kCountEvery) {
    return;
  }
  backlog_counted_ = now;
  std::uint64_t n = 0;
  std::string ignored;
  if (store_->count(store_->position(), n, ignored)) {
    counters_.backlog.store(n > acked ? n - acked : 0, std::memory_order_relaxed);
  }
}

bool KafkaSink::poll(std::string& why) {
  if (closed_) {
    why = "the Kafka export is closed";
    return false;
  }
  if (fatal_) {
    destroy_producer();
    counters_.restarts.fetch_add(1, std::memory_order_relaxed);
    if (!create_producer(why)) {
      return false;
    }
  }
  rd_kafka_poll(producer_, 0);  // delivery reports, errors and statistics, on this thread
  bool ok = advance(why);
  std::string read_why;
  if (!read_more(read_why)) {
    why = ok ? read_why : why + "; " + read_why;
    ok = false;
  }
  if (!ok) {
    counters_.store_errors.fetch_add(1, std::memory_order_relaxed);
  }
  produce_waiting();
  refresh_backlog();
  return ok;
}

bool KafkaSink::close(std::string& why) {
  if (closed_) {
    return true;
  }
  if (producer_ != nullptr && !fatal_) {
    produce_waiting();
    rd_kafka_flush(producer_, static_cast<int>(config_.close_timeout_ms));  // serves reports
  }
  bool ok = advance(why);
  std::uint64_t left = 0;
  for (const Pending& p : pending_) {
    left += p.state == Send::Delivered ? 0 : 1;
  }
  destroy_producer();
  closed_ = true;
  if (ok && left > 0) {
    why = std::to_string(left) + " records were not acknowledged within " +
          std::to_string(config_.close_timeout_ms) +
          " ms; they stay in the history store and are sent again after a restart";
    ok = false;
  }
  return ok;
}

bool KafkaSink::adopt(RecordId next, std::string& why) {
  if (next <= store_->position()) {
    return true;
  }
  if (!store_->save_position(next, why)) {
    return false;
  }
  while (!pending_.empty() && pending_.front().id < next) {
    pending_.pop_front();
  }
  next_read_ = std::max(next_read_, next);
  counters_.position_seq.store(next.seq, std::memory_order_relaxed);
  return true;
}

}  // namespace acd::history
