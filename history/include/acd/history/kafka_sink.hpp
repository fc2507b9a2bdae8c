// The history records streamed to Kafka for the bank's data platform (docs/kafka.md): a
// KafkaSink tails the history store (export_store.hpp) and produces every record it has
// committed, as JSON keyed by the record's ID (record_json.hpp), to one topic per record type,
// with librdkafka's idempotent producer (enable.idempotence, acks=all).
//
// Guarantee: at least once. The export position (every record below it delivered) is raised only
// past records the broker acknowledged, contiguously in ID order, and saved in the history
// database; records above it are read again from the store after a restart. The back-log IS the
// store: a broker outage of any length loses nothing (bounded by the store's retention), and
// memory holds at most max_in_flight records. A record may arrive twice (a restart after delivery
// but before the position was saved, or a send that failed after reaching the broker); its key
// (the record ID) lets compaction and consumers drop the copy.
//
// Threading: one thread owns a KafkaSink (the history thread: open, poll, adopt, close); its
// delivery reports run inside poll() and close() on that thread. counters() may be read from any
// thread (relaxed atomic loads; the metrics endpoint). Allocates; never blocks except in close().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "acd/history/export_store.hpp"
#include "acd/history/kafka_config.hpp"
#include "acd/history/record_json.hpp"

struct rd_kafka_s;
struct rd_kafka_topic_s;
struct rd_kafka_message_s;

namespace acd::history {

// The sink's metrics: kind (counter or gauge), name, help. Documented in docs/kafka.md.
#define ACD_KAFKA_METRICS(X)                                                               \
  X(delivered, counter, "acd_history_kafka_delivered_total",                               \
    "Records the brokers acknowledged (a record sent again after a failure counts again)") \
  X(failed, counter, "acd_history_kafka_failed_total",                                     \
    "Record sends that failed (timed out, refused); each is sent again")                   \
  X(refused, counter, "acd_history_kafka_queue_full_total",                                \
    "Sends librdkafka refused locally (its queue full); retried on the next poll")         \
  X(restarts, counter, "acd_history_kafka_producer_restarts_total",                        \
    "Producers rebuilt after a fatal error; unacknowledged records are sent again")        \
  X(store_errors, counter, "acd_history_kafka_store_errors_total",                         \
    "Failed reads of the back-log or saves of the position; retried on the next poll")     \
  X(backlog, gauge, "acd_history_kafka_backlog_records",                                   \
    "Records in the history store not yet acknowledged by Kafka")                          \
  X(in_flight, gauge, "acd_history_kafka_in_flight_records",                               \
    "Records produced and waiting for their acknowledgement")                              \
  X(broker_up, gauge, "acd_history_kafka_broker_up",                                       \
    "1 when the producer has a connection up to a broker, 0 otherwise")                    \
  X(position_seq, gauge, "acd_history_kafka_position_seq",                                 \
    "Log sequence number of the first record not yet known delivered")

// The export's name in the history database's export_position table.
inline constexpr const char* kKafkaExportName = "kafka";

struct KafkaCounters {
#define ACD_X(name, kind, metric, help) std::atomic<std::uint64_t> name{0};
  ACD_KAFKA_METRICS(ACD_X)
#undef ACD_X
};

class KafkaSink {
 public:
  // Opens the export over the history database at `database` (created by a Store first), reads
  // the saved position and creates the producer (librdkafka connects in the background: an
  // unreachable broker is not an error here). nullptr with `why` when the database cannot be used,
  // the password file cannot be read, or librdkafka refuses the configuration.
  // Precondition: config.enabled.
  static std::unique_ptr<KafkaSink> open(const KafkaConfig& config, const std::string& database,
                                         std::string& why);
  // Without close(): what is not yet acknowledged stays in the store and is sent again by the
  // next KafkaSink on this database (as after a crash).
  ~KafkaSink();
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  // Serves delivery reports, raises and saves the position, and produces the next records the
  // store holds (up to max_in_flight unacknowledged). Never blocks; call it after each store
  // write and on a timer (every 100 ms, say). Returns false with `why` when the store could not
  // be read or the position not saved (counted; the next poll tries again), true otherwise —
  // a broker outage is not an error (see counters()).
  [[nodiscard]] bool poll(std::string& why);

  // Waits up to config.close_timeout_ms for the acknowledgements of what is in flight, saves
  // the position, and stops producing. False with `why` if records were left unacknowledged or
  // the position could not be saved (they will be sent again after a restart).
  [[nodiscard]] bool close(std::string& why);

  // The first record not known delivered (every record with a smaller ID is).
  RecordId position() const { return store_->position(); }

  // Raises the position to `next`, learned elsewhere (the position a former primary delivered
  // up to, carried by the log): records below it are not sent again. Never lowers it. False with
  // `why` if it could not be saved.
  [[nodiscard]] bool adopt(RecordId next, std::string& why);

  const KafkaCounters& counters() const { return counters_; }

  // librdkafka's last error or fatal error as a sentence ("" if none yet), for the daemon's log.
  const std::string& last_error() const { return last_error_; }

 private:
  enum class Send : std::uint8_t { Waiting, InFlight, Failed, Delivered };
  struct Pending {
    RecordId id;
    RecordType type = RecordType::Call;
    Send state = Send::Waiting;
    std::chrono::steady_clock::time_point retry_at;
    std::string json;
  };

  KafkaSink(KafkaConfig config, std::unique_ptr<ExportStore> store)
      : config_(std::move(config)), store_(std::move(store)) {}
  bool create_producer(std::string& why);
  void destroy_producer();
  void produce_waiting();
  bool read_more(std::string& why);
  bool advance(std::string& why);
  void refresh_backlog();
  Pending* find(RecordId id);

  static void on_delivery(rd_kafka_s* rk, const rd_kafka_message_s* m, void* opaque);
  static void on_error(rd_kafka_s* rk, int err, const char* reason, void* opaque);
  static int on_stats(rd_kafka_s* rk, char* json, std::size_t len, void* opaque);

  KafkaConfig config_;
  std::string password_;
  std::unique_ptr<ExportStore> store_;
  rd_kafka_s* producer_ = nullptr;
  rd_kafka_topic_s* topics_[kRecordTypeCount] = {};
  bool fatal_ = false;
  bool closed_ = false;
  // Records read from the store and not yet below the position, in ID order.
  std::deque<Pending> pending_;
  RecordId next_read_;          // the store is read from here on
  bool store_drained_ = false;  // the last read reached the end of the store
  std::chrono::steady_clock::time_point backlog_counted_;
  KafkaCounters counters_;
  std::string last_error_;
};

}  // namespace acd::history
