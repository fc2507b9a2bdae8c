// Where committed history records go after the store: the seam for exporters (a message bus, a
// data warehouse). The feed's runner calls a RecordSink on its own thread (the history thread,
// never the routing core) right after each store transaction commits, with exactly the records
// that transaction covered and the seq it raised last_seq to.
//
// Contract for an implementation:
// * on_committed must not block for long: it runs on the history thread, and while it runs no
//   record is derived or stored (the routing core is never held up, only history's lag grows).
//   An exporter copies or queues the records and returns.
// * Records arrive in commit order; after a restart or a failover the runner re-derives from its
//   checkpoint, so a sink may see records again (same IDs: RecordId makes duplicates detectable).
//   A sink that needs exactly-once keeps its own position (the last seq it delivered) and skips
//   what is at or below it.
// * It is called with the history thread's objects only; it may not keep references into
//   `records` after it returns.
#pragma once

#include <cstdint>

#include "acd/history/records.hpp"

namespace acd::history {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // The store committed `records`, and every record of inputs 1..through is now stored.
  virtual void on_committed(const Records& records, std::uint64_t through) = 0;
  // The history thread is caught up and about to sleep (every idle_wait, ~20 ms): time for a
  // sink's timers. The same rule as on_committed: return soon.
  virtual void on_idle() {}
  // The history thread is stopping, after its last commit: the last call on this thread. A sink
  // may wait here (briefly: shutdown waits with it) to hand over what it holds.
  virtual void on_stop() {}
  // The log carries an export's position (dataplane RecordKind::ExportPosition, logged by the
  // node that was primary when it wrote it): every record with an ID below `next` was delivered
  // by that node's export. Called when the runner reads the record, which may be before the
  // records below `next` are committed here. Positions arrive in log order; after a restart the
  // runner may pass old ones again (a sink never moves its own position back).
  virtual void on_export_position(RecordId /*next*/) {}
};

}  // namespace acd::history
