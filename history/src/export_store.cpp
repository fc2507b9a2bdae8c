// The history store read as an export's back-log (records from an ID on, their count) and the
// export's position in table export_position.
#include "acd/history/export_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>

namespace acd::history {

namespace {

constexpr const char* kPositionTable =
    "CREATE TABLE IF NOT EXISTS export_position (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
    "idx INTEGER NOT NULL) WITHOUT ROWID";

// Never lowered: a position is raised only after delivery, and a stale one (an old primary's,
// learned late) must not undo a newer one.
constexpr const char* kSavePosition =
    "INSERT INTO export_position VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET "
    "seq = excluded.seq, idx = excluded.idx WHERE (excluded.seq, excluded.idx) > (seq, idx)";

// The columns read, named (a column added to the store later does not move them).
constexpr const char* kCallColumns =
    "seq, idx, call, outbound, verification, priority, tier, outcome, status, overflow_action, "
    "overflow_target, arrived, answered, ended, first_queue, last_queue, first_agent, last_agent, "
    "offers, ring_no_answers, overflows, transfers, holds, wait_us, talk_us, hold_us, wrap_us, "
    "wrap, disposition, note, path";
constexpr const char* kStateColumns = "seq, idx, agent, state, reason, start, end";
constexpr const char* kQueueColumns =
    "seq, idx, start, queue, offered, answered, answered_in_sl, abandoned, short_abandoned, "
    "overflowed_out, handled, wait_answered_us, max_wait_us, talk_us, hold_us, wrap_us";
constexpr const char* kAgentColumns =
    "seq, idx, start, agent, handled, no_answer, transfers_out, talk_us, hold_us, wrap_us, "
    "logged_out_us, not_ready_us, ready_us, reserved_us, busy_us, wrap_up_us, "
    "not_ready_by_reason";

constexpr const char* kTables[] = {"calls", "agent_states", "queue_intervals", "agent_intervals"};

// One prepared statement, finalized when it goes out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) {
    ok_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) == SQLITE_OK;
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return ok_; }
  void bind(int i, std::uint64_t v) { sqlite3_bind_int64(s_, i, static_cast<sqlite3_int64>(v)); }
  int step() { return sqlite3_step(s_); }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
  bool ok_ = false;
};

// Reads the columns of one row, in order.
class Row {
 public:
  explicit Row(sqlite3_stmt* s) : s_(s) {}
  std::uint64_t u() { return static_cast<std::uint64_t>(sqlite3_column_int64(s_, n_++)); }
  template <class T>
  T as() {
    return static_cast<T>(u());
  }
  std::uint32_t index() {  // NULL: absent (router::kNone)
    if (sqlite3_column_type(s_, n_) == SQLITE_NULL) {
      ++n_;
      return router::kNone;
    }
    return as<std::uint32_t>();
  }
  std::string_view text() {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, n_));
    const int len = sqlite3_column_bytes(s_, n_++);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(len));
  }

 private:
  sqlite3_stmt* s_;
  int n_ = 0;
};

// The store's text forms (store.cpp): a path is steps separated by ';', each
// "kind,queue,agent,target,time"; not-ready times are kNotReadyReasons numbers separated by ','.
bool numbers(std::string_view s, char sep, std::uint64_t* v, std::size_t n) {
  const char* p = s.data();
  const char* end = p + s.size();
  for (std::size_t k = 0; k < n; ++k) {
    const auto r = std::from_chars(p, end, v[k]);
    if (r.ec != std::errc()) {
      return false;
    }
    p = r.ptr;
    if (k + 1 < n) {
      if (p == end || *p != sep) {
        return false;
      }
      ++p;
    }
  }
  return p == end;
}

bool decode_path(std::string_view s, std::vector<PathStep>& path) {
  while (!s.empty()) {
    const std::size_t semi = s.find(';');
    const std::string_view step = s.substr(0, semi);
    std::uint64_t v[5] = {};
    if (!numbers(step, ',', v, 5) || v[0] > static_cast<std::uint64_t>(StepKind::Callback)) {
      return false;
    }
    path.push_back(PathStep{v[4], static_cast<QueueIndex>(v[1]), static_cast<AgentIndex>(v[2]),
                            static_cast<AgentIndex>(v[3]), static_cast<StepKind>(v[0])});
    if (semi == std::string_view::npos) {
      break;
    }
    s.remove_prefix(semi + 1);
    if (s.empty()) {
      return false;
    }
  }
  return true;
}

