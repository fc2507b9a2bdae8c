// A doorbell (an event count) for threads that sleep until work arrives on a lock-free queue.
//
// The producer queues its work, then ring()s: one atomic read-modify-write, and a futex wake only
// when a consumer sleeps, so a routing thread that rings never blocks. A consumer whose queue is
// empty calls prepare(), tries its queue ONCE more, then either cancel()s (it found work) or
// wait()s with prepare()'s ticket: a ring between prepare() and wait() makes wait() return at
// once, so no work queued after the consumer's last look is left waiting. An idle consumer makes
// no system call and takes no CPU until the next ring (a polling loop woke ~1,000 times a second).
//
// Threads: ring() and ring_all() any thread; prepare(), cancel() and wait() the consumer, each
// prepare() followed by exactly one cancel() or wait(). Any number of producers and consumers.
#pragma once

#include <atomic>
#include <cstdint>

namespace acd::dataplane {

class Doorbell {
 public:
  using Ticket = std::uint32_t;

  // Consumer, queue found empty: announces a sleeper, then returns the ring count to wait on.
  // The seq_cst increment of waiters_ and load of rings_ pair with ring()'s seq_cst increment of
  // rings_ and load of waiters_: either ring() sees this sleeper, or this load sees the ring
  // (and the work queued before it, which the consumer's next look at its queue then finds).
  Ticket prepare() {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    return rings_.load(std::memory_order_seq_cst);
  }
  // Consumer: found work after prepare(); does not sleep.
  void cancel() { waiters_.fetch_sub(1, std::memory_order_relaxed); }
  // Consumer: sleeps until a ring after prepare() (returns at once if there was one).
  void wait(Ticket ticket) {
    rings_.wait(ticket, std::memory_order_acquire);  // pairs with ring()'s increment
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }
  // Consumer loop: `try_take()` (true if it took work) until it takes some, sleeping between
  // tries until a ring; false, nothing taken, once `stop` is set (after the stopper's ring_all)
  // and the queue is empty.
  template <typename TryTake>
  bool take_or_sleep(TryTake&& try_take, const std::atomic<bool>& stop) {
    for (;;) {
      if (try_take()) {
        return true;
      }
      const Ticket ticket = prepare();
      if (try_take()) {  // queued before a ring this ticket would miss
        cancel();
        return true;
      }
      if (stop.load(std::memory_order_acquire)) {  // pairs with the stopper's store(release)
        cancel();
        return false;
      }
      wait(ticket);
    }
  }
  // Producer, after queueing work: wakes one sleeping consumer, if any sleeps.
  void ring() {
    rings_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) {
      rings_.notify_one();
    }
  }
  // Wakes every sleeping consumer (shutdown: each then sees its stop flag).
  void ring_all() {
    rings_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) != 0) {
      rings_.notify_all();
    }
  }

 private:
  // Written by producers on every ring; waiters_ only when a consumer goes to sleep.
  alignas(64) std::atomic<std::uint32_t> rings_{0};
  alignas(64) std::atomic<std::uint32_t> waiters_{0};
};
static_assert(sizeof(Doorbell) == 128, "rings_ and waiters_ on cache lines of their own");

}  // namespace acd::dataplane
