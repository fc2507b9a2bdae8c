// The history store: the deriver's records in one SQLite database (WAL), written in batched
// transactions, each carrying the sequence number of the last log input it covers.
//
// Crash safety: records and last_seq are committed in the same transaction, so after a kill the
// database holds exactly the records of inputs 1..last_seq() — a prefix of the log — and a
// reader re-derives from last_seq() + 1 (the deriver rebuilt by replaying up to there: see
// history/DESIGN.md). Inserts are idempotent by record ID (seq, index): writing a record again
// is a no-op, so re-deriving an overlap is harmless.
//
// Schema: versioned by PRAGMA user_version (kSchemaVersion); an older file is migrated, a newer
// one refused. Times and durations are microseconds of the log; an absent queue or agent is NULL.
//
// Threading: one thread owns a Store (a control thread, never the routing core). Errors: every
// method that can fail returns false with a sentence in `why` and changes nothing (the
// transaction is rolled back).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "acd/history/records.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace acd::history {

// 2: the checkpoint table and the index by call ID (a version 1 file gains them when opened).
inline constexpr int kSchemaVersion = 2;

// The four kinds of record, for counts.
enum class RecordTable : std::uint8_t { Call = 0, AgentState = 1, QueueInterval = 2,
                                        AgentInterval = 3 };

struct StoreOptions {
  std::string path;     // the database file; created if missing (its directory must exist)
  bool durable = false;  // true: synchronous=FULL (survives power loss); false: NORMAL (a
                         // process kill loses nothing committed; a power cut may lose the last
                         // transactions, never consistency)
};

// Where a copy of records from another store stands: the table (kFetchTables of them: calls,
// agent states, queue intervals, agent intervals) and the first record ID (seq, idx) not yet
// copied in it; the copy covers the records of inputs from..through. Encoded on the wire as
// kFetchPositionBytes: u64 seq, u64 idx, u64 from, u64 through, u8 table (little-endian).
struct FetchPosition {
  std::uint8_t table = 0;
  std::uint64_t seq = 0;
  std::uint64_t idx = 0;
  std::uint64_t from = 0;
  std::uint64_t through = 0;
  bool operator==(const FetchPosition&) const = default;
};
inline constexpr std::uint8_t kFetchTables = 4;
inline constexpr std::size_t kFetchPositionBytes = 33;
void encode_position(const FetchPosition& p, std::vector<std::uint8_t>& out);
// False on a short input, a table >= kFetchTables, from > through, or seq outside from..through+1.
bool decode_position(std::span<const std::uint8_t> in, FetchPosition& p);