void read_call(Row& c, CallDetail& r) {
  r.id.seq = c.u();
  r.id.index = c.as<std::uint32_t>();
  r.call = c.u();
  r.outbound = c.u() != 0;
  r.verification = c.as<std::uint8_t>();
  r.priority = c.as<std::uint8_t>();
  r.tier = c.as<std::uint8_t>();
  r.outcome = c.as<CallOutcome>();
  r.status = c.as<router::Status>();
  r.overflow_action = c.as<router::OverflowAction>();
  r.overflow_target = c.as<std::uint32_t>();
  r.arrived = c.u();
  r.answered = c.u();
  r.ended = c.u();
  r.first_queue = c.index();
  r.last_queue = c.index();
  r.first_agent = c.index();
  r.last_agent = c.index();
  r.offers = c.as<std::uint32_t>();
  r.ring_no_answers = c.as<std::uint32_t>();
  r.overflows = c.as<std::uint32_t>();
  r.transfers = c.as<std::uint32_t>();
  r.holds = c.as<std::uint32_t>();
  r.wait_us = c.u();
  r.talk_us = c.u();
  r.hold_us = c.u();
  r.wrap_us = c.u();
  r.wrap = c.as<WrapStatus>();
  r.disposition = c.as<std::uint16_t>();
  r.note = c.u();
}

void read_state(Row& c, AgentStateRecord& r) {
  r.id.seq = c.u();
  r.id.index = c.as<std::uint32_t>();
  r.agent = c.as<AgentIndex>();
  r.state = c.as<router::AgentState>();
  r.reason = c.as<std::uint16_t>();
  r.start = c.u();
  r.end = c.u();
}

void read_queue(Row& c, QueueInterval& r) {
  r.id.seq = c.u();
  r.id.index = c.as<std::uint32_t>();
  r.start = c.u();
  r.queue = c.as<QueueIndex>();
  r.offered = c.as<std::uint32_t>();
  r.answered = c.as<std::uint32_t>();
  r.answered_in_sl = c.as<std::uint32_t>();
  r.abandoned = c.as<std::uint32_t>();
  r.short_abandoned = c.as<std::uint32_t>();
  r.overflowed_out = c.as<std::uint32_t>();
  r.handled = c.as<std::uint32_t>();
  r.wait_answered_us = c.u();
  r.max_wait_us = c.u();
  r.talk_us = c.u();
  r.hold_us = c.u();
  r.wrap_us = c.u();
}

void read_agent(Row& c, AgentInterval& r) {
  r.id.seq = c.u();
  r.id.index = c.as<std::uint32_t>();
  r.start = c.u();
  r.agent = c.as<AgentIndex>();
  r.handled = c.as<std::uint32_t>();
  r.no_answer = c.as<std::uint32_t>();
  r.transfers_out = c.as<std::uint32_t>();
  r.talk_us = c.u();
  r.hold_us = c.u();
  r.wrap_us = c.u();
  for (Micros& t : r.state_us) {
    t = c.u();
  }
}

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
    Row r(s.get());
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
      scan(db_, "calls", kCallColumns, from, limit, why,
           [&](Row& r, std::string& w) {
             CallDetail c;
             read_call(r, c);
             if (!decode_path(r.text(), c.path)) {
               w = "call record " + std::to_string(c.id.seq) + "/" + std::to_string(c.id.index) +
                   " has a malformed path";
               return false;
             }
             out.calls.push_back(std::move(c));
             return true;
           }) &&
      scan(db_, "agent_states", kStateColumns, from, limit, why,
           [&](Row& r, std::string&) {
             read_state(r, out.states.emplace_back());
             return true;
           }) &&
      scan(db_, "queue_intervals", kQueueColumns, from, limit, why,
           [&](Row& r, std::string&) {
             read_queue(r, out.queue_intervals.emplace_back());
             return true;
           }) &&
      scan(db_, "agent_intervals", kAgentColumns, from, limit, why, [&](Row& r, std::string& w) {
        AgentInterval& a = out.agent_intervals.emplace_back();
        read_agent(r, a);
        std::uint64_t v[router::kNotReadyReasons] = {};
        if (!numbers(r.text(), ',', v, router::kNotReadyReasons)) {
          w = "agent interval " + std::to_string(a.id.seq) + "/" + std::to_string(a.id.index) +
              " has malformed not-ready times";
          return false;
        }
        std::copy(std::begin(v), std::end(v), a.not_ready_us.begin());
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
