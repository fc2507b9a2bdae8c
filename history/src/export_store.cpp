// The history store read as an export's back-log (records from an ID on, their count) and the
// export's position in table export_position.
#include "acd/history/export_store.hpp"

#include <sqlite3.h>

#include <algorithm>

#include "rows.hpp"

namespace acd::history {

namespace {

using rows::Columns;
using rows::Statement;

constexpr const char* kPositionTable =
    "CREATE TABLE IF NOT EXISTS export_position (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
    "idx INTEGER NOT NULL) WITHOUT ROWID";

// Never lowered: a position is raised only after delivery, and a stale one (an old primary's,
// learned late) must not undo a newer one.
constexpr const char* kSavePosition =
    "INSERT INTO export_position VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET "
    "seq = excluded.seq, idx = excluded.idx WHERE (excluded.seq, excluded.idx) > (seq, idx)";

constexpr const char* kTables[] = {"calls", "agent_states", "queue_intervals", "agent_intervals"};

std::string failure(sqlite3* db, const std::string& what) {
  return what + ": " + sqlite3_errmsg(db);
}

// Up to `limit` rows of one table with ID >= from, in ID order, each handed to `row`; false with
// `why` on an error (or when `row` refuses one).
template <class OnRow>
bool scan(sqlite3* db, const char* table, const char* columns, RecordId from, std::size_t limit,
          std::string& why, OnRow row) {
  Statement s(db, std::string("SELECT ") + columns + " FROM " + table +
                      " WHERE (seq, idx) >= (?1, ?2) ORDER BY seq, idx LIMIT ?3");
  if (!s.ok()) {
    why = failure(db, std::string("reading the export back-log from ") + table);
    return false;
  }
  s.bind(1, from.seq);
  s.bind(2, from.index);
  s.bind(3, limit);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    Columns r(s.get());
    if (!row(r, why)) {
      return false;
    }
  }
  if (rc != SQLITE_DONE) {
    why = failure(db, std::string("reading the export back-log from ") + table);
    return false;
  }
  return true;
}

// Drops the records of `v` with an ID above `last`.
template <class T>
void cut(std::vector<T>& v, std::size_t keep_from, RecordId last) {
  auto it = std::find_if(v.begin() + static_cast<std::ptrdiff_t>(keep_from), v.end(),
                         [&](const T& r) { return r.id > last; });
  v.erase(it, v.end());
}

}  // namespace

