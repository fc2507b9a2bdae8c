#include "rows.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>

namespace acd::history::rows {

namespace {

// Exactly n numbers separated by `sep`, nothing before, between or after.
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

std::string malformed(const RecordId& id, const char* what, const char* column) {
  return std::string(what) + " " + std::to_string(id.seq) + "/" + std::to_string(id.index) +
         " has " + column;
}

}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql,
                     std::initializer_list<std::uint64_t> params) {
  ok_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) == SQLITE_OK;
  int n = 0;
  for (const std::uint64_t v : params) {
    if (ok_) {
      bind(++n, v);
    }
  }
}

std::uint32_t Columns::index() {
  if (sqlite3_column_type(s_, n_) == SQLITE_NULL) {
    ++n_;
    return router::kNone;
  }
  return as<std::uint32_t>();
}

std::string_view Columns::text() {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, n_));
  const int len = sqlite3_column_bytes(s_, n_++);
  return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(len));
}

std::string encode_path(const std::vector<PathStep>& path) {
  std::string s;
  for (const PathStep& p : path) {
    if (!s.empty()) {
      s += ';';
    }
    s += std::to_string(static_cast<int>(p.kind)) + ',' + std::to_string(p.queue) + ',' +
         std::to_string(p.agent) + ',' + std::to_string(p.target) + ',' + std::to_string(p.time);
  }
  return s;
}

bool decode_path(std::string_view s, std::vector<PathStep>& path) {
  while (!s.empty()) {
    const std::size_t semi = s.find(';');
    std::uint64_t v[5] = {};
    if (!numbers(s.substr(0, semi), ',', v, 5) ||
        v[0] > static_cast<std::uint64_t>(StepKind::Callback)) {
      return false;
    }
    path.push_back(PathStep{v[4], static_cast<QueueIndex>(v[1]), static_cast<AgentIndex>(v[2]),
                            static_cast<AgentIndex>(v[3]), static_cast<StepKind>(v[0])});
    if (semi == std::string_view::npos) {
      break;
    }
    s.remove_prefix(semi + 1);
    if (s.empty()) {
      return false;  // a trailing ';'
    }
  }
  return true;
}

std::string encode_reasons(const std::array<Micros, router::kNotReadyReasons>& r) {
  std::string s;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (i > 0) {
      s += ',';
    }
    s += std::to_string(r[i]);
  }
  return s;
}

bool decode_reasons(std::string_view s, std::array<Micros, router::kNotReadyReasons>& r) {
  std::uint64_t v[router::kNotReadyReasons] = {};
  if (!numbers(s, ',', v, router::kNotReadyReasons)) {
    return false;
  }
  std::copy(std::begin(v), std::end(v), r.begin());
  return true;
}

bool read_call(Columns& c, CallDetail& r, std::string& why) {
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
  if (!decode_path(c.text(), r.path)) {
    why = malformed(r.id, "call record", "a malformed path");
    return false;
  }
  return true;
}

void read_state(Columns& c, AgentStateRecord& r) {
  r.id.seq = c.u();
  r.id.index = c.as<std::uint32_t>();
  r.agent = c.as<AgentIndex>();
  r.state = c.as<router::AgentState>();
  r.reason = c.as<std::uint16_t>();
  r.start = c.u();
  r.end = c.u();
}

void read_queue(Columns& c, QueueInterval& r) {
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

bool read_agent(Columns& c, AgentInterval& r, std::string& why) {
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
  if (!decode_reasons(c.text(), r.not_ready_us)) {
    why = malformed(r.id, "agent interval", "malformed not-ready times");
    return false;
  }
  return true;
}

}  // namespace acd::history::rows
