// The history store on SQLite: schema and its version, batched idempotent inserts with the last
// applied seq in the same transaction, retention, and the reads reports use.
#include "acd/history/store.hpp"

#include <sqlite3.h>

#include <charconv>
#include <cstring>
#include <functional>

#include "acd/history/measures.hpp"
#include "rows.hpp"

namespace acd::history {

using rows::Columns;
using rows::Statement;

namespace {

// Version 1. Each record table is keyed by the record ID (seq, idx), so an insert of a record
// already there is ignored.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('last_seq', 0);
CREATE TABLE IF NOT EXISTS calls (
  seq INTEGER NOT NULL, idx INTEGER NOT NULL, call INTEGER NOT NULL, outbound INTEGER NOT NULL,
  verification INTEGER NOT NULL, priority INTEGER NOT NULL, tier INTEGER NOT NULL,
  outcome INTEGER NOT NULL, status INTEGER NOT NULL, overflow_action INTEGER NOT NULL,
  overflow_target INTEGER NOT NULL, arrived INTEGER NOT NULL, answered INTEGER NOT NULL,
  ended INTEGER NOT NULL, first_queue INTEGER, last_queue INTEGER, first_agent INTEGER,
  last_agent INTEGER, offers INTEGER NOT NULL, ring_no_answers INTEGER NOT NULL,
  overflows INTEGER NOT NULL, transfers INTEGER NOT NULL, holds INTEGER NOT NULL,
  wait_us INTEGER NOT NULL, talk_us INTEGER NOT NULL, hold_us INTEGER NOT NULL,
  wrap_us INTEGER NOT NULL, wrap INTEGER NOT NULL, disposition INTEGER NOT NULL,
  note INTEGER NOT NULL, path TEXT NOT NULL,
  PRIMARY KEY (seq, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS calls_arrived ON calls (arrived);
CREATE TABLE IF NOT EXISTS agent_states (
  seq INTEGER NOT NULL, idx INTEGER NOT NULL, agent INTEGER NOT NULL, state INTEGER NOT NULL,
  reason INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
  PRIMARY KEY (seq, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agent_states_start ON agent_states (start);
CREATE TABLE IF NOT EXISTS queue_intervals (
  seq INTEGER NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL, queue INTEGER NOT NULL,
  offered INTEGER NOT NULL, answered INTEGER NOT NULL, answered_in_sl INTEGER NOT NULL,
  abandoned INTEGER NOT NULL, short_abandoned INTEGER NOT NULL, overflowed_out INTEGER NOT NULL,
  handled INTEGER NOT NULL, wait_answered_us INTEGER NOT NULL, max_wait_us INTEGER NOT NULL,
  talk_us INTEGER NOT NULL, hold_us INTEGER NOT NULL, wrap_us INTEGER NOT NULL,
  PRIMARY KEY (seq, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_intervals_start ON queue_intervals (start);
CREATE TABLE IF NOT EXISTS agent_intervals (
  seq INTEGER NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL, agent INTEGER NOT NULL,
  handled INTEGER NOT NULL, no_answer INTEGER NOT NULL, transfers_out INTEGER NOT NULL,
  talk_us INTEGER NOT NULL, hold_us INTEGER NOT NULL, wrap_us INTEGER NOT NULL,
  logged_out_us INTEGER NOT NULL, not_ready_us INTEGER NOT NULL, ready_us INTEGER NOT NULL,
  reserved_us INTEGER NOT NULL, busy_us INTEGER NOT NULL, wrap_up_us INTEGER NOT NULL,
  not_ready_by_reason TEXT NOT NULL,
  PRIMARY KEY (seq, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agent_intervals_start ON agent_intervals (start);
CREATE TABLE IF NOT EXISTS checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 0), seq INTEGER NOT NULL, state BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS calls_call ON calls (call);
CREATE TABLE IF NOT EXISTS clock (log_us INTEGER PRIMARY KEY, wall_us INTEGER NOT NULL);
)sql";
// Version 2 added the checkpoint table and the index by call ID; both are created above when a
// version 1 file is opened for writing.

constexpr const char* kInsertCall =
    "INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
    "?,?,?)";
constexpr const char* kInsertState = "INSERT OR IGNORE INTO agent_states VALUES (?,?,?,?,?,?,?)";
constexpr const char* kInsertQueue =
    "INSERT OR IGNORE INTO queue_intervals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr const char* kInsertAgent =
    "INSERT OR IGNORE INTO agent_intervals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
constexpr const char* kSetCheckpoint =
    "INSERT OR REPLACE INTO checkpoint VALUES (0, ?, ?)";
constexpr const char* kSetSeq =
    "UPDATE meta SET value = max(value, ?) WHERE key = 'last_seq'";

std::string message(sqlite3* db, const char* what) {
  return std::string(what) + ": " + sqlite3_errmsg(db);
}

// Binds the next parameters of one statement, in order.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) { sqlite3_reset(s_); }
  Binder& i(std::uint64_t v) {
    sqlite3_bind_int64(s_, ++n_, static_cast<sqlite3_int64>(v));
    return *this;
  }
  Binder& index(std::uint32_t v) {  // a queue or agent index; kNone is NULL
    if (v == router::kNone) {
      sqlite3_bind_null(s_, ++n_);
    } else {
      sqlite3_bind_int64(s_, ++n_, v);
    }
    return *this;
  }
  Binder& text(const std::string& v) {
    sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() { return sqlite3_step(s_) == SQLITE_DONE; }

 private:
  sqlite3_stmt* s_;
  int n_ = 0;
};

// "SELECT columns FROM table WHERE key >= from AND key < to ORDER BY seq, idx"
std::string range(const char* columns, const char* table, const char* key) {
  return std::string("SELECT ") + columns + " FROM " + table + " WHERE " + key + " >= ?1 AND " +
         key + " < ?2 ORDER BY seq, idx";
}

// What a visitor of rows says after one.
enum class Next { Row, Stop, Fail };  // Fail: it has set `why`

// Each row of q handed to `row`; false with `why` on a SQLite error or when `row` fails.
template <class OnRow>
bool each_row(sqlite3* db, Statement& q, const char* what, std::string& why, OnRow row) {
  if (!q.ok()) {
    why = message(db, what);
    return false;
  }
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    Columns c(q.get());
    const Next next = row(c);
    if (next != Next::Row) {
      return next == Next::Stop;
    }
  }
  if (rc != SQLITE_DONE) {
    why = message(db, what);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Store> Store::open_read_only(const std::string& path, std::string& why) {
  sqlite3* db = nullptr;
  // One thread reads (acdctl): no connection mutex.
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    why = "cannot open history database " + path + ": " +
          (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<Store> store(new Store(db));
  store->read_only_ = true;
  sqlite3_busy_timeout(db, 5000);
  int version = -1;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    version = sqlite3_column_int(s, 0);
  }
  sqlite3_finalize(s);
  if (version < 0) {
    why = path + " is not a history database: " + sqlite3_errmsg(db);
    return nullptr;
  }
  if (version == 0) {
    why = path + " is not a history database (no schema): is [history] enabled in acdd?";
    return nullptr;
  }
  if (version > kSchemaVersion) {
    why = path + " has history schema version " + std::to_string(version) +
          ", newer than this program's " + std::to_string(kSchemaVersion) + "; use a newer acd";
    return nullptr;
  }
  s = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'last_seq'", -1, &s, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    store->last_seq_ = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
  }
  sqlite3_finalize(s);
  // A report reads much of the file once: map it (up to 1 GiB) rather than copy every page into
  // the page cache. Only a speed-up: without it (the pragma refused) SQLite reads as before.
  std::string ignored;
  (void)store->exec("PRAGMA mmap_size = 1073741824", ignored);
  return store;
}

std::unique_ptr<Store> Store::open(const StoreOptions& options, std::string& why) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    why = "cannot open history database " + options.path + ": " +
          (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  std::string err;
  // The version first: a file that is not a database fails here, a newer schema is refused.
  int version = -1;
  {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      version = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
  }
  if (version < 0) {
    why = options.path + " is not a history database: " + sqlite3_errmsg(db);
    return nullptr;
  }
  if (version > kSchemaVersion) {
    why = options.path + " has history schema version " + std::to_string(version) +
          ", newer than this program's " + std::to_string(kSchemaVersion) + "; use a newer acd";
    return nullptr;
  }
  const std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                              (options.durable ? "FULL" : "NORMAL") +
                              "; PRAGMA cache_size=-65536;";
  if (!store->exec(pragmas.c_str(), err) || !store->exec("BEGIN IMMEDIATE", err) ||
      !store->exec(kSchema, err) ||
      !store->exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str(), err) ||
      !store->exec("COMMIT", err)) {
    why = options.path + ": " + err;
    return nullptr;
  }
  if (!store->prepare(err)) {
    why = options.path + ": " + err;
    return nullptr;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'last_seq'", -1, &s, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    store->last_seq_ = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
  }
  sqlite3_finalize(s);
  return store;
}

Store::~Store() {
  sqlite3_finalize(insert_call_);
  sqlite3_finalize(insert_state_);
  sqlite3_finalize(insert_queue_);
  sqlite3_finalize(insert_agent_);
  sqlite3_finalize(set_seq_);
  sqlite3_finalize(set_checkpoint_);
  sqlite3_close(db_);
}

bool Store::exec(const char* sql, std::string& why) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    why = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return false;
  }
  return true;
}

bool Store::prepare(std::string& why) {
  const std::pair<const char*, sqlite3_stmt**> all[] = {{kInsertCall, &insert_call_},
                                                        {kInsertState, &insert_state_},
                                                        {kInsertQueue, &insert_queue_},
                                                        {kInsertAgent, &insert_agent_},
                                                        {kSetSeq, &set_seq_},
                                                        {kSetCheckpoint, &set_checkpoint_}};
  for (const auto& [sql, stmt] : all) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK) {
      why = message(db_, "preparing a statement");
      return false;
    }
  }
  return true;
}

std::uint64_t Store::last_seq() const { return last_seq_; }

bool Store::write(const Records& records, std::uint64_t through, std::string& why) {
  return write(records, through, {}, why);
}

bool Store::write(const Records& records, std::uint64_t through,
                  std::span<const std::uint8_t> checkpoint, std::string& why) {
  if (read_only_) {
    why = "history write: the database is open read-only";
    return false;
  }
  if (!exec("BEGIN IMMEDIATE", why)) {
    why = "history write: " + why;
    return false;
  }
  bool ok = true;
  for (const CallDetail& c : records.calls) {
    if (!ok) {
      break;
    }
    ok = Binder(insert_call_)
             .i(c.id.seq)
             .i(c.id.index)
             .i(c.call)
             .i(c.outbound ? 1 : 0)
             .i(c.verification)
             .i(c.priority)
             .i(c.tier)
             .i(static_cast<std::uint64_t>(c.outcome))
             .i(static_cast<std::uint64_t>(c.status))
             .i(static_cast<std::uint64_t>(c.overflow_action))
             .i(c.overflow_target)
             .i(c.arrived)
             .i(c.answered)
             .i(c.ended)
             .index(c.first_queue)
             .index(c.last_queue)
             .index(c.first_agent)
             .index(c.last_agent)
             .i(c.offers)
             .i(c.ring_no_answers)
             .i(c.overflows)
             .i(c.transfers)
             .i(c.holds)
             .i(c.wait_us)
             .i(c.talk_us)
             .i(c.hold_us)
             .i(c.wrap_us)
             .i(static_cast<std::uint64_t>(c.wrap))
             .i(c.disposition)
             .i(c.note)
             .text(rows::encode_path(c.path))
             .step();
  }
  for (const AgentStateRecord& s : records.states) {
    if (!ok) {
      break;
    }
    ok = Binder(insert_state_)
             .i(s.id.seq)
             .i(s.id.index)
             .i(s.agent)
             .i(static_cast<std::uint64_t>(s.state))
             .i(s.reason)
             .i(s.start)
             .i(s.end)
             .step();
  }
  for (const QueueInterval& q : records.queue_intervals) {
    if (!ok) {
      break;
    }
    ok = Binder(insert_queue_)
             .i(q.id.seq)
             .i(q.id.index)
             .i(q.start)
             .i(q.queue)
             .i(q.offered)
             .i(q.answered)
             .i(q.answered_in_sl)
             .i(q.abandoned)
             .i(q.short_abandoned)
             .i(q.overflowed_out)
             .i(q.handled)
             .i(q.wait_answered_us)
             .i(q.max_wait_us)
             .i(q.talk_us)
             .i(q.hold_us)
             .i(q.wrap_us)
             .step();
  }
  for (const AgentInterval& a : records.agent_intervals) {
    if (!ok) {
      break;
    }
    Binder b(insert_agent_);
    b.i(a.id.seq).i(a.id.index).i(a.start).i(a.agent).i(a.handled).i(a.no_answer);
    b.i(a.transfers_out).i(a.talk_us).i(a.hold_us).i(a.wrap_us);
    for (const Micros t : a.state_us) {
      b.i(t);
    }
    ok = b.text(rows::encode_reasons(a.not_ready_us)).step();
  }
  ok = ok && Binder(set_seq_).i(through).step();
  if (ok && !checkpoint.empty()) {
    sqlite3_reset(set_checkpoint_);
    sqlite3_bind_int64(set_checkpoint_, 1, static_cast<sqlite3_int64>(through));
    sqlite3_bind_blob64(set_checkpoint_, 2, checkpoint.data(), checkpoint.size(),
                        SQLITE_STATIC);
    ok = sqlite3_step(set_checkpoint_) == SQLITE_DONE;
    sqlite3_clear_bindings(set_checkpoint_);
  }
  if (!ok) {
    why = message(db_, "history write");
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  }
  if (!exec("COMMIT", why)) {
    why = "history commit: " + why;
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  }
  last_seq_ = std::max(last_seq_, through);
  return true;
}

bool Store::delete_before(Micros cutoff, std::uint64_t& deleted, std::string& why) {
  deleted = 0;
  if (!exec("BEGIN IMMEDIATE", why)) {
    why = "history retention: " + why;
    return false;
  }
  const char* sql[] = {"DELETE FROM calls WHERE arrived < ?",
                       "DELETE FROM agent_states WHERE start < ?",
                       "DELETE FROM queue_intervals WHERE start < ?",
                       "DELETE FROM agent_intervals WHERE start < ?"};
  for (const char* q : sql) {
    sqlite3_stmt* s = nullptr;
    bool ok = sqlite3_prepare_v2(db_, q, -1, &s, nullptr) == SQLITE_OK;
    if (ok) {
      sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(cutoff));
      ok = sqlite3_step(s) == SQLITE_DONE;
    }
    sqlite3_finalize(s);
    if (!ok) {
      why = message(db_, "history retention");
      std::string ignored;
      exec("ROLLBACK", ignored);
      deleted = 0;
      return false;
    }
    deleted += static_cast<std::uint64_t>(sqlite3_changes(db_));
  }
  if (!exec("COMMIT", why)) {
    why = "history retention: " + why;
    std::string ignored;
    exec("ROLLBACK", ignored);
    deleted = 0;
    return false;
  }
  return true;
}

bool Store::check_integrity(std::string& why) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA integrity_check", -1, &s, nullptr) != SQLITE_OK) {
    why = message(db_, "integrity check");
    return false;
  }
  std::string found;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    const std::string line = t != nullptr ? t : "";
    if (line != "ok") {
      found += found.empty() ? line : "; " + line;
    }
  }
  sqlite3_finalize(s);
  if (!found.empty()) {
    why = "history database damaged: " + found;
    return false;
  }
  return true;
}

