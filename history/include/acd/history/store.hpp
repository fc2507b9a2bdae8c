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
#include <memory>
#include <string>
#include <vector>

#include "acd/history/records.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace acd::history {

inline constexpr int kSchemaVersion = 1;

struct StoreOptions {
  std::string path;     // the database file; created if missing (its directory must exist)
  bool durable = false;  // true: synchronous=FULL (survives power loss); false: NORMAL (a
                         // process kill loses nothing committed; a power cut may lose the last
                         // transactions, never consistency)
};

class Store {
 public:
  // Opens (creating or migrating) the database. nullptr with `why` on failure.
  static std::unique_ptr<Store> open(const StoreOptions& options, std::string& why);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // One transaction: every record in `records`, and last_seq = `through` (the last input the
  // records cover; never lowered). Records already stored (same ID) are left as they are.
  [[nodiscard]] bool write(const Records& records, std::uint64_t through, std::string& why);

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

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  bool prepare(std::string& why);
  bool exec(const char* sql, std::string& why);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_call_ = nullptr;
  sqlite3_stmt* insert_state_ = nullptr;
  sqlite3_stmt* insert_queue_ = nullptr;
  sqlite3_stmt* insert_agent_ = nullptr;
  sqlite3_stmt* set_seq_ = nullptr;
  std::uint64_t last_seq_ = 0;
};

}  // namespace acd::history
