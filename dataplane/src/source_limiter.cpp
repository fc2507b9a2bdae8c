// Per-source token buckets for handshake inits: a set-associative table keyed by a secret hash of
// the source address.
#include "acd/dataplane/source_limiter.hpp"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include "acd/dataplane/secure_keys.hpp"

namespace acd::dataplane {

namespace {
constexpr std::uint64_t kUnit = 1'000'000'000;  // one init, in token units (ns at 1 init/s)
static_assert(crypto_shorthash_KEYBYTES == 16 && crypto_shorthash_BYTES == 8);
}  // namespace

SourceRateLimiter::SourceRateLimiter(Limits limits, std::size_t sources)
    : limits_(limits),
      capacity_units_(std::uint64_t{limits.burst} * kUnit),
      sets_(std::bit_ceil(std::max(sources, kWays)) / kWays),
      buckets_(std::make_unique<Bucket[]>(sets_ * kWays)) {
  assert(limits.per_second >= 1 && limits.burst >= 1);
  secure::ensure_sodium();
  crypto_shorthash_keygen(hash_key_.data());
}

std::uint64_t SourceRateLimiter::refilled(const Bucket& b, std::uint64_t now_ns) const {
  const std::uint64_t elapsed = now_ns > b.updated_ns ? now_ns - b.updated_ns : 0;
  const std::uint64_t room = capacity_units_ - b.tokens;
  // elapsed * rate could overflow after a long quiet time: compare before multiplying.
  if (elapsed >= room / limits_.per_second + 1) {
    return capacity_units_;
  }
  return std::min(capacity_units_, b.tokens + elapsed * limits_.per_second);
}

bool SourceRateLimiter::allow(std::uint32_t address, std::uint64_t now_ns) {
  std::uint8_t digest[crypto_shorthash_BYTES];
  crypto_shorthash(digest, reinterpret_cast<const unsigned char*>(&address), sizeof address,
                   hash_key_.data());
  std::uint64_t h = 0;
  std::memcpy(&h, digest, sizeof h);
  Bucket* set = &buckets_[(h & (sets_ - 1)) * kWays];
  Bucket* bucket = nullptr;
  for (std::size_t w = 0; w < kWays; ++w) {
    if (set[w].used && set[w].address == address) {
      bucket = &set[w];
      break;
    }
  }
  if (bucket == nullptr) {
    // A source not tracked: a free way, else the way of the quietest source (the fullest bucket).
    std::uint64_t fullest = 0;
    for (std::size_t w = 0; w < kWays; ++w) {
      if (!set[w].used) {
        bucket = &set[w];
        break;
      }
      const std::uint64_t t = refilled(set[w], now_ns);
      if (bucket == nullptr || t > fullest) {
        bucket = &set[w];
        fullest = t;
      }
    }
    bucket->used = true;
    bucket->address = address;
    bucket->tokens = capacity_units_;
    bucket->updated_ns = now_ns;
  }
  bucket->tokens = refilled(*bucket, now_ns);
  bucket->updated_ns = std::max(bucket->updated_ns, now_ns);
  if (bucket->tokens < kUnit) {
    return false;
  }
  bucket->tokens -= kUnit;
  return true;
}

std::size_t SourceRateLimiter::tracked() const {
  return static_cast<std::size_t>(
      std::count_if(buckets_.get(), buckets_.get() + capacity(), [](const Bucket& b) {
        return b.used;
      }));
}

}  // namespace acd::dataplane
