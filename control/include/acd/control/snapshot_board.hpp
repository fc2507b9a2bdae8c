// The engine's state as monitoring sees it: the routing thread copies it, a bounded slice per poll
// cycle, onto a SnapshotBoard; the control socket and the metrics endpoint read complete copies.
//
// Threads: `maybe_publish` is called by the routing thread only (through
// dataplane::StatePublisher); `read`, `ready`, `published_ns` and `published_config` by any other
// thread. The board owns its copies, not the configurations they point at (acdd keeps every one it
// ran: ControlContext).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "acd/control/config.hpp"
#include "acd/dataplane/control_channel.hpp"
#include "acd/router/engine.hpp"

namespace acd::control {

struct AgentRow {
  router::AgentNumber number = 0;
  router::AgentView view;
  router::AgentStats stats;
};

struct QueueRow {
  router::QueueView view;
  router::QueueStats stats;
  router::SurgeCounters surge;
};

struct CallRow {
  router::CallId id = 0;
  router::CallView view;
};

struct Snapshot {
  // The configuration the engine ran when the copy was taken: it names the queues and agents of
  // these rows (indices change meaning only with it). Never null once published.
  const ApplianceConfig* config = nullptr;
  router::Micros engine_time = 0;
  std::uint64_t published_ns = 0;  // steady clock when taken
  std::vector<AgentRow> agents;
  std::vector<QueueRow> queues;
  std::vector<CallRow> calls;  // at most kMaxCalls, in slot order
  std::uint32_t calls_in_engine = 0;
  router::EngineCounters counters;
  router::SurgeForce site_surge_force = router::SurgeForce::Auto;
  std::uint64_t services_down = 0;  // bit s: service s is down (at most 64 services)
  // The latest summary of each peer site for each queue, site-major (sites × queues).
  std::vector<router::SiteSummaryView> site_summaries;
  static constexpr std::size_t kMaxCalls = 10'000;
};

// The routing thread copies the engine's state here every `interval_ms`, a bounded slice per poll
// cycle (256 agents, 256 queues, 4,096 call slots: about 10 µs), into a copy of
// its own that it hands over when complete (never waiting: if a reader holds the board, the
// hand-over waits for the next cycle); readers take a copy. A large engine's copy therefore spans
// several poll cycles: each row is exact, the whole is not one instant. `published_ns` is when the
// sweep began, so everything applied before then is in it.
class SnapshotBoard final : public dataplane::StatePublisher {
 public:
  // `initial`: the configuration the engine was built from (until a reload says otherwise).
  explicit SnapshotBoard(const ApplianceConfig* initial, std::uint64_t interval_ms = 100)
      : interval_ns_(interval_ms * 1'000'000), initial_(initial) {}
  // Routing thread only. A new configuration tag is published at once, whatever the interval.
  void maybe_publish(const router::Engine& engine, const dataplane::ConfigTag* config_tag) override;
  // Any thread: a copy of the latest complete snapshot (an empty one, config null, until ready()).
  Snapshot read() const;
  // Any thread: whether a complete snapshot has been published yet.
  bool ready() const { return published_.load(std::memory_order_acquire); }
  // Of the latest copy, without copying it.
  std::uint64_t published_ns() const { return published_at_.load(std::memory_order_acquire); }
  const ApplianceConfig* published_config() const {
    return published_config_.load(std::memory_order_acquire);
  }

 private:
  static constexpr std::uint32_t kAgentsPerSlice = 256;
  static constexpr std::uint32_t kQueuesPerSlice = 256;
  static constexpr std::uint32_t kCallSlotsPerSlice = 4096;
  void start_sweep(const router::Engine& engine, const dataplane::ConfigTag* config_tag,
                   std::uint64_t now);
  void copy_slice(const router::Engine& engine);
  void finish_sweep(const router::Engine& engine);
  std::uint64_t interval_ns_;
  const ApplianceConfig* initial_;
  // Routing thread only: the sweep in progress.
  Snapshot building_;
  bool sweeping_ = false;
  bool sweep_done_ = false;
  std::uint64_t sweep_started_ns_ = 0;
  const dataplane::ConfigTag* last_tag_ = nullptr;
  std::uint32_t next_agent_ = 0;
  std::uint32_t next_queue_ = 0;
  std::uint32_t next_call_slot_ = 0;
  mutable std::mutex mutex_;
  Snapshot current_;
  // Stored (release) by the routing thread after `current_` is complete, in the order config,
  // time, flag; loaded (acquire) by readers, so a reader that sees them sees the copy behind them
  // (which it still reads under `mutex_`). The routing thread's own relaxed load of published_ is
  // its own earlier store.
  std::atomic<bool> published_{false};
  std::atomic<std::uint64_t> published_at_{0};
  std::atomic<const ApplianceConfig*> published_config_{nullptr};
};

}  // namespace acd::control
