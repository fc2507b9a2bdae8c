// acdctl agent import's work: the CSV reader, and the parallel hashing and merge into the
// credential file.
#include "acd/control/credential_import.hpp"

#include <sched.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <charconv>
#include <thread>

#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/dataplane/wire.hpp"
#include "acd/dataplane/thread_name.hpp"

namespace acd::control {

namespace {

constexpr std::size_t kMinSecret = 8;
constexpr std::size_t kMaxSecret = dataplane::wire::kPasswordBytes - 1;  // NUL-padded on the wire
constexpr std::size_t kErrorsShown = 20;

// Splits one CSV line into fields; false (with why) on an unterminated or misplaced quote.
bool split_csv(const std::string& line, std::vector<std::string>& fields, std::string& why) {
  fields.assign(1, std::string());
  bool quoted = false;
  bool was_quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty() && !was_quoted) {
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
      was_quoted = false;
    } else if (was_quoted) {
      why = "text after a closing quote";
      return false;
    } else {
      fields.back() += c;
    }
  }
  if (quoted) {
    why = "a quote is not closed";
    return false;
  }
  return true;
}

std::string trimmed(const std::string& s) {
  const std::size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) {
    return {};
  }
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

void wipe_string(std::string& s) {
  sodium_memzero(s.data(), s.size());
  s.clear();
}

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    return static_cast<unsigned>(std::max(CPU_COUNT(&set), 1));
  }
  return std::max(std::thread::hardware_concurrency(), 1u);
}

}  // namespace

Result<std::vector<ImportRow>> parse_import_csv(std::istream& in, const std::string& name) {
  std::vector<ImportRow> rows;
  std::vector<std::string> errors;
  std::map<router::AgentNumber, int> first_line;
  std::string line;
  std::vector<std::string> fields;
  int number = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (trimmed(line).empty() || line[0] == '#') {
      sodium_memzero(line.data(), line.size());
      continue;
    }
    std::string why;
    const bool split = split_csv(line, fields, why);
    sodium_memzero(line.data(), line.size());
    const bool header = first && split && !fields.empty() && trimmed(fields[0]) == "id";
    first = false;
    if (header) {
      continue;
    }
    auto bad = [&](const std::string& what) {
      errors.push_back(name + ":" + std::to_string(number) + ": " + what);
    };
    if (!split) {
      bad(why);
    } else if (fields.size() < 2 || fields.size() > 3) {
      bad("expected ID,SECRET[,FLAG] (3 fields at most), found " + std::to_string(fields.size()) +
          " field" + (fields.size() == 1 ? "" : "s"));
    } else {
      ImportRow row;
      row.line = number;
      const std::string id = trimmed(fields[0]);
      const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), row.agent);
      const std::string flag = fields.size() == 3 ? trimmed(fields[2]) : std::string();
      if (ec != std::errc() || end != id.data() + id.size() || row.agent == 0) {
        bad("agent ID \"" + id + "\" is not a number from 1 up");
      } else if (fields[1] == "*" && flag != "enrolment") {
        bad("agent " + id + ": a generated secret (\"*\") is an enrolment code: give flag "
            "enrolment");
      } else if (fields[1] != "*" && fields[1].size() < kMinSecret) {
        bad("agent " + id + ": the secret has " + std::to_string(fields[1].size()) +
            " characters; at least " + std::to_string(kMinSecret) + " are needed");
      } else if (fields[1].size() > kMaxSecret) {
        bad("agent " + id + ": the secret is longer than " + std::to_string(kMaxSecret) +
            " bytes, more than a sign-in carries");
      } else if (fields[1].find('\0') != std::string::npos) {
        bad("agent " + id + ": the secret holds a NUL byte");
      } else if (!flag.empty() && flag != "no" && flag != "yes" && flag != "must-change" &&
                 flag != "enrolment") {
        bad("agent " + id + ": flag \"" + flag +
            "\" is not one of: no (or empty), must-change (or yes), enrolment");
      } else if (const auto [at, inserted] = first_line.emplace(row.agent, number); !inserted) {
        bad("agent " + id + " is listed twice (first on line " + std::to_string(at->second) + ")");
      } else {
        row.flag = flag == "must-change" || flag == "yes" ? CredentialFlag::MustChange
                   : flag == "enrolment"                  ? CredentialFlag::Enrolment
                                                          : CredentialFlag::None;
        row.generate = fields[1] == "*";
        if (!row.generate) {
          row.secret = std::move(fields[1]);
        }
        rows.push_back(std::move(row));
      }
    }
    for (std::string& f : fields) {
      wipe_string(f);
    }
  }
  if (!errors.empty()) {
    for (ImportRow& r : rows) {
      wipe_string(r.secret);
    }
    std::string message = std::to_string(errors.size()) + " bad line" +
                          (errors.size() == 1 ? "" : "s") + " in " + name +
                          "; nothing was imported:";
    for (std::size_t i = 0; i < errors.size() && i < kErrorsShown; ++i) {
      message += "\n  " + errors[i];
    }
    if (errors.size() > kErrorsShown) {
      message += "\n  ... and " + std::to_string(errors.size() - kErrorsShown) + " more";
    }
    return Failure{ControlError::Usage, message};
  }
  return rows;
}

