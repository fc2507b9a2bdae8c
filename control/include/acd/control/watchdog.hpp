// systemd's watchdog, fed only while the routing core makes progress: its input counter (ticks
// included, so an idle but healthy daemon is fed) must have moved since the last feed. A stuck
// routing core therefore stops the feeding and systemd restarts acdd (Restart=on-failure).
//
// Threads: one thread calls poll(); `progress` is written by the routing thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace acd::control {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // `interval`: how often to consider feeding (half of systemd's WatchdogSec); 0 disables.
  Watchdog(const std::atomic<std::uint64_t>& progress, std::chrono::microseconds interval,
           std::function<void()> feed)
      : progress_(progress), interval_(interval), feed_(std::move(feed)) {}

  // Feeds when an interval has passed since the last look and the counter has moved since.
  void poll(Clock::time_point now = Clock::now()) {
    if (interval_.count() == 0 || now - last_ < interval_) {
      return;
    }
    last_ = now;
    const std::uint64_t seen = progress_.load(std::memory_order_relaxed);
    if (seen != seen_) {
      seen_ = seen;
      feed_();
    }
  }

 private:
  const std::atomic<std::uint64_t>& progress_;
  std::chrono::microseconds interval_;
  std::function<void()> feed_;
  Clock::time_point last_{};
  std::uint64_t seen_ = ~0ull;
};

}  // namespace acd::control
