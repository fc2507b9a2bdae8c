// An export's position carried by the sequenced log (RecordKind::ExportPosition): the first
// history record the primary's export has not yet had acknowledged — every record with a smaller
// ID (history::RecordId: the seq of the input that closed it, its index among that input's
// records) has been delivered. The log carries it so that a standby, whose history derives the
// same records with the same IDs, knows where the primary's export stood and resumes from there
// after a takeover: at least once, the duplicates bounded by how often the position is logged.
//
// ExportPositionChannel: how the history thread hands a position to the IO thread, which
// sequences it. A bounded single-producer single-consumer ring (Boost.Lockfree): offer() never
// blocks and drops the position when the ring is full (a later, higher one follows; the log needs
// only the latest), take_latest() pops everything and keeps the highest. No allocation after
// construction, no lock.
//
// Threading: offer() on one producer thread (the history thread), take_latest() on one consumer
// thread (the IO thread). Nothing else.
#pragma once

#include <compare>
#include <cstdint>

#include <boost/lockfree/spsc_queue.hpp>

namespace acd::dataplane {

struct ExportPosition {
  std::uint64_t seq = 0;    // the input that closed the first record not known delivered
  std::uint32_t index = 0;  // that record's index among the input's records
  auto operator<=>(const ExportPosition&) const = default;
  bool empty() const { return seq == 0; }
};

class ExportPositionChannel {
 public:
  static constexpr std::size_t kCapacity = 16;

  // The producer: false (nothing queued) if the ring is full.
  bool offer(ExportPosition position) { return ring_.push(position); }

  // The consumer: the highest position offered since the last call, or an empty one.
  ExportPosition take_latest() {
    ExportPosition latest;
    ring_.consume_all([&](const ExportPosition& p) {
      if (p > latest) {
        latest = p;
      }
    });
    return latest;
  }

 private:
  boost::lockfree::spsc_queue<ExportPosition, boost::lockfree::capacity<kCapacity>> ring_;
};

}  // namespace acd::dataplane