std::unique_ptr<ExportStore> ExportStore::open(const std::string& path, const std::string& name,
                                               std::string& why) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    why = "cannot open history database " + path +
          " for export: " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<ExportStore> store(new ExportStore(db, name));
  sqlite3_busy_timeout(db, 5000);
  for (const char* table : kTables) {
    Statement s(db, std::string("SELECT 1 FROM ") + table + " LIMIT 1");
    if (!s.ok()) {
      why = path + " is not a history database the store has opened (" + sqlite3_errmsg(db) +
            "); open the history store first";
      return nullptr;
    }
  }
  char* err = nullptr;
  if (sqlite3_exec(db, kPositionTable, nullptr, nullptr, &err) != SQLITE_OK) {
    why = path + ": creating export_position: " + (err != nullptr ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return nullptr;
  }
  Statement s(db, "SELECT seq, idx FROM export_position WHERE name = ?1");
  if (!s.ok()) {
    why = failure(db, path + ": reading export_position");
    return nullptr;
  }
  sqlite3_bind_text(s.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  const int rc = s.step();
  if (rc == SQLITE_ROW) {
    store->position_.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    store->position_.index = static_cast<std::uint32_t>(sqlite3_column_int64(s.get(), 1));
  } else if (rc != SQLITE_DONE) {
    why = failure(db, path + ": reading export_position");
    return nullptr;
  }
  return store;
}

ExportStore::~ExportStore() {
  sqlite3_close(db_);
}

bool ExportStore::save_position(RecordId next, std::string& why) {
  if (next <= position_) {
    return true;
  }
  Statement s(db_, kSavePosition);
  if (!s.ok()) {
    why = failure(db_, "saving the export position");
    return false;
  }
  sqlite3_bind_text(s.get(), 1, name_.data(), static_cast<int>(name_.size()), SQLITE_TRANSIENT);
  s.bind(2, next.seq);
  s.bind(3, next.index);
  if (s.step() != SQLITE_DONE) {
    why = failure(db_, "saving the export position");
    return false;
  }
  position_ = next;
  return true;
}

bool ExportStore::read(RecordId from, std::size_t limit, Records& out, std::string& why) {
  if (limit == 0) {
    return true;
  }
  const std::size_t c0 = out.calls.size();
  const std::size_t s0 = out.states.size();
  const std::size_t q0 = out.queue_intervals.size();
  const std::size_t a0 = out.agent_intervals.size();
  // One read transaction, so the four tables are seen at the same commit.
  char* err = nullptr;
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, &err) != SQLITE_OK) {
    why = std::string("reading the export back-log: ") + (err != nullptr ? err : "");
    sqlite3_free(err);
    return false;
  }
  bool ok =
      scan(db_, "calls", rows::kCallColumns, from, limit, why,
           [&](Columns& r, std::string& w) {
             CallDetail c;
             if (!rows::read_call(r, c, w)) {
               return false;
             }
             out.calls.push_back(std::move(c));
             return true;
           }) &&
      scan(db_, "agent_states", rows::kStateColumns, from, limit, why,
           [&](Columns& r, std::string&) {
             rows::read_state(r, out.states.emplace_back());
             return true;
           }) &&
      scan(db_, "queue_intervals", rows::kQueueColumns, from, limit, why,
           [&](Columns& r, std::string&) {
             rows::read_queue(r, out.queue_intervals.emplace_back());
             return true;
           }) &&
      scan(db_, "agent_intervals", rows::kAgentColumns, from, limit, why,
           [&](Columns& r, std::string& w) {
             AgentInterval a;
             if (!rows::read_agent(r, a, w)) {
               return false;
             }
             out.agent_intervals.push_back(a);
             return true;
           });
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (!ok) {
    out.calls.resize(c0);
    out.states.resize(s0);
    out.queue_intervals.resize(q0);
    out.agent_intervals.resize(a0);
    return false;
  }
  // Keep the `limit` smallest IDs of the four reads: the limit-th smallest is the last kept.
  std::vector<RecordId> ids;
  for (std::size_t i = c0; i < out.calls.size(); ++i) {
    ids.push_back(out.calls[i].id);
  }
  for (std::size_t i = s0; i < out.states.size(); ++i) {
    ids.push_back(out.states[i].id);
  }
  for (std::size_t i = q0; i < out.queue_intervals.size(); ++i) {
    ids.push_back(out.queue_intervals[i].id);
  }
  for (std::size_t i = a0; i < out.agent_intervals.size(); ++i) {
    ids.push_back(out.agent_intervals[i].id);
  }
  if (ids.size() > limit) {
    std::nth_element(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(limit - 1), ids.end());
    const RecordId last = ids[limit - 1];
    cut(out.calls, c0, last);
    cut(out.states, s0, last);
    cut(out.queue_intervals, q0, last);
    cut(out.agent_intervals, a0, last);
  }
  return true;
}

bool ExportStore::count(RecordId from, std::uint64_t& n, std::string& why) {
  n = 0;
  for (const char* table : kTables) {
    Statement s(db_,
                std::string("SELECT count(*) FROM ") + table + " WHERE (seq, idx) >= (?1, ?2)");
    if (!s.ok()) {
      why = failure(db_, "counting the export back-log");
      return false;
    }
    s.bind(1, from.seq);
    s.bind(2, from.index);
    if (s.step() != SQLITE_ROW) {
      why = failure(db_, "counting the export back-log");
      return false;
    }
    n += static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
  }
  return true;
}

}  // namespace acd::history