bool Store::each_call(Micros from, Micros to,
                      const std::function<bool(const CallDetail&)>& visit, std::string& why) {
  Statement q(db_, range(rows::kCallColumns, "calls", "arrived"), {from, to});
  return each_row(db_, q, "reading calls", why, [&](Columns& c) {
    CallDetail r;
    if (!rows::read_call(c, r, why)) {
      return Next::Fail;
    }
    return visit(r) ? Next::Row : Next::Stop;
  });
}

bool Store::calls(Micros from, Micros to, std::vector<CallDetail>& out, std::string& why) {
  return each_call(
      from, to,
      [&out](const CallDetail& c) {
        out.push_back(c);
        return true;
      },
      why);
}

bool Store::call_by_id(CallId call, std::vector<CallDetail>& out, std::string& why) {
  Statement q(db_,
          std::string("SELECT ") + rows::kCallColumns + " FROM calls WHERE call = ?1 ORDER BY seq, idx",
          {call});
  return each_row(db_, q, "reading a call", why, [&](Columns& c) {
    CallDetail r;
    if (!rows::read_call(c, r, why)) {
      return Next::Fail;
    }
    out.push_back(std::move(r));
    return Next::Row;
  });
}

bool Store::count(RecordTable kind, Micros from, Micros to, std::uint64_t& n, std::string& why) {
  static const char* const kSql[] = {
      "SELECT count(*) FROM calls WHERE arrived >= ?1 AND arrived < ?2",
      "SELECT count(*) FROM agent_states WHERE start >= ?1 AND start < ?2",
      "SELECT count(*) FROM queue_intervals WHERE start >= ?1 AND start < ?2",
      "SELECT count(*) FROM agent_intervals WHERE start >= ?1 AND start < ?2"};
  Statement q(db_, kSql[static_cast<int>(kind)], {from, to});
  if (!q.ok() || q.step() != SQLITE_ROW) {
    why = message(db_, "counting records");
    return false;
  }
  n = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0));
  return true;
}

