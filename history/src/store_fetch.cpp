// The copy of records from another node's store (a standby begun from its primary's image): the
// rows read in chunks in ID order, table by table, and stored with the copy's position in one
// transaction. See store.hpp and history/DESIGN.md "Records before the image".
//
// Chunk encoding: rows one after another, each u8 table, then its columns in the order of the
// table's column list (rows.hpp), each u8 type (0 NULL, 1 integer: i64, 2 text: u32 length and
// the bytes), little-endian.
#include <sqlite3.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <string_view>
#include <tuple>

#include "acd/history/store.hpp"
#include "rows.hpp"

namespace acd::history {

namespace {

constexpr const char* kTables[kFetchTables] = {"calls", "agent_states", "queue_intervals",
                                               "agent_intervals"};
constexpr const char* kColumns[kFetchTables] = {rows::kCallColumns, rows::kStateColumns,
                                                rows::kQueueColumns, rows::kAgentColumns};
constexpr std::uint8_t kNull = 0, kInteger = 1, kText = 2;
// The last chunk of a copy also carries the primary's clock points (log time -> wall time, the
// store's `clock` table) as rows of this table number: two integer columns, log_us and wall_us.
// The standby's reports then map the copied records' times as the primary's did (its own points
// begin only when it went live, and the log's time line moved against the wall clock at each of
// the primary's restarts before that). At most kMaxClockPoints, the oldest first.
constexpr std::uint8_t kClockRows = kFetchTables;
constexpr int kMaxClockPoints = 4096;
// A text column longer than this is refused (a call's path is far shorter).
constexpr std::uint32_t kMaxText = 1u << 20;

int column_count(const char* columns) {
  return 1 + static_cast<int>(std::count(columns, columns + std::char_traits<char>::length(columns),
                                         ','));
}

void put(std::vector<std::uint8_t>& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) {
    out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
}

struct Reader {
  std::span<const std::uint8_t> in;
  std::size_t at = 0;
  bool ok = true;
  std::uint64_t get(std::size_t n) {
    if (!ok || in.size() - at < n) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v |= static_cast<std::uint64_t>(in[at + i]) << (8 * i);
    }
    at += n;
    return v;
  }
};

std::string message(sqlite3* db, const char* what) {
  return std::string(what) + ": " + sqlite3_errmsg(db);
}

bool set_meta(sqlite3* db, const char* key, std::uint64_t value) {
  sqlite3_stmt* s = nullptr;
  bool ok = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)", -1, &s,
                               nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(value));
    ok = sqlite3_step(s) == SQLITE_DONE;
  }
  sqlite3_finalize(s);
  return ok;
}

constexpr const char* kKeys[] = {"fetch_table", "fetch_seq", "fetch_idx", "fetch_from",
                                 "fetch_through"};

bool save_position(sqlite3* db, const FetchPosition& p) {
  return set_meta(db, kKeys[0], p.table) && set_meta(db, kKeys[1], p.seq) &&
         set_meta(db, kKeys[2], p.idx) && set_meta(db, kKeys[3], p.from) &&
         set_meta(db, kKeys[4], p.through);
}

bool clear_position(sqlite3* db) {
  return sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE 'fetch\\_%' ESCAPE '\\'", nullptr,
                      nullptr, nullptr) == SQLITE_OK;
}

// (table, seq, idx) strictly after `a`'s, the same from and through.
bool follows(const FetchPosition& a, const FetchPosition& b) {
  return a.from == b.from && a.through == b.through &&
         std::tie(b.table, b.seq, b.idx) > std::tie(a.table, a.seq, a.idx);
}

}  // namespace

void encode_position(const FetchPosition& p, std::vector<std::uint8_t>& out) {
  put(out, p.seq, 8);
  put(out, p.idx, 8);
  put(out, p.from, 8);
  put(out, p.through, 8);
  put(out, p.table, 1);
}

bool decode_position(std::span<const std::uint8_t> in, FetchPosition& p) {
  Reader r{in};
  FetchPosition q;
  q.seq = r.get(8);
  q.idx = r.get(8);
  q.from = r.get(8);
  q.through = r.get(8);
  q.table = static_cast<std::uint8_t>(r.get(1));
  if (!r.ok || q.table >= kFetchTables || q.from > q.through || q.seq < q.from ||
      q.seq > q.through + 1) {
    return false;
  }
  p = q;
  return true;
}

