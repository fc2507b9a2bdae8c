// `acdctl report ...`: reads the history database read-only and prints intervals, per-queue and
// per-agent totals, call detail records, or one call's whole path, as a table, CSV or JSON. The
// measures are defined in docs/reports.md.
#include "report.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "acd/control/config.hpp"
#include "acd/history/measures.hpp"
#include "acd/history/store.hpp"

namespace acd::acdctl {

namespace {

using history::Micros;
using nlohmann::json;

constexpr int kRefused = 1;
constexpr int kUsage = 2;

// "2026-11-30", "2026-11-30T08:00", "2026-11-30T08:00:00" (UTC) -> µs since the epoch.
std::optional<std::int64_t> parse_utc(const std::string& text) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail = 0;
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &tail, &h, &mi, &s);
  if (n != 3 && !(n >= 6 && (tail == 'T' || tail == ' '))) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970) {
    return std::nullopt;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000;
}

std::string utc(std::int64_t wall_us) {
  const std::time_t t = static_cast<std::time_t>(wall_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double seconds(Micros us) { return static_cast<double>(us) / 1e6; }
double round3(double v) { return static_cast<double>(static_cast<std::int64_t>(v * 1000 + 0.5)) / 1000; }

// The log's clock and the wall clock (Store::clock): log time -> wall time and back, through the
// last point at or before the time (the first point before them all).
class Clock {
 public:
  explicit Clock(std::vector<std::pair<Micros, std::int64_t>> points) : p_(std::move(points)) {}
  bool known() const { return !p_.empty(); }
  std::int64_t wall(Micros log) const {
    if (p_.empty()) {
      return static_cast<std::int64_t>(log);
    }
    auto it = std::upper_bound(p_.begin(), p_.end(), log,
                               [](Micros v, const auto& e) { return v < e.first; });
    const auto& e = it == p_.begin() ? *it : *(it - 1);
    return e.second + (static_cast<std::int64_t>(log) - static_cast<std::int64_t>(e.first));
  }
  Micros log(std::int64_t wall) const {
    if (p_.empty()) {
      return static_cast<Micros>(std::max<std::int64_t>(wall, 0));
    }
    const auto* chosen = &p_.front();
    for (const auto& e : p_) {
      if (e.second <= wall) {
        chosen = &e;
      }
    }
    const std::int64_t l = static_cast<std::int64_t>(chosen->first) + (wall - chosen->second);
    return static_cast<Micros>(std::max<std::int64_t>(l, 0));
  }

 private:
  std::vector<std::pair<Micros, std::int64_t>> p_;
};

// A report: a header and rows of JSON values, printed as a table, CSV or JSON.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<json>> rows;
};

std::string cell(const json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_null()) {
    return "";
  }
  return v.dump();
}

std::string csv_cell(const json& v) {
  std::string s = cell(v);
  if (s.find_first_of(",\"\n") == std::string::npos) {
    return s;
  }
  std::string q = "\"";
  for (char c : s) {
    q += c;
    if (c == '"') {
      q += '"';
    }
  }
  return q + "\"";
}