bool Store::note_clock(Micros log_us, std::int64_t wall_us, std::string& why) {
  sqlite3_stmt* s = nullptr;
  bool ok = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO clock VALUES (?1, ?2)", -1, &s,
                               nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(log_us));
    sqlite3_bind_int64(s, 2, wall_us);
    ok = sqlite3_step(s) == SQLITE_DONE;
  }
  sqlite3_finalize(s);
  if (!ok) {
    why = message(db_, "noting the clock");
  }
  return ok;
}

bool Store::clock(std::vector<std::pair<Micros, std::int64_t>>& out, std::string& why) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT log_us, wall_us FROM clock ORDER BY log_us", -1, &s,
                         nullptr) != SQLITE_OK) {
    why = message(db_, "reading the clock");
    return false;
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.emplace_back(static_cast<Micros>(sqlite3_column_int64(s, 0)), sqlite3_column_int64(s, 1));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    why = message(db_, "reading the clock");
    return false;
  }
  return true;
}

bool Store::load_checkpoint(std::uint64_t& seq, std::vector<std::uint8_t>& state,
                            std::string& why) {
  seq = 0;
  state.clear();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT seq, state FROM checkpoint WHERE id = 0", -1, &s,
                         nullptr) != SQLITE_OK) {
    why = message(db_, "reading the checkpoint");
    return false;
  }
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, 1));
    const int len = sqlite3_column_bytes(s, 1);
    if (p != nullptr) {
      state.assign(p, p + len);
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    why = message(db_, "reading the checkpoint");
    return false;
  }
  return true;
}