Result<ImportReport> import_credentials(const std::string& path, std::vector<ImportRow>& rows,
                                        const ImportOptions& options) {
  struct WipeRows {
    std::vector<ImportRow>& rows;
    ~WipeRows() {
      for (ImportRow& r : rows) {
        wipe_string(r.secret);
      }
    }
  } wipe_rows{rows};
  if (sodium_init() < 0) {
    return Failure{ControlError::Refused, "libsodium could not start"};
  }
  const CredentialFileLock lock(path);
  if (!lock.ok()) {
    return Failure{ControlError::Refused, lock.why()};
  }
  Result<CredentialTable> read = read_credential_file(path, true);
  if (!read.ok()) {
    return read.failure();
  }
  CredentialTable table = std::move(read).value();

  enum class Outcome : std::uint8_t { Added, Changed, Unchanged, Failed };
  std::vector<Outcome> outcome(rows.size(), Outcome::Failed);
  std::vector<std::string> hashes(rows.size());
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < rows.size(); i = next.fetch_add(1)) {
      ImportRow& row = rows[i];
      const auto it = table.find(row.agent);  // read only while the workers run
      if (row.generate) {
        // A new code each time: 100 bits, so a fast keyed hash protects it (never a CSV's code).
        row.secret = CredentialStore::generate_code();
        hashes[i] = row.secret.empty() ? std::string() : CredentialStore::code_hash(row.secret);
        if (!hashes[i].empty()) {
          outcome[i] = it == table.end() ? Outcome::Added : Outcome::Changed;
        }
        done.fetch_add(1, std::memory_order_release);
        continue;
      }
      // A spent enrolment code imported again stays spent (a re-run of the same CSV re-arms
      // nothing); a new code for the agent replaces it.
      const bool same_flag =
          it != table.end() &&
          (it->second.flag == row.flag || (it->second.flag == CredentialFlag::EnrolmentUsed &&
                                           row.flag == CredentialFlag::Enrolment));
      // A secret the agent must replace at its first sign-in is temporary: it may be hashed at
      // the import's cost; its replacement is hashed at [signin]'s.
      const HashCost& cost = row.flag != CredentialFlag::None && options.temporary_cost
                                 ? *options.temporary_cost
                                 : options.cost;
      if (same_flag &&
          crypto_pwhash_str_needs_rehash(it->second.hash.c_str(), cost.opslimit,
                                         cost.memlimit) == 0 &&
          CredentialStore::verify_secret(it->second.hash, row.secret)) {
        outcome[i] = Outcome::Unchanged;
      } else {
        hashes[i] = CredentialStore::hash(row.secret, cost);
        if (!hashes[i].empty()) {
          outcome[i] = it == table.end() ? Outcome::Added : Outcome::Changed;
        }
      }
      done.fetch_add(1, std::memory_order_release);
    }
  };
  const auto n = std::min<std::size_t>(options.threads > 0 ? options.threads : usable_cpus(),
                                           std::max<std::size_t>(rows.size(), 1));
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < n; ++t) {
    workers.emplace_back([&work, t] {
      dataplane::name_this_thread("acd-import-", static_cast<unsigned>(t));
      work();
    });
  }
  while (done.load(std::memory_order_acquire) < rows.size()) {
    if (options.progress) {
      options.progress(done.load(std::memory_order_acquire), rows.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (std::thread& w : workers) {
    w.join();
  }
  if (options.progress) {
    options.progress(rows.size(), rows.size());
  }

  ImportReport report;
  std::map<router::AgentNumber, bool> in_csv;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ImportRow& row = rows[i];
    in_csv[row.agent] = true;
    switch (outcome[i]) {
      case Outcome::Failed:
        return Failure{ControlError::Refused,
                       "hashing failed for agent " + std::to_string(row.agent) +
                           " (out of memory? each thread needs the cost's memory); " + path +
                           " unchanged"};
      case Outcome::Unchanged:
        report.unchanged.push_back(row.agent);
        break;
      case Outcome::Added:
      case Outcome::Changed:
        (outcome[i] == Outcome::Added ? report.added : report.changed).push_back(row.agent);
        if (row.generate) {
          report.codes.emplace_back(row.agent, row.secret);
        }
        table[row.agent] = CredentialEntry{std::move(hashes[i]), row.flag};
        break;
    }
  }
  if (options.remove_missing) {
    for (auto it = table.begin(); it != table.end();) {
      if (in_csv.count(it->first) == 0) {
        report.removed.push_back(it->first);
        it = table.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto* list : {&report.added, &report.changed, &report.unchanged}) {
    std::sort(list->begin(), list->end());
  }
  if (!options.dry_run &&
      (!report.added.empty() || !report.changed.empty() || !report.removed.empty())) {
    if (Result<void> written = write_credential_file(path, table); !written.ok()) {
      return written.failure();
    }
  }
  return report;
}

}  // namespace acd::control
