// Internal: the 64-bit mixer (splitmix64's finaliser) used for the call-ID map and treap
// priorities.
#pragma once

#include <cstdint>

namespace acd::router {

constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace acd::router
