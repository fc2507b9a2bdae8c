// acdd's Kafka export: the history feed's RecordSink that owns a history::KafkaSink
// (kafka_sink.hpp, docs/kafka.md) on the history thread. The sink is opened at the first call
// (the history store exists by then), polled after each commit and, while the feed is idle, every
// poll_every; closed when the feed stops (waiting up to close_timeout_ms for acknowledgements).
// A failed open is logged once, counted (open_failures) and tried again every retry_every: it
// never stops acdd or history.
//
// Threading: every RecordSink call on the history thread; counters() and open_failures() from
// any thread (the metrics endpoint). The object outlives the HistoryFeed it is given to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "acd/history/kafka_config.hpp"
#include "acd/history/kafka_sink.hpp"
#include "acd/history/sink.hpp"

namespace acd::control {

class KafkaExport final : public history::RecordSink {
 public:
  // `database`: the history store's file ([history] path). Precondition: config.enabled.
  KafkaExport(history::KafkaConfig config, std::string database,
              std::chrono::milliseconds poll_every = std::chrono::milliseconds(100),
              std::chrono::milliseconds retry_every = std::chrono::seconds(5));
  ~KafkaExport() override;
  KafkaExport(const KafkaExport&) = delete;
  KafkaExport& operator=(const KafkaExport&) = delete;

  void on_committed(const history::Records& records, std::uint64_t through) override;
  void on_idle() override;
  void on_stop() override;

  // The sink's counters once it is open; null before (any thread).
  const history::KafkaCounters* counters() const {
    return counters_.load(std::memory_order_acquire);
  }
  // Opens that failed (any thread, relaxed).
  std::uint64_t open_failures() const { return open_failures_.load(std::memory_order_relaxed); }

 private:
  bool ensure_open(std::chrono::steady_clock::time_point now);
  void poll(std::chrono::steady_clock::time_point now);

  history::KafkaConfig config_;
  std::string database_;
  std::chrono::milliseconds poll_every_;
  std::chrono::milliseconds retry_every_;
  std::unique_ptr<history::KafkaSink> sink_;  // kept after close: counters() points into it
  bool stopped_ = false;
  bool open_failed_said_ = false;
  std::string poll_error_said_;
  std::chrono::steady_clock::time_point next_open_{};
  std::chrono::steady_clock::time_point last_poll_{};
  std::atomic<const history::KafkaCounters*> counters_{nullptr};
  std::atomic<std::uint64_t> open_failures_{0};
};

}  // namespace acd::control
