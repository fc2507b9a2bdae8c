// acdd's Kafka export: the history feed's RecordSink that owns a history::KafkaSink
// (kafka_sink.hpp, docs/kafka.md) on the history thread. The sink is opened at the first call
// (the history store exists by then), polled after each commit and, while the feed is idle, every
// poll_every; closed when the feed stops (waiting up to close_timeout_ms for acknowledgements).
// A failed open is logged once, counted (open_failures) and tried again every retry_every: it
// never stops acdd or history.
//
// Only the node that routes exports. A pair's standby (and a DR follower) starts following
// (follow()): its export stays closed and only keeps the positions its primary logged
// (on_export_position, saved in the history database). When it takes over, activate() lets the
// export open once the history thread has caught up with the journal, so it starts from the last
// position the old primary logged: records the old primary delivered after that position are sent
// again (at least once; the duplicates are bounded by how often the position is logged).
// That wait is bounded: if the history thread has not caught up with the journal within
// catch_up_timeout of activate() (it is far behind, or the journal grows faster than it reads),
// the export opens anyway from the position it holds, says so once and counts it
// (catch_up_timeouts); positions read later still raise it. Records between that position and
// the old primary's last logged one may then be sent again (same keys): more duplicates, never a
// gap. Nothing here ever waits: activate() is one atomic store, and the routing core and the IO
// thread are never asked to wait for the history thread.
// The exporting node offers its position to the IO thread (set_positions) at most once per
// `every`, which logs it (RecordKind::ExportPosition).
//
// Threading: every RecordSink call on the history thread; follow() and set_positions() before the
// feed starts; activate(), exporting(), counters() and open_failures() from any thread. The object
// outlives the HistoryFeed it is given to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "acd/dataplane/export_position.hpp"
#include "acd/history/export_store.hpp"
#include "acd/history/kafka_config.hpp"
#include "acd/history/kafka_sink.hpp"
#include "acd/history/sink.hpp"

namespace acd::control {

class KafkaExport final : public history::RecordSink {
 public:
  // `database`: the history store's file ([history] path). Precondition: config.enabled.
  // Exports from the start unless follow() is called.
  KafkaExport(history::KafkaConfig config, std::string database,
              std::chrono::milliseconds poll_every = std::chrono::milliseconds(100),
              std::chrono::milliseconds retry_every = std::chrono::seconds(5),
              std::chrono::milliseconds catch_up_timeout = std::chrono::seconds(30));
  ~KafkaExport() override;
  KafkaExport(const KafkaExport&) = delete;
  KafkaExport& operator=(const KafkaExport&) = delete;

  // Before the feed starts: export nothing until activate(), keep the log's positions.
  void follow() { active_.store(false, std::memory_order_relaxed); }
  // This node routes now (a single node, a promoted standby, a DR site that took over): the
  // export opens once the history thread is caught up. Any thread. store(release) pairs with the
  // history thread's load(acquire); it orders nothing else.
  void activate() {
    activated_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                        std::memory_order_relaxed);
    active_.store(true, std::memory_order_release);
  }
  // True while this node may export (any thread).
  bool exporting() const { return active_.load(std::memory_order_relaxed); }
  // Before the feed starts: where the position is offered for the log (null: nowhere), at most
  // once per `every` and only when it moved. The channel outlives this object's use of it.
  void set_positions(dataplane::ExportPositionChannel* channel,
                     std::chrono::milliseconds every = std::chrono::seconds(1)) {
    positions_ = channel;
    position_every_ = every;
  }

  void on_committed(const history::Records& records, std::uint64_t through) override;
  void on_idle() override;
  void on_stop() override;
  void on_export_position(history::RecordId next) override;

  // The sink's counters once it is open; null before (any thread).
  const history::KafkaCounters* counters() const {
    return counters_.load(std::memory_order_acquire);
  }
  // Opens that failed (any thread, relaxed).
  std::uint64_t open_failures() const { return open_failures_.load(std::memory_order_relaxed); }
  // Positions taken from the log (any thread, relaxed).
  std::uint64_t positions_adopted() const {
    return positions_adopted_.load(std::memory_order_relaxed);
  }
  // Activations whose wait for the history thread to catch up ran past catch_up_timeout, so the
  // export opened without it (any thread, relaxed).
  std::uint64_t catch_up_timeouts() const {
    return catch_up_timeouts_.load(std::memory_order_relaxed);
  }
  // True while activated and still waiting for the history thread to catch up (any thread).
  bool waiting_for_history() const {
    return exporting() && !caught_up_.load(std::memory_order_relaxed) && !stopped_flag_.load();
  }

 private:
  bool ensure_open(std::chrono::steady_clock::time_point now);
  // Whether the export may open: caught up, or catch_up_timeout passed since activate() (then
  // said once and counted). History thread.
  bool catch_up_expired(std::chrono::steady_clock::time_point now);
  void poll(std::chrono::steady_clock::time_point now);
  void offer_position(std::chrono::steady_clock::time_point now, bool now_or_never);
  // Following: the adopted position saved in the history database (opened on first use).
  void save_followed();

  history::KafkaConfig config_;
  std::string database_;
  std::chrono::milliseconds poll_every_;
  std::chrono::milliseconds retry_every_;
  std::unique_ptr<history::KafkaSink> sink_;  // kept after close: counters() points into it
  bool stopped_ = false;
  bool open_failed_said_ = false;
  // on_idle seen since activation (the journal's positions are read), or catch_up_timeout
  // passed. Written on the history thread, read anywhere for waiting_for_history().
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> stopped_flag_{false};
  std::chrono::milliseconds catch_up_timeout_;
  std::string poll_error_said_;
  std::string save_error_said_;
  std::chrono::steady_clock::time_point next_open_{};
  std::chrono::steady_clock::time_point last_poll_{};
  // The log's positions while following: the highest, and the store it is saved in.
  history::RecordId followed_;
  bool followed_saved_ = true;
  std::unique_ptr<history::ExportStore> follow_store_;
  // Offering the position to the IO thread.
  dataplane::ExportPositionChannel* positions_ = nullptr;
  std::chrono::milliseconds position_every_{1000};
  history::RecordId offered_;
  std::chrono::steady_clock::time_point last_offer_{};
  std::atomic<bool> active_{true};
  std::atomic<const history::KafkaCounters*> counters_{nullptr};
  std::atomic<std::uint64_t> open_failures_{0};
  std::atomic<std::uint64_t> positions_adopted_{0};
  std::atomic<std::uint64_t> catch_up_timeouts_{0};
  std::atomic<std::int64_t> activated_ns_{0};  // steady clock at activate(); 0 until then
};

}  // namespace acd::control
