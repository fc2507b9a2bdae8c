// Reading the audit log: its files in order, the chain's verification, `audit show`'s records,
// times as text. The writer is audit_log.cpp.
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "acd/control/audit_log.hpp"

namespace acd::control {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxShown = 100000;

bool is_audit_file(const std::string& name) {
  return name.size() == 30 && name.rfind("audit-", 0) == 0 && name.compare(26, 4, ".log") == 0 &&
         name.find_first_not_of("0123456789", 6) == 26;
}

}  // namespace

std::vector<std::string> audit_files(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str()); d != nullptr) {
    while (const dirent* e = readdir(d)) {
      if (is_audit_file(e->d_name)) {
        names.emplace_back(e->d_name);
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());  // 20 digits: text order is seq order
  for (std::string& n : names) {
    n = dir + "/" + n;
  }
  return names;
}

AuditVerifyReport verify_audit_log(const std::string& dir) {
  AuditVerifyReport report;
  const std::vector<std::string> files = audit_files(dir);
  report.files = files.size();
  auto broken = [&](const std::string& file, std::size_t line, std::uint64_t seq, std::string why) {
    report.ok = false;
    report.file = file;
    report.line = line;
    report.seq = seq;
    report.why = std::move(why);
    return report;
  };
  bool first = true;
  std::uint64_t expected_seq = 0;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) {
      return broken(file, 0, 0, "cannot be read");
    }
    std::string text;
    std::size_t line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      const std::uint64_t at = first ? 0 : expected_seq;
      if (in.eof()) {
        return broken(file, line_no, at, "torn line (no newline at its end)");
      }
      json j = json::parse(text, nullptr, false);
      if (!j.is_object()) {
        return broken(file, line_no, at, "bad JSON");
      }
      for (const char* key :
           {"seq", "time", "kind", "actor", "subject", "outcome", "prev", "hash"}) {
        if (!j.contains(key)) {
          return broken(file, line_no, at, std::string("missing field '") + key + "'");
        }
      }
      if (!j["seq"].is_number_unsigned() || !j["prev"].is_string() || !j["hash"].is_string()) {
        return broken(file, line_no, at, "seq, prev or hash of the wrong type");
      }
      const std::uint64_t seq = j["seq"].get<std::uint64_t>();
      const std::string prev = j["prev"].get<std::string>();
      const std::string hash = j["hash"].get<std::string>();
      if (first) {
        report.first_seq = seq;
        report.first_prev = prev;
        report.continuation = !(seq == 1 && prev == std::string(64, '0'));
      } else {
        if (seq != expected_seq) {
          return broken(file, line_no, seq,
                        "seq gap (expected " + std::to_string(expected_seq) + ", found " +
                            std::to_string(seq) + "): a record is missing or out of order");
        }
        if (prev != report.last_hash) {
          return broken(file, line_no, seq,
                        "prev mismatch: it does not chain to the record before it");
        }
      }
      j.erase("hash");
      if (audit_hash(prev, j.dump(-1, ' ', false, json::error_handler_t::replace)) != hash) {
        return broken(file, line_no, seq, "hash mismatch: the record was changed");
      }
      first = false;
      expected_seq = seq + 1;
      report.last_seq = seq;
      report.last_hash = hash;
      ++report.records;
    }
  }
  if (report.records == 0) {
    return broken(dir, 0, 0, "no audit records in " + dir);
  }
  return report;
}

Result<json> read_audit_records(const std::string& dir, std::optional<std::int64_t> since_ms,
                                std::optional<std::size_t> last) {
  const std::vector<std::string> files = audit_files(dir);
  if (files.empty()) {
    return Failure{ControlError::Refused, "no audit records in " + dir};
  }
  const std::size_t keep = std::min(last.value_or(kMaxShown), kMaxShown);
  std::deque<json> shown;
  // With --last only, the newest files are enough: read backwards until `keep` are found.
  std::size_t start = 0;
  if (!since_ms) {
    std::size_t found = 0;
    start = files.size();
    while (start > 0 && found < keep) {
      --start;
      std::ifstream in(files[start]);
      std::string text;
      while (std::getline(in, text)) {
        ++found;
      }
    }
  }
  for (std::size_t f = start; f < files.size(); ++f) {
    std::ifstream in(files[f]);
    std::string text;
    std::size_t line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      json j = json::parse(text, nullptr, false);
      if (!j.is_object()) {
        j = json{{"file", files[f]}, {"line", line_no}, {"unreadable", text.substr(0, 200)}};
      } else if (since_ms) {
        const auto t = parse_audit_time(j.value("time", std::string()));
        if (t && *t < *since_ms) {
          continue;
        }
      }
      shown.push_back(std::move(j));
      if (shown.size() > keep) {
        shown.pop_front();
      }
    }
  }
  json out = json::array();
  for (json& j : shown) {
    out.push_back(std::move(j));
  }
  return out;
}

