// A fixed-capacity map from a non-zero 64-bit ID to a 32-bit value: open addressing with linear
// probing, kept at most half full, and backward-shift deletion (no tombstones, so lookups stay
// short for ever). No allocation after construction; the slots are plain data, so the owner can
// hash and snapshot them. Iteration order is never used, so it cannot leak into decisions.
//
// Single-threaded.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "acd/router/mix.hpp"

namespace acd::router {

class IdMap {
 public:
  static constexpr std::uint32_t kMissing = 0xFFFF'FFFFu;

  struct Slot {
    std::uint64_t key = 0;  // 0 = empty
    std::uint32_t value = kMissing;
    std::uint32_t reserved = 0;
  };
  static_assert(std::has_unique_object_representations_v<Slot>);

  // Room for `capacity` entries.
  explicit IdMap(std::size_t capacity = 0) {
    std::size_t size = 16;
    while (size < 2 * capacity) {
      size *= 2;
    }
    slots_.resize(size);
  }

  std::uint32_t find(std::uint64_t key) const {
    if (key == 0) {
      return kMissing;
    }
    for (std::size_t i = home(key);; i = next(i)) {
      if (slots_[i].key == key) {
        return slots_[i].value;
      }
      if (slots_[i].key == 0) {
        return kMissing;
      }
    }
  }

  // A hint that find(key) follows soon: fetches the key's home slot into the cache.
  void prefetch(std::uint64_t key) const {
    if (!slots_.empty()) {
      __builtin_prefetch(&slots_[home(key)]);
    }
  }

  // Precondition: key != 0, not present, and fewer than `capacity` entries.
  void insert(std::uint64_t key, std::uint32_t value) {
    std::size_t i = home(key);
    while (slots_[i].key != 0) {
      i = next(i);
    }
    slots_[i] = Slot{key, value, 0};
    ++size_;
  }

  // Removes the key if present.
  void erase(std::uint64_t key) {
    if (key == 0) {
      return;
    }
    std::size_t i = home(key);
    while (slots_[i].key != key) {
      if (slots_[i].key == 0) {
        return;
      }
      i = next(i);
    }
    std::size_t hole = i;
    for (std::size_t j = next(hole); slots_[j].key != 0; j = next(j)) {
      const std::size_t h = home(slots_[j].key);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  std::size_t size() const { return size_; }
  std::vector<Slot>& slots() { return slots_; }
  const std::vector<Slot>& slots() const { return slots_; }
  std::size_t& size_ref() { return size_; }

 private:
  std::size_t home(std::uint64_t key) const { return mix64(key) & (slots_.size() - 1); }
  std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace acd::router
