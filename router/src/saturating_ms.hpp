// Milliseconds for the day's figures (32 bits: a day fits): a duration in µs converted, and sums,
// that saturate at 2^32 - 1 rather than wrap. Internal to the engine's .cpp files.
#pragma once

#include <cstdint>

#include "acd/router/types.hpp"

namespace acd::router::detail {

inline std::uint32_t to_ms(Micros us) {
  const Micros ms = us / 1000;
  return ms > 0xFFFF'FFFFull ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(ms);
}

inline void add_ms(std::uint32_t& counter, std::uint32_t ms) {
  const std::uint64_t sum = static_cast<std::uint64_t>(counter) + ms;
  counter = sum > 0xFFFF'FFFFull ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(sum);
}

}  // namespace acd::router::detail
