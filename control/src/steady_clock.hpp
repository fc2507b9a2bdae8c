// The steady clock in nanoseconds: the time base of snapshots, uptime and rate samples.
#pragma once

#include <chrono>
#include <cstdint>

namespace acd::control {

inline std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace acd::control