class Store {
 public:
  // Opens (creating or migrating) the database. nullptr with `why` on failure.
  static std::unique_ptr<Store> open(const StoreOptions& options, std::string& why);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Reads only (acdctl report): no schema is created or migrated, nothing is written (write
  // fails). Refuses a file without the schema (version 0) or with a newer one.
  static std::unique_ptr<Store> open_read_only(const std::string& path, std::string& why);

  // One transaction: every record in `records`, and last_seq = `through` (the last input the
  // records cover; never lowered). Records already stored (same ID) are left as they are.
  [[nodiscard]] bool write(const Records& records, std::uint64_t through, std::string& why);
  // The same, and when `checkpoint` is not empty it replaces the stored checkpoint, taken at
  // `through`, in the same transaction: the checkpoint and the records it covers commit together.
  [[nodiscard]] bool write(const Records& records, std::uint64_t through,
                           std::span<const std::uint8_t> checkpoint, std::string& why);
  // The last checkpoint written (opaque bytes: the feed's state) and its seq; seq 0 and no bytes
  // when none was written.
  [[nodiscard]] bool load_checkpoint(std::uint64_t& seq, std::vector<std::uint8_t>& state,
                                     std::string& why);

  // The last input whose records are all stored; 0 for a new database.
  std::uint64_t last_seq() const;

  // Retention: deletes the records whose time (call: arrived; state and interval: start) is
  // before `cutoff`, in one transaction; `deleted` says how many rows. A report over [from, to)
  // with from >= cutoff is unaffected.
  [[nodiscard]] bool delete_before(Micros cutoff, std::uint64_t& deleted, std::string& why);

  // PRAGMA integrity_check; false with its findings in `why`.
  [[nodiscard]] bool check_integrity(std::string& why);

  // Reads for reports, in ID order: records whose time (call: arrived; state: start; interval:
  // start) is in [from, to).
  [[nodiscard]] bool calls(Micros from, Micros to, std::vector<CallDetail>& out,
                           std::string& why);
  [[nodiscard]] bool agent_states(Micros from, Micros to, std::vector<AgentStateRecord>& out,
                                  std::string& why);
  [[nodiscard]] bool queue_intervals(Micros from, Micros to, std::vector<QueueInterval>& out,
                                     std::string& why);
  [[nodiscard]] bool agent_intervals(Micros from, Micros to, std::vector<AgentInterval>& out,
                                     std::string& why);
  // The same interval rows one at a time, in ID order; `visit` returns false to stop early.
  [[nodiscard]] bool each_queue_interval(Micros from, Micros to,
                                         const std::function<bool(const QueueInterval&)>& visit,
                                         std::string& why);
  [[nodiscard]] bool each_agent_interval(Micros from, Micros to,
                                         const std::function<bool(const AgentInterval&)>& visit,
                                         std::string& why);
  // The interval rows whose start is in [from, to) summed per queue (per agent) with add()
  // (measures.hpp), one sum per queue (agent) that has a row, in index order, its `queue`
  // (`agent`) set and its id and start those of a default row. `only`: that queue (agent) alone.
  // What `acdctl report queues|agents` prints; rows are summed as they are read, never held.
  [[nodiscard]] bool queue_totals(Micros from, Micros to, std::optional<QueueIndex> only,
                                  std::vector<QueueInterval>& out, std::string& why);
  [[nodiscard]] bool agent_totals(Micros from, Micros to, std::optional<AgentIndex> only,
                                  std::vector<AgentInterval>& out, std::string& why);
  // The same calls one at a time (a long export never holds them all); `visit` returns false to
  // stop early.
  [[nodiscard]] bool each_call(Micros from, Micros to,
                               const std::function<bool(const CallDetail&)>& visit,
                               std::string& why);
  // Every record of one call ID (the caller's IDs may come back on another day), in ID order.
  [[nodiscard]] bool call_by_id(CallId call, std::vector<CallDetail>& out, std::string& why);
  // The log's clock against the wall clock: records carry the log's microseconds (the sequencer's
  // steady time line), reports speak in wall-clock time. note_clock records that log time `log_us`
  // was wall time `wall_us` (µs since the Unix epoch), one transaction; clock() reads them back in
  // log order. A report maps a time through the last point at or before it.
  [[nodiscard]] bool note_clock(Micros log_us, std::int64_t wall_us, std::string& why);
  [[nodiscard]] bool clock(std::vector<std::pair<Micros, std::int64_t>>& out, std::string& why);
  // Records copied from another node's store: a standby whose log was begun again from its
  // primary's image at seq S has no records of the inputs before S (their records exist only in
  // the primary's database). The primary reads them in chunks (read_rows), the standby stores each
  // chunk and its next position in one transaction (import_rows), so the copy resumes after a
  // restart where it stood, and a record already here (same ID) is left as it is.
  //
  // The pending copy, if any (false only on a SQLite error).
  [[nodiscard]] bool pending_fetch(std::optional<FetchPosition>& out, std::string& why);
  // Asks for the records of inputs from..through (merged with a pending copy: the lower `from`,
  // the higher `through`, begun again from the first table; what was copied is ignored by ID).
  [[nodiscard]] bool begin_fetch(std::uint64_t from, std::uint64_t through, std::string& why);
  // Primary: the rows from `at` on (table by table, in ID order, only inputs <= at.through),
  // appended to `out` in the chunk encoding until it grows by `max_bytes` or more; `next` is
  // where the following chunk begins, `done` when nothing is left after it. The last chunk also
  // carries this store's clock points (at most 4,096), which the standby keeps where it has none
  // of its own (before its first), so its reports map the copied records' times as ours do.
  [[nodiscard]] bool read_rows(const FetchPosition& at, std::size_t max_bytes,
                               std::vector<std::uint8_t>& out, FetchPosition& next, bool& done,
                               std::string& why);
  // Standby: the rows of one chunk read from position `at` (the pending copy's), with `next` and
  // `done` as read_rows gave them, in one transaction with the new position (the copy ends when
  // `done`). Refused, changing nothing: `at` is not the pending position, `next` does not follow
  // it, a row malformed, of another table than the positions allow, or of an input after
  // at.through. `imported` says how many rows were new.
  [[nodiscard]] bool import_rows(const FetchPosition& at, std::span<const std::uint8_t> rows,
                                 const FetchPosition& next, bool done, std::uint64_t& imported,
                                 std::string& why);

  // How many records of `kind` a read over [from, to) returns.
  [[nodiscard]] bool count(RecordTable kind, Micros from, Micros to, std::uint64_t& n,
                           std::string& why);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  bool prepare(std::string& why);
  bool exec(const char* sql, std::string& why);
  bool period_seqs(const char* table, Micros from, Micros to, std::uint64_t& lo,
                   std::uint64_t& hi, bool& any, std::string& why);
  template <class OnRow>
  bool each_in_period(const char* table, const char* columns, Micros from, Micros to,
                      const char* what, std::string& why, OnRow on_row);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_call_ = nullptr;
  sqlite3_stmt* insert_state_ = nullptr;
  sqlite3_stmt* insert_queue_ = nullptr;
  sqlite3_stmt* insert_agent_ = nullptr;
  sqlite3_stmt* set_seq_ = nullptr;
  sqlite3_stmt* set_checkpoint_ = nullptr;
  std::uint64_t last_seq_ = 0;
  bool read_only_ = false;
};

}  // namespace acd::history