void print(const Table& t, const ReportOptions& o) {
  if (o.json) {
    json out = json::array();
    for (const auto& row : t.rows) {
      json obj = json::object();
      for (std::size_t i = 0; i < t.header.size(); ++i) {
        obj[t.header[i]] = row[i];
      }
      out.push_back(std::move(obj));
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (o.csv) {
    for (std::size_t i = 0; i < t.header.size(); ++i) {
      std::cout << (i ? "," : "") << t.header[i];
    }
    std::cout << "\n";
    for (const auto& row : t.rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        std::cout << (i ? "," : "") << csv_cell(row[i]);
      }
      std::cout << "\n";
    }
    return;
  }
  std::vector<std::size_t> width(t.header.size());
  for (std::size_t i = 0; i < t.header.size(); ++i) {
    width[i] = t.header[i].size();
    for (const auto& row : t.rows) {
      width[i] = std::max(width[i], cell(row[i]).size());
    }
  }
  auto line = [&](auto get) {
    std::string s;
    for (std::size_t i = 0; i < t.header.size(); ++i) {
      const std::string c = get(i);
      s += (i ? "  " : "") + c + std::string(width[i] - c.size(), ' ');
    }
    while (!s.empty() && s.back() == ' ') {
      s.pop_back();
    }
    std::cout << s << "\n";
  };
  line([&](std::size_t i) { return t.header[i]; });
  for (const auto& row : t.rows) {
    line([&](std::size_t i) { return cell(row[i]); });
  }
  if (t.rows.empty()) {
    std::cout << "(no records in the period)\n";
  }
}

// Draws progress on stderr when it is a terminal and the work is long.
class Progress {
 public:
  explicit Progress(std::uint64_t total)
      : total_(total), on_(isatty(STDERR_FILENO) != 0 && total >= 20'000) {}
  void step(std::uint64_t done) {
    if (!on_ || (done % 2000 != 0 && done != total_)) {
      return;
    }
    constexpr int kWidth = 40;
    const double part = total_ == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
    const int filled = static_cast<int>(part * kWidth);
    std::fprintf(stderr, "\r[%s%s] %llu/%llu %3.0f%%", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total_), part * 100);
    if (done == total_) {
      std::fprintf(stderr, "\n");
    }
  }
  ~Progress() {
    if (on_) {
      std::fprintf(stderr, "\n");
    }
  }

 private:
  std::uint64_t total_;
  bool on_;
};

struct Names {
  std::vector<std::string> queues;
  std::vector<router::AgentNumber> agents;  // numbers
  json queue(history::QueueIndex q) const {
    if (q == router::kNone) {
      return nullptr;
    }
    return q < queues.size() ? json(queues[q]) : json(q);
  }
  json agent(history::AgentIndex a) const {
    if (a == router::kNone) {
      return nullptr;
    }
    return a < agents.size() ? json(agents[a]) : json("#" + std::to_string(a));
  }
};

std::vector<json> queue_cells(const history::QueueInterval& s) {
  const history::QueueMeasures m = history::measures(s);
  return {m.offered,
          m.answered,
          m.abandoned,
          m.short_abandoned,
          m.overflowed_out,
          round3(m.service_level_pct),
          round3(m.abandon_rate_pct),
          round3(m.asa_s),
          round3(m.max_wait_s),
          m.handled,
          round3(m.aht_s)};
}

const std::vector<std::string> kQueueHeader = {"offered", "answered", "abandoned", "short_abandoned",
                                               "overflowed_out", "service_level_pct",
                                               "abandon_rate_pct", "asa_s", "max_wait_s",
                                               "handled", "aht_s"};

std::vector<json> agent_cells(const history::AgentInterval& s) {
  const history::AgentMeasures m = history::measures(s);
  return {m.handled,
          m.no_answer,
          m.transfers_out,
          round3(m.talk_s),
          round3(m.hold_s),
          round3(m.wrap_s),
          round3(m.signed_in_s),
          round3(m.ready_s),
          round3(m.not_ready_s),
          round3(m.occupancy_pct),
          round3(m.aht_s)};
}

const std::vector<std::string> kAgentHeader = {"handled", "no_answer", "transfers_out", "talk_s",
                                               "hold_s", "wrap_s", "signed_in_s", "ready_s",
                                               "not_ready_s", "occupancy_pct", "aht_s"};

std::vector<json> call_cells(const history::CallDetail& c, const Names& names, const Clock& clock) {
  return {c.call,
          utc(clock.wall(c.arrived)),
          c.outbound ? "outbound" : "inbound",
          std::string(history::to_string(c.outcome)),
          names.queue(c.first_queue),
          names.queue(c.last_queue),
          names.agent(c.first_agent),
          names.agent(c.last_agent),
          round3(seconds(c.wait_us)),
          round3(seconds(c.talk_us)),
          round3(seconds(c.hold_us)),
          round3(seconds(c.wrap_us)),
          c.offers,
          c.overflows,
          c.transfers,
          std::string(history::to_string(c.wrap)),
          c.disposition,
          c.outcome == history::CallOutcome::Rejected ||
                  c.status != router::Status::Ok
              ? json(std::string(router::to_string(c.status)))
              : json(nullptr)};
}

const std::vector<std::string> kCallHeader = {
    "call",   "arrived",   "direction", "outcome", "first_queue", "last_queue",
    "first_agent", "last_agent", "wait_s", "talk_s", "hold_s", "wrap_s",
    "offers", "overflows", "transfers", "wrap", "disposition", "status"};

}  // namespace