bool Store::agent_states(Micros from, Micros to, std::vector<AgentStateRecord>& out,
                         std::string& why) {
  Statement q(db_, range(rows::kStateColumns, "agent_states", "start"), {from, to});
  return each_row(db_, q, "reading agent states", why, [&](Columns& c) {
    rows::read_state(c, out.emplace_back());
    return Next::Row;
  });
}

// The seq range holding every row of an interval table whose start is in [from, to). The start
// index carries the primary key, so this reads the index alone; the rows are then read in
// primary-key order, page after page, instead of one B-tree descent per row through the index
// (the whole cost of a long report: 2 s for a day of 10,000 agents before, see bench/RESULTS.md).
// Interval rows are closed in time order, so in practice the range holds no other rows; the read
// filters by start as well, so it is exact whatever the order of the rows.
bool Store::period_seqs(const char* table, Micros from, Micros to, std::uint64_t& lo,
                        std::uint64_t& hi, bool& any, std::string& why) {
  Statement q(db_,
              std::string("SELECT min(seq), max(seq) FROM ") + table +
                  " WHERE start >= ?1 AND start < ?2",
              {from, to});
  if (!q.ok() || q.step() != SQLITE_ROW) {
    why = message(db_, "finding a period's records");
    return false;
  }
  any = sqlite3_column_type(q.get(), 0) != SQLITE_NULL;
  lo = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 0));
  hi = static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), 1));
  return true;
}