std::optional<std::int64_t> parse_audit_time(std::string_view text) {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int ms = 0;
  const std::string s(text);
  int used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10) {
    return std::nullopt;
  }
  std::size_t pos = 10;
  if (pos < s.size()) {
    if ((s[pos] != 'T' && s[pos] != ' ') ||
        std::sscanf(s.c_str() + pos + 1, "%2d:%2d:%2d%n", &hour, &minute, &second, &used) != 3 ||
        used != 8) {
      return std::nullopt;
    }
    pos += 9;
    if (pos < s.size() && s[pos] == '.') {
      if (std::sscanf(s.c_str() + pos + 1, "%3d%n", &ms, &used) != 1 || used != 3) {
        return std::nullopt;
      }
      pos += 4;
    }
    if (pos < s.size() && s[pos] == 'Z') {
      ++pos;
    }
    if (pos != s.size()) {
      return std::nullopt;
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
      year < 1970 || ms < 0 || hour < 0 || minute < 0 || second < 0) {
    return std::nullopt;
  }
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  const std::time_t t = timegm(&utc);
  return static_cast<std::int64_t>(t) * 1000 + ms;
}

// ---- the pair ----

AuditMatchReport match_audit_logs(const std::string& primary_dir, const std::string& standby_dir) {
  AuditMatchReport report;
  const AuditVerifyReport standby = verify_audit_log(standby_dir);
  if (!standby.ok) {
    report.ok = false;
    report.why = "the standby's log " + standby_dir + " does not verify: " + standby.why +
                 (standby.line != 0 ? " (" + standby.file + " line " +
                                          std::to_string(standby.line) + ")"
                                    : "");
    return report;
  }
  // The standby's copies, by the primary's hash: does each give that hash back?
  std::unordered_map<std::string, bool> copies;
  for (const std::string& file : audit_files(standby_dir)) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"primary\":{") == std::string::npos) {
        continue;
      }
      json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("primary") || !j["primary"].is_object()) {
        continue;
      }
      const json p = j["primary"];
      if (!p.contains("hash") || !p["hash"].is_string() || !p.contains("prev") ||
          !p["prev"].is_string() || !p.contains("seq")) {
        continue;
      }
      json original = j;
      for (const char* key : {"hash", "prev", "seq", "primary"}) {
        original.erase(key);
      }
      original["prev"] = p["prev"];
      original["seq"] = p["seq"];
      const std::string hash = p["hash"].get<std::string>();
      const bool faithful =
          audit_hash(p["prev"].get<std::string>(),
                     original.dump(-1, ' ', false, json::error_handler_t::replace)) == hash;
      copies[hash] = copies[hash] || faithful;
    }
  }
  // The standby's own operation records, by their body: an operation reaches a standby through
  // the replicated log too, and that copy is the one it keeps (the shipped one is not stored).
  std::unordered_set<std::string> operations;
  for (const std::string& file : audit_files(standby_dir)) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"operation.high_risk\"") == std::string::npos ||
          line.find("\"primary\":{") != std::string::npos) {
        continue;
      }
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) {
        continue;
      }
      for (const char* key : {"hash", "prev", "seq"}) {
        j.erase(key);
      }
      operations.insert(j.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  const std::vector<std::string> files = audit_files(primary_dir);
  if (files.empty()) {
    report.ok = false;
    report.why = "no audit records in " + primary_dir;
    return report;
  }
  for (const std::string& file : files) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const json j = json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string() ||
          !j.contains("seq") || !j["seq"].is_number_unsigned() || j.contains("primary")) {
        continue;  // not a record, or one the primary was itself given by its peer
      }
      ++report.primary_records;
      const auto found = copies.find(j["hash"].get<std::string>());
      json canonical = j;
      canonical.erase("hash");
      const bool intact =
          j.contains("prev") && j["prev"].is_string() &&
          audit_hash(j["prev"].get<std::string>(),
                     canonical.dump(-1, ' ', false, json::error_handler_t::replace)) ==
              j["hash"].get<std::string>();
      if (found != copies.end() && found->second && intact) {
        ++report.matched;
        continue;
      }
      if (found == copies.end() && intact) {
        // Kept as the standby's own record (from the log): the same body gives the same hash.
        json body = canonical;
        body.erase("prev");
        body.erase("seq");
        if (operations.count(body.dump(-1, ' ', false, json::error_handler_t::replace)) != 0) {
          ++report.matched;
          continue;
        }
      }
      const std::uint64_t seq = j["seq"].get<std::uint64_t>();
      if (found == copies.end()) {  // (an edited primary record is counted altered)
        ++report.missing;
      } else {
        ++report.altered;
      }
      if (report.first_missing_seq == 0) {
        report.first_missing_seq = seq;
      }
      report.last_missing_seq = seq;
    }
  }
  report.ok = report.missing == 0 && report.altered == 0;
  return report;
}

}  // namespace acd::control