int run_report(const ReportOptions& o) {
  if (o.csv && o.json) {
    std::cerr << "acdctl: report: --csv and --json exclude each other\n";
    return kUsage;
  }
  // The configuration: the database's path and the names of queues and agents.
  Names names;
  std::string db = o.db;
  {
    const control::ConfigResult cfg = control::load_config(o.config_file);
    if (cfg.ok()) {
      for (const auto& q : cfg.config.domain.queues) {
        names.queues.push_back(q.name);
      }
      for (const auto& a : cfg.config.domain.agents) {
        names.agents.push_back(a.number);
      }
      if (db.empty()) {
        db = cfg.config.history.path;
      }
    } else if (db.empty()) {
      std::cerr << "acdctl: report: " << o.config_file << " cannot be read ("
                << (cfg.errors.empty() ? "?" : cfg.errors.front())
                << "); give the database with --db\n";
      return kUsage;
    } else {
      std::cerr << "acdctl: report: " << o.config_file
                << " cannot be read; queues and agents are shown by index\n";
    }
  }
  std::string why;
  std::unique_ptr<history::Store> store = history::Store::open_read_only(db, why);
  if (!store) {
    std::cerr << "acdctl: report: " << why << "\n";
    return kRefused;
  }
  std::vector<std::pair<Micros, std::int64_t>> points;
  if (!store->clock(points, why)) {
    std::cerr << "acdctl: report: " << why << "\n";
    return kRefused;
  }
  const Clock clock(std::move(points));
  if (!clock.known()) {
    std::cerr << "acdctl: report: " << db
              << " has no wall-clock mapping yet (acdd's history has not caught up once); "
                 "times are the log's own\n";
  }
  // The period, in the log's time.
  Micros from = 0;
  Micros to = ~Micros{0} >> 1;
  for (const auto& [text, out, name] :
       {std::tuple{o.from, &from, "--from"}, std::tuple{o.to, &to, "--to"}}) {
    if (text.empty()) {
      continue;
    }
    const std::optional<std::int64_t> wall = parse_utc(text);
    if (!wall) {
      std::cerr << "acdctl: report: " << name << " " << text
                << ": not a UTC date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])\n";
      return kUsage;
    }
    *out = clock.log(*wall);
  }
  if (from >= to) {
    std::cerr << "acdctl: report: --from must be before --to\n";
    return kUsage;
  }
  // Filters.
  std::optional<history::QueueIndex> queue;
  if (!o.queue.empty()) {
    for (std::size_t i = 0; i < names.queues.size(); ++i) {
      if (names.queues[i] == o.queue) {
        queue = static_cast<history::QueueIndex>(i);
      }
    }
    if (!queue && o.queue.find_first_not_of("0123456789") == std::string::npos) {
      queue = static_cast<history::QueueIndex>(std::stoul(o.queue));
    }
    if (!queue) {
      std::cerr << "acdctl: report: --queue " << o.queue << ": no such queue in "
                << o.config_file << "\n";
      return kUsage;
    }
  }
  std::optional<history::AgentIndex> agent;
  if (!o.agent.empty()) {
    if (o.agent.find_first_not_of("0123456789") != std::string::npos) {
      std::cerr << "acdctl: report: --agent " << o.agent << ": an agent is given by its number\n";
      return kUsage;
    }
    const unsigned long number = std::stoul(o.agent);
    for (std::size_t i = 0; i < names.agents.size(); ++i) {
      if (names.agents[i] == number) {
        agent = static_cast<history::AgentIndex>(i);
      }
    }
    if (!agent) {
      std::cerr << "acdctl: report: --agent " << o.agent << ": no such agent in "
                << o.config_file << "\n";
      return kUsage;
    }
  }

  Table t;
  if (o.what == "intervals") {
    std::vector<history::QueueInterval> rows;
    if (!store->queue_intervals(from, to, rows, why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
    t.header = {"start", "queue"};
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(a.start, a.queue) < std::tie(b.start, b.queue);
    });
    for (const auto& r : rows) {
      if (queue && r.queue != *queue) {
        continue;
      }
      std::vector<json> row = {utc(clock.wall(r.start)), names.queue(r.queue)};
      for (json& v : queue_cells(r)) {
        row.push_back(std::move(v));
      }
      t.rows.push_back(std::move(row));
    }
    t.header.insert(t.header.end(), kQueueHeader.begin(), kQueueHeader.end());
  } else if (o.what == "queues") {
    std::vector<history::QueueInterval> sums;
    if (!store->queue_totals(from, to, queue, sums, why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
    t.header = {"queue"};
    for (const auto& s : sums) {
      std::vector<json> row = {names.queue(s.queue)};
      for (json& v : queue_cells(s)) {
        row.push_back(std::move(v));
      }
      t.rows.push_back(std::move(row));
    }
    t.header.insert(t.header.end(), kQueueHeader.begin(), kQueueHeader.end());
  } else if (o.what == "agents") {
    std::vector<history::AgentInterval> sums;
    if (!store->agent_totals(from, to, agent, sums, why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
    t.header = {"agent"};
    t.header.insert(t.header.end(), kAgentHeader.begin(), kAgentHeader.end());
    for (const auto& s : sums) {
      std::vector<json> row = {names.agent(s.agent)};
      for (json& v : agent_cells(s)) {
        row.push_back(std::move(v));
      }
      t.rows.push_back(std::move(row));
    }
  } else if (o.what == "calls") {
    std::uint64_t total = 0;
    if (!store->count(history::RecordTable::Call, from, to, total, why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
    t.header = kCallHeader;
    Progress progress(total);
    std::uint64_t done = 0;
    auto touches = [&](const history::CallDetail& c) {
      if (queue) {
        bool in = c.first_queue == *queue || c.last_queue == *queue;
        for (const auto& s : c.path) {
          in = in || s.queue == *queue;
        }
        if (!in) {
          return false;
        }
      }
      if (agent) {
        bool in = c.first_agent == *agent || c.last_agent == *agent;
        for (const auto& s : c.path) {
          in = in || s.agent == *agent || s.target == *agent;
        }
        if (!in) {
          return false;
        }
      }
      return true;
    };
    if (!store->each_call(
            from, to,
            [&](const history::CallDetail& c) {
              progress.step(++done);
              if (touches(c)) {
                t.rows.push_back(call_cells(c, names, clock));
              }
              return true;
            },
            why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
  } else if (o.what == "call") {
    if (o.call_id.empty() || o.call_id.find_first_not_of("0123456789") != std::string::npos) {
      std::cerr << "acdctl: report call: give the call's ID (a number)\n";
      return kUsage;
    }
    std::vector<history::CallDetail> found;
    if (!store->call_by_id(std::stoull(o.call_id), found, why)) {
      std::cerr << "acdctl: report: " << why << "\n";
      return kRefused;
    }
    if (found.empty()) {
      std::cerr << "acdctl: report call: no record of call " << o.call_id << " in " << db
                << " (not ended yet, before the retention period, or never seen)\n";
      return kRefused;
    }
    // The whole path: one row a step, the record's figures on each.
    t.header = {"call", "record", "step", "time", "kind", "queue", "agent", "target"};
    json records = json::array();
    for (const auto& c : found) {
      const std::string id = std::to_string(c.id.seq) + "/" + std::to_string(c.id.index);
      for (std::size_t i = 0; i < c.path.size(); ++i) {
        const auto& s = c.path[i];
        t.rows.push_back({c.call, id, i + 1, utc(clock.wall(s.time)),
                          std::string(history::to_string(s.kind)), names.queue(s.queue),
                          names.agent(s.agent), names.agent(s.target)});
      }
      json rec = json::object();
      const std::vector<json> cells = call_cells(c, names, clock);
      for (std::size_t i = 0; i < kCallHeader.size(); ++i) {
        rec[kCallHeader[i]] = cells[i];
      }
      rec["record"] = id;
      rec["answered"] = c.answered != 0 ? json(utc(clock.wall(c.answered))) : json(nullptr);
      rec["ended"] = utc(clock.wall(c.ended));
      json path = json::array();
      for (const auto& s : c.path) {
        path.push_back({{"time", utc(clock.wall(s.time))},
                        {"kind", std::string(history::to_string(s.kind))},
                        {"queue", names.queue(s.queue)},
                        {"agent", names.agent(s.agent)},
                        {"target", names.agent(s.target)}});
      }
      rec["path"] = std::move(path);
      records.push_back(std::move(rec));
    }
    if (o.json) {
      std::cout << records.dump(2) << "\n";
      return 0;
    }
    if (!o.csv) {
      for (const auto& rec : records) {
        std::cout << "call " << cell(rec["call"]) << " (record " << cell(rec["record"])
                  << "): " << cell(rec["outcome"]) << ", arrived " << cell(rec["arrived"])
                  << ", answered " << (rec["answered"].is_null() ? "never" : cell(rec["answered"]))
                  << ", ended " << cell(rec["ended"]) << "; wait " << cell(rec["wait_s"])
                  << " s, talk " << cell(rec["talk_s"]) << " s, hold " << cell(rec["hold_s"])
                  << " s, wrap " << cell(rec["wrap_s"]) << " s (" << cell(rec["wrap"]) << ")\n";
      }
    }
  } else {
    std::cerr << "acdctl: report: unknown report '" << o.what
              << "'; reports: intervals agents queues calls call\n";
    return kUsage;
  }
  print(t, o);
  return 0;
}

}  // namespace acd::acdctl