template <class OnRow>
bool Store::each_in_period(const char* table, const char* columns, Micros from, Micros to,
                           const char* what, std::string& why, OnRow on_row) {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  bool any = false;
  if (!period_seqs(table, from, to, lo, hi, any, why)) {
    return false;
  }
  if (!any) {
    return true;
  }
  // `+start`: not the start index; the primary key bounds the scan.
  Statement q(db_,
              std::string("SELECT ") + columns + " FROM " + table +
                  " WHERE seq >= ?3 AND seq <= ?4 AND +start >= ?1 AND +start < ?2"
                  " ORDER BY seq, idx",
              {from, to, lo, hi});
  return each_row(db_, q, what, why, on_row);
}

bool Store::each_queue_interval(Micros from, Micros to,
                                const std::function<bool(const QueueInterval&)>& visit,
                                std::string& why) {
  return each_in_period("queue_intervals", rows::kQueueColumns, from, to,
                        "reading queue intervals", why, [&](Columns& c) {
                          QueueInterval r;
                          rows::read_queue(c, r);
                          return visit(r) ? Next::Row : Next::Stop;
                        });
}

bool Store::each_agent_interval(Micros from, Micros to,
                                const std::function<bool(const AgentInterval&)>& visit,
                                std::string& why) {
  return each_in_period("agent_intervals", rows::kAgentColumns, from, to,
                        "reading agent intervals", why, [&](Columns& c) {
                          AgentInterval r;
                          if (!rows::read_agent(c, r, why)) {
                            return Next::Fail;
                          }
                          return visit(r) ? Next::Row : Next::Stop;
                        });
}