bool Store::pending_fetch(std::optional<FetchPosition>& out, std::string& why) {
  out.reset();
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT key, value FROM meta WHERE key LIKE 'fetch\\_%' ESCAPE '\\'",
                         -1, &s, nullptr) != SQLITE_OK) {
    why = message(db_, "reading the fetch position");
    return false;
  }
  FetchPosition p;
  int found = 0;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const std::string_view key(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    const auto v = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    if (key == kKeys[0]) {
      p.table = static_cast<std::uint8_t>(std::min<std::uint64_t>(v, kFetchTables - 1));
    } else if (key == kKeys[1]) {
      p.seq = v;
    } else if (key == kKeys[2]) {
      p.idx = v;
    } else if (key == kKeys[3]) {
      p.from = v;
    } else if (key == kKeys[4]) {
      p.through = v;
    } else {
      continue;
    }
    ++found;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    why = message(db_, "reading the fetch position");
    return false;
  }
  if (found == 5) {
    out = p;
  }
  return true;
}

bool Store::begin_fetch(std::uint64_t from, std::uint64_t through, std::string& why) {
  if (read_only_ || from == 0 || from > through) {
    why = "history fetch: nothing to ask for, or the database is read-only";
    return false;
  }
  std::optional<FetchPosition> pending;
  if (!pending_fetch(pending, why)) {
    return false;
  }
  FetchPosition p{0, from, 0, from, through};
  if (pending) {
    p.from = p.seq = std::min(from, pending->from);
    p.through = std::max(through, pending->through);
  }
  if (!exec("BEGIN IMMEDIATE", why)) {
    return false;
  }
  if (!save_position(db_, p)) {
    why = message(db_, "history fetch");
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  }
  return exec("COMMIT", why);
}

bool Store::read_rows(const FetchPosition& at, std::size_t max_bytes,
                      std::vector<std::uint8_t>& out, FetchPosition& next, bool& done,
                      std::string& why) {
  const std::size_t start = out.size();
  next = at;
  done = false;
  for (std::uint8_t t = at.table; t < kFetchTables; ++t) {
    const int n = column_count(kColumns[t]);
    const std::uint64_t seq = t == at.table ? at.seq : at.from;
    const std::uint64_t idx = t == at.table ? at.idx : 0;
    rows::Statement q(db_,
                      std::string("SELECT ") + kColumns[t] + " FROM " + kTables[t] +
                          " WHERE (seq, idx) >= (?1, ?2) AND seq <= ?3 ORDER BY seq, idx",
                      {seq, idx, at.through});
    if (!q.ok()) {
      why = message(db_, "reading rows to send");
      return false;
    }
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      sqlite3_stmt* s = q.get();
      out.push_back(t);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(s, c)) {
          case SQLITE_NULL:
            out.push_back(kNull);
            break;
          case SQLITE_INTEGER:
            out.push_back(kInteger);
            put(out, static_cast<std::uint64_t>(sqlite3_column_int64(s, c)), 8);
            break;
          default: {
            const auto* p = sqlite3_column_text(s, c);
            const auto len = static_cast<std::uint32_t>(sqlite3_column_bytes(s, c));
            out.push_back(kText);
            put(out, len, 4);
            out.insert(out.end(), p, p + len);
          }
        }
      }
      next = FetchPosition{t, static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)),
                           static_cast<std::uint64_t>(sqlite3_column_int64(s, 1)) + 1, at.from,
                           at.through};
      if (out.size() - start >= max_bytes) {
        return true;
      }
    }
    if (rc != SQLITE_DONE) {
      why = message(db_, "reading rows to send");
      return false;
    }
    if (t + 1 < kFetchTables) {
      next = FetchPosition{static_cast<std::uint8_t>(t + 1), at.from, 0, at.from, at.through};
    }
  }
  done = true;
  rows::Statement q(db_, "SELECT log_us, wall_us FROM clock ORDER BY log_us LIMIT " +
                             std::to_string(kMaxClockPoints));
  if (!q.ok()) {
    why = message(db_, "reading clock points to send");
    return false;
  }
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.push_back(kClockRows);
    for (int c = 0; c < 2; ++c) {
      out.push_back(kInteger);
      put(out, static_cast<std::uint64_t>(sqlite3_column_int64(q.get(), c)), 8);
    }
  }
  if (rc != SQLITE_DONE) {
    why = message(db_, "reading clock points to send");
    return false;
  }
  return true;
}

