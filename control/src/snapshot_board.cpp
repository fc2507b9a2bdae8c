// SnapshotBoard: the routing thread's sweep, slice by slice, and the hand-over to readers.
#include "acd/control/snapshot_board.hpp"

#include <algorithm>
#include <utility>

#include "steady_clock.hpp"

namespace acd::control {

void SnapshotBoard::maybe_publish(const router::Engine& engine,
                                  const dataplane::ConfigTag* config_tag) {
  const std::uint64_t now = steady_ns();
  if (!sweeping_) {
    if (now - sweep_started_ns_ < interval_ns_ && published_.load(std::memory_order_relaxed) &&
        config_tag == last_tag_) {
      return;
    }
    start_sweep(engine, config_tag, now);
  } else if (config_tag != last_tag_) {
    start_sweep(engine, config_tag, now);  // the engine was swapped: its sizes may differ
  }
  if (!sweep_done_) {
    copy_slice(engine);
  }
  if (sweep_done_) {
    finish_sweep(engine);
  }
}

void SnapshotBoard::start_sweep(const router::Engine& engine,
                                const dataplane::ConfigTag* config_tag, std::uint64_t now) {
  sweeping_ = true;
  sweep_done_ = false;
  sweep_started_ns_ = now;
  last_tag_ = config_tag;
  Snapshot& s = building_;
  // Every tag the control plane hands the routing core is an ApplianceConfig.
  s.config = config_tag != nullptr ? static_cast<const ApplianceConfig*>(config_tag) : initial_;
  s.published_ns = now;
  s.agents.resize(engine.agent_count());
  s.queues.resize(engine.queue_count());
  s.calls.clear();
  next_agent_ = 0;
  next_queue_ = 0;
  next_call_slot_ = 0;
}

// A bounded piece of the copy, so that a big engine costs the routing core a little per poll
// cycle instead of a long pause now and then.
void SnapshotBoard::copy_slice(const router::Engine& engine) {
  Snapshot& s = building_;
  const std::uint32_t agents_end =
      std::min<std::uint32_t>(engine.agent_count(), next_agent_ + kAgentsPerSlice);
  for (router::AgentIndex a = next_agent_; a < agents_end; ++a) {
    s.agents[a].view = engine.agent(a);
    s.agents[a].number = s.agents[a].view.number;
    s.agents[a].stats = engine.agent_stats(a);
  }
  next_agent_ = agents_end;
  const std::uint32_t queues_end =
      std::min<std::uint32_t>(engine.queue_count(), next_queue_ + kQueuesPerSlice);
  for (router::QueueIndex q = next_queue_; q < queues_end; ++q) {
    s.queues[q].view = engine.queue(q);
    s.queues[q].stats = engine.queue_stats(q);
    s.queues[q].surge = engine.surge_counters(q);
  }
  next_queue_ = queues_end;
  const std::uint32_t calls_end =
      std::min<std::uint32_t>(engine.max_calls(), next_call_slot_ + kCallSlotsPerSlice);
  engine.for_each_call(next_call_slot_, calls_end,
                       [&](router::CallId id, const router::CallView& v) {
                         if (s.calls.size() < Snapshot::kMaxCalls) {
                           s.calls.push_back(CallRow{id, v});
                         }
                       });
  next_call_slot_ = calls_end;
  sweep_done_ = next_agent_ == engine.agent_count() && next_queue_ == engine.queue_count() &&
                next_call_slot_ == engine.max_calls();
}

// Hands the finished copy to readers; if one is copying it out, tries again next cycle.
void SnapshotBoard::finish_sweep(const router::Engine& engine) {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) {
    return;
  }
  building_.engine_time = engine.now();
  building_.calls_in_engine = engine.calls_in_engine();
  building_.counters = engine.counters();
  building_.site_surge_force = engine.site_surge_force();
  building_.site_summaries.clear();  // sites × queues, small: copied at the end
  for (std::uint32_t site = 0; site < engine.site_count(); ++site) {
    for (router::QueueIndex q = 0; q < engine.queue_count(); ++q) {
      building_.site_summaries.push_back(engine.site_summary(site, q));
    }
  }
  building_.services_down = 0;
  for (std::uint32_t i = 0; i < engine.service_count(); ++i) {
    building_.services_down |= engine.service_down(i) ? std::uint64_t{1} << i : 0;
  }
  std::swap(current_, building_);  // vectors swap: nothing is copied or freed here
  sweeping_ = false;
  published_config_.store(current_.config, std::memory_order_release);
  published_at_.store(current_.published_ns, std::memory_order_release);
  published_.store(true, std::memory_order_release);
}

Snapshot SnapshotBoard::read() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace acd::control
