// A cheap clock for timing intervals on the routing core: every engine input is timed (the
// latency histogram and the longest-input gauge), two readings per input. Through the vDSO the
// steady clock costs about 30 ns a reading on a KVM guest (kvm-clock); the processor's time-stamp
// counter about 12 ns. The counter is used only where the processor says it is invariant (a
// constant rate that never stops: CPUID 0x80000007, EDX bit 8), and its rate is measured once
// against the steady clock; elsewhere readings are the steady clock's nanoseconds.
//
// Intervals only: a reading is not a time of day and is never logged or replicated (event times
// come from the Sequencer's clock), so it cannot reach a decision.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace acd::dataplane {

class IntervalClock {
 public:
  // Decides the source and measures the counter's rate (sleeps about 5 ms the first time). Call
  // it before the first reading, off the hot path; later calls return at once.
  static void calibrate() { (void)state(); }

  // A reading, in ticks of the chosen source.
  static std::uint64_t now() {
#if defined(__x86_64__)
    if (state().use_counter) {
      return __rdtsc();
    }
#endif
    return steady_ns();
  }

  // Nanoseconds between two readings (0 if `end` is not after `begin`).
  static std::uint64_t elapsed_ns(std::uint64_t begin, std::uint64_t end) {
    if (end <= begin) {
      return 0;
    }
    const State& s = state();
    return s.use_counter ? static_cast<std::uint64_t>(static_cast<double>(end - begin) * s.ns_per_tick)
                         : end - begin;
  }

  // True when readings come from the time-stamp counter.
  static bool uses_counter() { return state().use_counter; }

 private:
  struct State {
    bool use_counter = false;
    double ns_per_tick = 1.0;
  };

  static std::uint64_t steady_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  static bool counter_invariant() {
#if defined(__x86_64__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) == 0) {
      return false;
    }
    return (edx & (1u << 8)) != 0;
#else
    return false;
#endif
  }

  static State measure() {
    State s;
#if defined(__x86_64__)
    if (!counter_invariant()) {
      return s;
    }
    const std::uint64_t ns0 = steady_ns();
    const std::uint64_t t0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::uint64_t ns1 = steady_ns();
    const std::uint64_t t1 = __rdtsc();
    if (t1 > t0 && ns1 > ns0) {
      s.use_counter = true;
      s.ns_per_tick = static_cast<double>(ns1 - ns0) / static_cast<double>(t1 - t0);
    }
#endif
    return s;
  }

  static const State& state() {
    static const State s = measure();  // thread-safe initialisation
    return s;
  }
};

}  // namespace acd::dataplane