bool Store::queue_intervals(Micros from, Micros to, std::vector<QueueInterval>& out,
                            std::string& why) {
  return each_queue_interval(
      from, to,
      [&out](const QueueInterval& r) {
        out.push_back(r);
        return true;
      },
      why);
}

bool Store::agent_intervals(Micros from, Micros to, std::vector<AgentInterval>& out,
                            std::string& why) {
  return each_agent_interval(
      from, to,
      [&out](const AgentInterval& r) {
        out.push_back(r);
        return true;
      },
      why);
}

namespace {

// Sums rows into one slot per queue or agent index (indices are dense: the configuration's order),
// then hands out the slots that received a row, in index order.
template <class Row>
class Totals {
 public:
  void add(std::uint32_t index, const Row& r) {
    if (index >= sums_.size()) {
      sums_.resize(static_cast<std::size_t>(index) + 1);
      seen_.resize(sums_.size(), false);
    }
    history::add(sums_[index], r);
    seen_[index] = true;
  }
  void take(std::vector<Row>& out, void (*set_index)(Row&, std::uint32_t)) {
    for (std::size_t i = 0; i < sums_.size(); ++i) {
      if (seen_[i]) {
        set_index(sums_[i], static_cast<std::uint32_t>(i));
        out.push_back(sums_[i]);
      }
    }
  }

 private:
  std::vector<Row> sums_;
  std::vector<bool> seen_;
};

// The queue or agent column of an interval row (the fourth in both column lists), read before the
// row is decoded so that a filtered report skips the others.
constexpr int kIndexColumn = 3;

}  // namespace

bool Store::queue_totals(Micros from, Micros to, std::optional<QueueIndex> only,
                         std::vector<QueueInterval>& out, std::string& why) {
  Totals<QueueInterval> totals;
  const bool ok = each_in_period(
      "queue_intervals", rows::kQueueColumns, from, to, "reading queue intervals", why,
      [&](Columns& c) {
        const auto queue = static_cast<QueueIndex>(sqlite3_column_int64(c.statement(), kIndexColumn));
        if (only && queue != *only) {
          return Next::Row;
        }
        QueueInterval r;
        rows::read_queue(c, r);
        totals.add(r.queue, r);
        return Next::Row;
      });
  if (ok) {
    totals.take(out, [](QueueInterval& r, std::uint32_t i) { r.queue = i; });
  }
  return ok;
}

bool Store::agent_totals(Micros from, Micros to, std::optional<AgentIndex> only,
                         std::vector<AgentInterval>& out, std::string& why) {
  Totals<AgentInterval> totals;
  const bool ok = each_in_period(
      "agent_intervals", rows::kAgentColumns, from, to, "reading agent intervals", why,
      [&](Columns& c) {
        const auto agent = static_cast<AgentIndex>(sqlite3_column_int64(c.statement(), kIndexColumn));
        if (only && agent != *only) {
          return Next::Row;
        }
        AgentInterval r;
        if (!rows::read_agent(c, r, why)) {
          return Next::Fail;
        }
        totals.add(r.agent, r);
        return Next::Row;
      });
  if (ok) {
    totals.take(out, [](AgentInterval& r, std::uint32_t i) { r.agent = i; });
  }
  return ok;
}

}  // namespace acd::history
