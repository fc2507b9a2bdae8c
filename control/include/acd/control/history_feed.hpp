// The history thread of acdd: follows the node's journal directory (the sequenced log as this node
// wrote or received it — the same on a primary and on its standby), applies every input to a
// history::Feed (a follower engine and the deriver), and writes the records to the history Store,
// with a checkpoint of the feed's state in the same transaction every checkpoint_every. Runs on a
// thread of its own, never on the routing core: the routing core is asked for nothing, and a slow
// disk delays history, never calls.
//
// Restart: the feed is restored from the store's checkpoint and reads on from the seq after it;
// inputs between the checkpoint and the store's last_seq are derived again and their records, which
// carry the same IDs, are ignored by the store. Nothing is lost or stored twice.
//
// Gaps: when the journal no longer holds the next input (pruned while history was stopped or far
// behind, or a standby's journal begun again from its primary's image), the feed starts again from
// the journal's newest snapshot: the follower engine from the image, the deriver from the state
// the image carries (NodeImage::history, given by the history thread of the node that took it),
// or empty if it carries none. The inputs in between have no records on this node; without a
// carried state the calls and agent states open across the gap are incomplete too. It is logged
// ("history: gap ...") and counted (acd_history_gaps_total, acd_history_gap_inputs_total,
// acd_history_gaps_with_state_total).
//
// Node images: when the IO thread asks (options.states) for the seq of the image it is about to
// take, the thread answers with the deriver's state right after it applied that seq.
//
// ConfigChange records: the reload is decoded (reload_record.hpp) and installed in the follower
// engine at its place in the log (in place, or by a new engine taking over), and the deriver's
// queue parameters follow it. The configuration is part of the checkpoint.
//
// Threading: start() and the destructor on one thread (acdd's main); the counters and seqs may be
// read from any thread (relaxed atomics, statistics only). The RecordSink is called on the history
// thread after each commit, when caught up (on_idle, before each idle_wait), for each
// ExportPosition record of the log (on_export_position, as it is read) and once at the end
// (on_stop, after the last commit).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "acd/control/config.hpp"
#include "acd/control/result.hpp"
#include "acd/dataplane/history_fetch.hpp"
#include "acd/dataplane/history_state.hpp"
#include "acd/history/deriver.hpp"
#include "acd/history/kafka_config.hpp"
#include "acd/history/sink.hpp"

namespace acd::control {

struct HistoryFeedOptions {
  std::string journal_dir;    // [journal] dir
  std::string path;           // [history] path
  bool durable = false;       // [history] durable
  history::DeriverConfig deriver;
  std::uint32_t retention_days = 90;  // 0: keep everything
  std::chrono::milliseconds checkpoint_every{10'000};
  std::chrono::milliseconds commit_every{200};  // a batch commits this often at most...
  std::size_t commit_inputs = 8192;             // ...or once it covers this many inputs
  std::chrono::milliseconds idle_wait{20};      // nothing new in the journal: look again after
  history::KafkaConfig kafka;  // [history.kafka]: acdd gives the feed a KafkaExport when enabled
  // The configuration the node started with: the follower engine's until the log's first reload
  // (the checkpoint and the journal's snapshots carry later ones). Outlives the feed.
  const ApplianceConfig* start = nullptr;
  // Where the IO thread asks for the deriver's state at a node image's seq
  // (dataplane/history_state.hpp); null: nobody asks. Outlives the feed.
  dataplane::HistoryStateChannel* states = nullptr;
  // The history fetch over the replication link (dataplane/history_fetch.hpp; null: none). As a
  // standby after a gap crossed with its primary's deriver state: asks for the primary's records
  // of the inputs before the image, one chunk at a time, and stores them. As a primary: answers
  // a standby's requests, a chunk of at most fetch_chunk_bytes no more often than fetch_every.
  dataplane::HistoryFetchChannel* fetch = nullptr;
  std::size_t fetch_chunk_bytes = 256u << 10;
  std::chrono::milliseconds fetch_every{20};
};

// From [history] and [journal] of `cfg`.
HistoryFeedOptions history_options(const ApplianceConfig& cfg);

#define ACD_HISTORY_COUNTERS(X)                                                         \
  X(inputs_applied, "log records read from the journal and applied to the follower")   \
  X(records_written, "history records committed to the store (all kinds)")             \
  X(calls_written, "call detail records committed")                                    \
  X(commits, "store transactions committed")                                           \
  X(checkpoints, "checkpoints of the feed's state committed")                          \
  X(write_errors, "store transactions that failed (retried with the same records)")    \
  X(config_changes, "configuration reloads applied to the follower engine")            \
  X(gaps, "times the journal no longer held the next input")                           \
  X(gap_inputs, "inputs skipped over gaps: they have no records")                      \
  X(read_errors, "journal records that could not be read or decoded")                  \
  X(retention_deleted, "records deleted by retention")                                 \
  X(export_positions, "export positions read from the log and handed to the export")    \
  X(states_given, "deriver states given to node images at their seq")                 \
  X(gaps_with_state, "gaps crossed with the deriver's state the snapshot carried")     \
  X(fetch_chunks_served, "chunks of records before an image sent to a standby")         \
  X(fetch_chunks, "chunks of the primary's records before the image stored")          \
  X(fetch_records, "records before the image copied from the primary (new ones)")     \
  X(fetch_refused, "answers of the primary refused (malformed, or not for our request)")

enum class HistoryCounter : std::uint32_t {
#define ACD_X(name, help) name,
  ACD_HISTORY_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};
inline constexpr std::size_t kHistoryCounterCount =
    static_cast<std::size_t>(HistoryCounter::kCount);
std::string_view history_counter_name(HistoryCounter c);
std::string_view history_counter_help(HistoryCounter c);

class HistoryFeed {
 public:
  // Opens the store, restores the feed from its checkpoint (or starts at seq 1) and starts the
  // thread. A Failure names the database or the checkpoint that cannot be used. `sink` (may be
  // null) outlives the feed.
  static Result<std::unique_ptr<HistoryFeed>> start(const HistoryFeedOptions& options,
                                                    history::RecordSink* sink = nullptr);
  // Stops the thread: what it derived is committed, with a checkpoint.
  ~HistoryFeed();
  HistoryFeed(const HistoryFeed&) = delete;
  HistoryFeed& operator=(const HistoryFeed&) = delete;

  // Any thread, relaxed.
  std::uint64_t counter(HistoryCounter c) const {
    return counters_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  std::uint64_t applied_seq() const { return applied_seq_.load(std::memory_order_relaxed); }
  std::uint64_t stored_seq() const { return stored_seq_.load(std::memory_order_relaxed); }
  std::uint64_t checkpoint_seq() const { return checkpoint_seq_.load(std::memory_order_relaxed); }
  // The last error ("" if none since the last success).
  std::string error() const;

  struct State;  // the history thread's own (history_feed.cpp)

 private:
  HistoryFeed() = default;
  void run(std::stop_token stop);
  void bump(HistoryCounter c, std::uint64_t n = 1) {
    counters_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  void set_error(const std::string& why);

  HistoryFeedOptions options_;
  history::RecordSink* sink_ = nullptr;
  std::unique_ptr<State> state_;
  std::array<std::atomic<std::uint64_t>, kHistoryCounterCount> counters_{};
  std::atomic<std::uint64_t> applied_seq_{0};
  std::atomic<std::uint64_t> stored_seq_{0};
  std::atomic<std::uint64_t> checkpoint_seq_{0};
  mutable std::mutex error_mutex_;
  std::string error_;
  std::jthread thread_;  // last: joined first
};

}  // namespace acd::control
