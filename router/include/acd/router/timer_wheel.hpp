// A hierarchical timer wheel driven by event timestamps, for a fixed set of timer IDs.
//
// Four levels of 256 slots with a 1 ms tick cover 2^32 ms (49 days); later deadlines are parked in
// the last level and re-placed until due. Every ID (0..capacity-1) owns at most one armed timer;
// arming an armed ID moves it. Arming, cancelling and firing are O(1); advance() skips empty
// stretches of the innermost level with a bitmap, so an idle hour costs a few hundred steps.
//
// Determinism: timers due in the same tick fire in the order they were armed (or cascaded), and
// the whole wheel is plain arrays, so a snapshot restores the exact firing order.
//
// Single-threaded: one owner calls every method.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <vector>

#include "acd/router/types.hpp"

namespace acd::router {

class TimerWheel {
 public:
  static constexpr Micros kTickMicros = 1000;
  static constexpr int kLevels = 4;
  static constexpr int kSlotBits = 8;
  static constexpr std::uint32_t kSlots = 1u << kSlotBits;

  struct Node {
    Micros deadline = 0;
    std::uint64_t expire_tick = 0;
    std::uint32_t next = kNone;
    std::uint32_t prev = kNone;
    std::uint32_t slot = kNone;  // level * kSlots + index, kNone when not armed
    std::uint32_t reserved = 0;
  };
  static_assert(std::has_unique_object_representations_v<Node>);

  explicit TimerWheel(std::uint32_t capacity = 0) : nodes_(capacity) {
    heads_.fill(kNone);
    tails_.fill(kNone);
  }

  std::uint32_t capacity() const { return static_cast<std::uint32_t>(nodes_.size()); }
  bool armed(std::uint32_t id) const { return nodes_[id].slot != kNone; }
  Micros deadline(std::uint32_t id) const { return nodes_[id].deadline; }
  std::uint32_t armed_count() const { return armed_count_; }
  // All ticks up to and including this one have been processed.
  std::uint64_t current_tick() const { return current_tick_; }

  // Arms (or re-arms) timer `id` to fire once `deadline` has been reached. A deadline in the past
  // fires on the next tick.
  void arm(std::uint32_t id, Micros deadline) {
    if (armed(id)) {
      cancel(id);
    }
    Node& n = nodes_[id];
    n.deadline = deadline;
    n.expire_tick = (deadline + kTickMicros - 1) / kTickMicros;
    if (n.expire_tick <= current_tick_) {
      n.expire_tick = current_tick_ + 1;
    }
    place(id);
    ++armed_count_;
  }

  void cancel(std::uint32_t id) {
    if (!armed(id)) {
      return;
    }
    unlink(id);
    --armed_count_;
  }

  // Processes every tick up to `now`, calling fire(id, deadline) for each due timer in order.
  // fire may arm and cancel timers (including ones due in this same call).
  template <typename Fire>
  void advance(Micros now, Fire&& fire) {
    const std::uint64_t target = now / kTickMicros;
    while (current_tick_ < target) {
      if (armed_count_ == 0) {
        current_tick_ = target;
        return;
      }
      const std::uint64_t block_end = (current_tick_ | (kSlots - 1)) + 1;  // next multiple of 256
      const std::uint64_t limit = target < block_end - 1 ? target : block_end - 1;
      const std::uint64_t next = next_busy_tick(current_tick_ + 1, limit);
      if (next != 0) {
        current_tick_ = next;
      } else if (limit == target) {
        current_tick_ = target;
        return;
      } else {
        current_tick_ = block_end;
        cascade(block_end);
      }
      fire_slot(static_cast<std::uint32_t>(current_tick_ & (kSlots - 1)), fire);
    }
  }

  // Raw state for snapshots; restore only into a wheel of the same capacity.
  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  struct Header {
    std::uint64_t current_tick = 0;
    std::uint32_t armed_count = 0;
    std::uint32_t reserved = 0;
    std::array<std::uint32_t, kLevels * kSlots> heads;
    std::array<std::uint32_t, kLevels * kSlots> tails;
    std::array<std::uint64_t, kSlots / 64> level0_busy;
  };
  static_assert(std::has_unique_object_representations_v<Header>);
  Header header() const { return Header{current_tick_, armed_count_, 0, heads_, tails_, busy_}; }
  void set_header(const Header& h) {
    current_tick_ = h.current_tick;
    armed_count_ = h.armed_count;
    heads_ = h.heads;
    tails_ = h.tails;
    busy_ = h.level0_busy;
  }