bool Store::import_rows(const FetchPosition& at, std::span<const std::uint8_t> rows,
                        const FetchPosition& next, bool done, std::uint64_t& imported,
                        std::string& why) {
  imported = 0;
  std::optional<FetchPosition> pending;
  if (!pending_fetch(pending, why)) {
    return false;
  }
  if (!pending || !(*pending == at)) {
    why = "history fetch: a chunk for another position than the copy's";
    return false;
  }
  if (!done && !follows(at, next)) {
    why = "history fetch: the chunk's next position does not follow its own";
    return false;
  }
  if (!exec("BEGIN IMMEDIATE", why)) {
    return false;
  }
  auto fail = [&](const std::string& what) {
    why = "history fetch: " + what;
    std::string ignored;
    exec("ROLLBACK", ignored);
    imported = 0;
    return false;
  };
  sqlite3_stmt* insert[kFetchTables] = {};
  auto finalize = [&] {
    for (sqlite3_stmt*& s : insert) {
      sqlite3_finalize(s);
      s = nullptr;
    }
  };
  Reader r{rows};
  const std::uint8_t last_table = done ? kFetchTables - 1 : next.table;
  // The primary's clock points, in the last chunk only: kept where this node has no point of its
  // own yet (before its first), never replacing one.
  std::optional<std::int64_t> own_first;
  std::vector<std::pair<std::int64_t, std::int64_t>> clock_points;
  if (done) {
    rows::Statement q(db_, "SELECT min(log_us) FROM clock");
    if (!q.ok() || q.step() != SQLITE_ROW) {
      return fail(message(db_, "reading the clock"));
    }
    if (sqlite3_column_type(q.get(), 0) != SQLITE_NULL) {
      own_first = sqlite3_column_int64(q.get(), 0);
    }
  }
  while (r.at < rows.size()) {
    const auto t = static_cast<std::uint8_t>(r.get(1));
    if (t == kClockRows && done) {
      std::int64_t v[2] = {};
      for (std::int64_t& x : v) {
        if (r.get(1) != kInteger) {
          r.ok = false;
        }
        x = static_cast<std::int64_t>(r.get(8));
      }
      if (!r.ok || v[0] < 0 || clock_points.size() >= kMaxClockPoints) {
        finalize();
        return fail("a malformed clock point");
      }
      if (!own_first || v[0] < *own_first) {
        clock_points.emplace_back(v[0], v[1]);
      }
      continue;
    }
    if (t < at.table || t > last_table) {
      finalize();
      return fail("a row of an unexpected table");
    }
    const int n = column_count(kColumns[t]);
    if (insert[t] == nullptr) {
      std::string sql = std::string("INSERT OR IGNORE INTO ") + kTables[t] + " (" + kColumns[t] +
                        ") VALUES (?";
      for (int c = 1; c < n; ++c) {
        sql += ",?";
      }
      sql += ")";
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &insert[t], nullptr) != SQLITE_OK) {
        const std::string m = message(db_, "preparing the insert");
        finalize();
        return fail(m);
      }
    }
    sqlite3_stmt* s = insert[t];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    std::uint64_t seq = 0;
    for (int c = 0; c < n && r.ok; ++c) {
      const auto type = static_cast<std::uint8_t>(r.get(1));
      if (type == kNull) {
        sqlite3_bind_null(s, c + 1);
      } else if (type == kInteger) {
        const std::uint64_t v = r.get(8);
        if (c == 0) {
          seq = v;
        }
        sqlite3_bind_int64(s, c + 1, static_cast<sqlite3_int64>(v));
      } else if (type == kText) {
        const auto len = static_cast<std::uint32_t>(r.get(4));
        if (!r.ok || len > kMaxText || rows.size() - r.at < len) {
          r.ok = false;
          break;
        }
        sqlite3_bind_text(s, c + 1, reinterpret_cast<const char*>(rows.data() + r.at),
                          static_cast<int>(len), SQLITE_TRANSIENT);
        r.at += len;
      } else {
        r.ok = false;
      }
    }
    if (!r.ok || seq < at.from || seq > at.through) {
      finalize();
      return fail("a malformed row, or one of an input outside the copy");
    }
    if (sqlite3_step(s) != SQLITE_DONE) {
      const std::string m = message(db_, "storing a row");
      finalize();
      return fail(m);
    }
    imported += static_cast<std::uint64_t>(sqlite3_changes(db_));
  }
  finalize();
  for (const auto& [log_us, wall_us] : clock_points) {
    rows::Statement q(db_, "INSERT OR IGNORE INTO clock VALUES (?1, ?2)",
                      {static_cast<std::uint64_t>(log_us), static_cast<std::uint64_t>(wall_us)});
    if (!q.ok() || q.step() != SQLITE_DONE) {
      return fail(message(db_, "storing a clock point"));
    }
  }
  if (!(done ? clear_position(db_) : save_position(db_, next))) {
    return fail(message(db_, "saving the fetch position"));
  }
  if (!exec("COMMIT", why)) {
    return fail(why);
  }
  return true;
}

}  // namespace acd::history
