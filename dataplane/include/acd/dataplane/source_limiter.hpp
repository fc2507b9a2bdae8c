// Per-source rate limits for ACDP/2 handshake inits (docs/security.md, "What acd does under a
// flood"): a token bucket per source IPv4 address in a fixed table, so that one source sending
// inits as fast as it can gets a few through a second and never fills the handshake worker's
// ring, while every other source keeps its own allowance.
//
// The table is set-associative: a source's set is chosen by a hash keyed with a random secret
// made at construction (SipHash-2-4, crypto_shorthash), so a sender cannot pick addresses that
// share a set. A set holds kWays sources; a new source takes a free way, else the way whose
// bucket is the fullest (the quietest source, which then starts again with a full bucket: an
// eviction never costs anyone an init, it can only give a quiet source a fresh allowance). A
// source that floods keeps its way, as its bucket is the emptiest of its set.
//
// Threads: one (the IO thread); not synchronised. Allocates only in the constructor; allow()
// never allocates, never throws and takes constant time. Time is given by the caller (a
// monotonic clock in nanoseconds), so tests run on a virtual clock.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace acd::dataplane {

class SourceRateLimiter {
 public:
  struct Limits {
    std::uint32_t per_second = 50;  // inits a source may send per second, sustained (>= 1)
    std::uint32_t burst = 500;      // inits a source may send at once after a quiet time (>= 1)
  };
  static constexpr std::size_t kWays = 4;

  // `sources`: how many sources the table tracks at once, rounded up to a power of two (at least
  // kWays). Preconditions: limits.per_second >= 1, limits.burst >= 1.
  explicit SourceRateLimiter(Limits limits, std::size_t sources = 4096);

  // True if one more init from `address` (network byte order, as in Endpoint) may pass at
  // `now_ns`; takes one token from its bucket. False: the source is over its limit (nothing
  // taken). `now_ns` must not go backwards (a smaller value is taken as no time passed).
  bool allow(std::uint32_t address, std::uint64_t now_ns);

  // How many sources the table holds now (tests and diagnostics).
  std::size_t tracked() const;
  std::size_t capacity() const { return sets_ * kWays; }

 private:
  struct Bucket {
    std::uint64_t tokens = 0;      // in units of 1/10^9 init
    std::uint64_t updated_ns = 0;  // when `tokens` was last brought up to date
    std::uint32_t address = 0;
    bool used = false;
  };
  // `b`'s tokens at `now_ns` (refilled, capped at the burst); changes nothing.
  std::uint64_t refilled(const Bucket& b, std::uint64_t now_ns) const;

  Limits limits_;
  std::uint64_t capacity_units_;  // burst * 10^9
  std::size_t sets_;
  std::unique_ptr<Bucket[]> buckets_;
  std::array<std::uint8_t, 16> hash_key_{};  // crypto_shorthash_KEYBYTES
};

}  // namespace acd::dataplane
