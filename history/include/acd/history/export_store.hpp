// The history store as an export's back-log: the records not yet delivered are read again from
// the SQLite database the Store writes (store.hpp), through a second connection, in ID order; and
// the export's position — every record whose ID is below it has been delivered — is kept in the
// same database (table export_position, one row per export), so it survives a restart and can
// never run ahead of the records (it is only raised, after their delivery).
//
// Reads only what the Store committed: records of one input are committed together and in ID
// order, so a reader that resumes from the next ID after what it read misses nothing.
//
// Threading: one thread owns an ExportStore (the thread of its export). Errors: every method that
// can fail returns false with a sentence in `why` and changes nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "acd/history/records.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace acd::history {

class ExportStore {
 public:
  // Opens the history database at `path`, which a Store has created (its tables must exist), for
  // the export named `name` ("kafka"). nullptr with `why` on failure.
  static std::unique_ptr<ExportStore> open(const std::string& path, const std::string& name,
                                           std::string& why);
  ~ExportStore();
  ExportStore(const ExportStore&) = delete;
  ExportStore& operator=(const ExportStore&) = delete;

  // The first record not known delivered: every record with a smaller ID has been. {0, 0} for a
  // new export.
  RecordId position() const { return position_; }

  // Raises the position to `next` (a smaller one is ignored) in one transaction.
  [[nodiscard]] bool save_position(RecordId next, std::string& why);

  // Appends to `out` the `limit` records (or fewer) with the smallest IDs at or above `from`, of
  // every type. Each of out's vectors is in ID order.
  [[nodiscard]] bool read(RecordId from, std::size_t limit, Records& out, std::string& why);

  // How many records have an ID at or above `from` (the back-log when from = position()).
  [[nodiscard]] bool count(RecordId from, std::uint64_t& n, std::string& why);

 private:
  explicit ExportStore(sqlite3* db, std::string name) : db_(db), name_(std::move(name)) {}

  sqlite3* db_ = nullptr;
  std::string name_;
  RecordId position_;
};

}  // namespace acd::history