 private:
  void place(std::uint32_t id) {
    Node& n = nodes_[id];
    const std::uint64_t cap = current_tick_ + 0xFFFF'FFFFull;
    const std::uint64_t expire = n.expire_tick < cap ? n.expire_tick : cap;
    const std::uint64_t delta = expire - current_tick_;
    int level = 0;
    while (level < kLevels - 1 && delta >= (1ull << (kSlotBits * (level + 1)))) {
      ++level;
    }
    const auto index = static_cast<std::uint32_t>((expire >> (kSlotBits * level)) & (kSlots - 1));
    const std::uint32_t slot = static_cast<std::uint32_t>(level) * kSlots + index;
    n.slot = slot;
    n.next = kNone;
    n.prev = tails_[slot];
    if (tails_[slot] == kNone) {
      heads_[slot] = id;
    } else {
      nodes_[tails_[slot]].next = id;
    }
    tails_[slot] = id;
    if (level == 0) {
      busy_[index / 64] |= 1ull << (index % 64);
    }
  }

  void unlink(std::uint32_t id) {
    Node& n = nodes_[id];
    const std::uint32_t slot = n.slot;
    if (n.prev == kNone) {
      heads_[slot] = n.next;
    } else {
      nodes_[n.prev].next = n.next;
    }
    if (n.next == kNone) {
      tails_[slot] = n.prev;
    } else {
      nodes_[n.next].prev = n.prev;
    }
    if (slot < kSlots && heads_[slot] == kNone) {
      busy_[slot / 64] &= ~(1ull << (slot % 64));
    }
    n.slot = kNone;
    n.next = kNone;
    n.prev = kNone;
  }

  // The first tick in [from, to] (same 256-tick block) whose level-0 slot holds timers, or 0.
  std::uint64_t next_busy_tick(std::uint64_t from, std::uint64_t to) const {
    if (from > to) {
      return 0;
    }
    auto i = static_cast<std::uint32_t>(from & (kSlots - 1));
    const auto last = static_cast<std::uint32_t>(to & (kSlots - 1));
    while (i <= last) {
      const std::uint64_t word = busy_[i / 64] >> (i % 64);
      if (word != 0) {
        const std::uint32_t found = i + static_cast<std::uint32_t>(std::countr_zero(word));
        return found <= last ? (from - (from & (kSlots - 1))) + found : 0;
      }
      i = (i / 64 + 1) * 64;
    }
    return 0;
  }

  // At a multiple of 256 ticks, moves the outer slots now coming due one level in.
  void cascade(std::uint64_t tick) {
    for (int level = 1; level < kLevels; ++level) {
      const auto index = static_cast<std::uint32_t>((tick >> (kSlotBits * level)) & (kSlots - 1));
      const std::uint32_t slot = static_cast<std::uint32_t>(level) * kSlots + index;
      std::uint32_t id = heads_[slot];
      heads_[slot] = kNone;
      tails_[slot] = kNone;
      while (id != kNone) {
        const std::uint32_t next = nodes_[id].next;
        place(id);
        id = next;
      }
      if (index != 0) {
        break;
      }
    }
  }

  template <typename Fire>
  void fire_slot(std::uint32_t index, Fire& fire) {
    while (heads_[index] != kNone) {
      const std::uint32_t id = heads_[index];
      if (nodes_[id].expire_tick > current_tick_) {
        // Parked beyond the wheel's reach: place again relative to now.
        unlink(id);
        place(id);
        continue;
      }
      unlink(id);
      --armed_count_;
      fire(id, nodes_[id].deadline);
    }
  }

  std::vector<Node> nodes_;
  std::array<std::uint32_t, kLevels * kSlots> heads_{};
  std::array<std::uint32_t, kLevels * kSlots> tails_{};
  std::array<std::uint64_t, kSlots / 64> busy_{};
  std::uint64_t current_tick_ = 0;
  std::uint32_t armed_count_ = 0;
};

}  // namespace acd::router
