// The history store's rows as SQLite sees them: the column lists, the text forms of a call's path
// and of not-ready times, and the readers that turn one row into a record. Shared by the store
// (store.cpp: reports) and the export's back-log (export_store.cpp), so both read the same bytes
// the same way.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "acd/history/records.hpp"

namespace acd::history::rows {

// The columns read, named (a column added to a table later does not move them), in the order the
// readers below take them.
inline constexpr const char* kCallColumns =
    "seq, idx, call, outbound, verification, priority, tier, outcome, status, overflow_action, "
    "overflow_target, arrived, answered, ended, first_queue, last_queue, first_agent, last_agent, "
    "offers, ring_no_answers, overflows, transfers, holds, wait_us, talk_us, hold_us, wrap_us, "
    "wrap, disposition, note, path";
inline constexpr const char* kStateColumns = "seq, idx, agent, state, reason, start, end";
inline constexpr const char* kQueueColumns =
    "seq, idx, start, queue, offered, answered, answered_in_sl, abandoned, short_abandoned, "
    "overflowed_out, handled, wait_answered_us, max_wait_us, talk_us, hold_us, wrap_us";
inline constexpr const char* kAgentColumns =
    "seq, idx, start, agent, handled, no_answer, transfers_out, talk_us, hold_us, wrap_us, "
    "logged_out_us, not_ready_us, ready_us, reserved_us, busy_us, wrap_up_us, "
    "not_ready_by_reason";

// One prepared statement with its first parameters bound (in order), finalized when it goes out
// of scope.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, std::initializer_list<std::uint64_t> params = {});
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
class Columns {
 public:
  explicit Columns(sqlite3_stmt* s) : s_(s) {}
  std::uint64_t u() { return static_cast<std::uint64_t>(sqlite3_column_int64(s_, n_++)); }
  template <class T>
  T as() {
    return static_cast<T>(u());
  }
  std::uint32_t index();     // a queue or agent index; NULL is router::kNone
  std::string_view text();   // valid until the statement steps again
  sqlite3_stmt* statement() const { return s_; }

 private:
  sqlite3_stmt* s_;
  int n_ = 0;
};

// A path as text: steps separated by ';', each "kind,queue,agent,target,time" (kNone written as
// its number, 4294967295).
std::string encode_path(const std::vector<PathStep>& path);
bool decode_path(std::string_view s, std::vector<PathStep>& path);

// Not-ready times as text: kNotReadyReasons numbers separated by ','.
std::string encode_reasons(const std::array<Micros, router::kNotReadyReasons>& r);
bool decode_reasons(std::string_view s, std::array<Micros, router::kNotReadyReasons>& r);

// One row of the column list above into a record; false with `why` on a malformed text column.
bool read_call(Columns& c, CallDetail& r, std::string& why);
void read_state(Columns& c, AgentStateRecord& r);
void read_queue(Columns& c, QueueInterval& r);
bool read_agent(Columns& c, AgentInterval& r, std::string& why);

}  // namespace acd::history::rows
