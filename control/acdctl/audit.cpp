// acdctl audit show | verify: the audit log's records as lines or JSON, and its verification.
#include "audit.hpp"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "acd/control/audit_log.hpp"
#include "acd/control/config.hpp"
#include "acd/control/control_error.hpp"
#include "client.hpp"

namespace acd::acdctl {

using nlohmann::json;

namespace {

std::string text_of(const json& j, const char* key) {
  if (!j.contains(key)) {
    return "-";
  }
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void print_records(const json& records, bool as_json) {
  for (const json& r : records) {
    if (as_json) {
      std::cout << r.dump() << "\n";
      continue;
    }
    if (r.contains("unreadable")) {
      std::cout << "(unreadable line " << text_of(r, "line") << " of " << text_of(r, "file") << ": "
                << text_of(r, "unreadable") << ")\n";
      continue;
    }
    std::cout << text_of(r, "time") << "  #" << text_of(r, "seq") << "  " << text_of(r, "kind")
              << "  " << text_of(r, "outcome") << "  " << text_of(r, "actor") << "  "
              << text_of(r, "subject");
    if (r.contains("detail")) {
      std::cout << "  " << r["detail"].dump();
    }
    std::cout << "\n";
  }
}

}  // namespace

int run_audit_show(const AuditShowOptions& o) {
  std::optional<std::int64_t> since_ms;
  if (o.since) {
    since_ms = control::parse_audit_time(*o.since);
    if (!since_ms) {
      std::cerr << "acdctl: --since takes a UTC time like 2026-11-29T21:00:00Z or a date like "
                   "2026-11-29, not '"
                << *o.since << "'\n";
      return control::exit_status(control::ControlError::Usage);
    }
  }
  if (!o.dir.empty()) {
    const control::Result<json> read = control::read_audit_records(o.dir, since_ms, o.last);
    if (!read.ok()) {
      std::cerr << "acdctl: " << read.failure().message << "\n";
      return control::exit_status(read.failure().code);
    }
    print_records(read.value(), o.as_json);
    return 0;
  }
  json request{{"cmd", "audit"}, {"action", "show"}};
  if (o.since) {
    request["since"] = *o.since;
  }
  if (o.last) {
    request["last"] = *o.last;
  }
  const control::Result<json> asked = ask_result(o.socket_path, request);
  if (!asked.ok()) {
    std::cerr << "acdctl: " << asked.failure().message << "\n";
    return control::exit_status(asked.failure().code);
  }
  print_records(asked.value(), o.as_json);
  return 0;
}

int run_audit_verify(const std::string& dir, bool as_json) {
  const control::AuditVerifyReport r = control::verify_audit_log(dir);
  if (as_json) {
    json j{{"ok", r.ok},
           {"files", r.files},
           {"records", r.records},
           {"first_seq", r.first_seq},
           {"last_seq", r.last_seq},
           {"last_hash", r.last_hash},
           {"continuation", r.continuation}};
    if (!r.ok) {
      j["broken"] = {{"file", r.file}, {"line", r.line}, {"seq", r.seq}, {"why", r.why}};
    }
    std::cout << j.dump(2) << "\n";
  } else if (r.ok) {
    std::cout << "audit log " << dir << ": " << r.records << " records in " << r.files
              << " file(s), seq " << r.first_seq << " to " << r.last_seq << ": chain intact\n";
    if (r.continuation) {
      std::cout << "it continues an older part that is no longer here (pruned): the first "
                   "record's prev is "
                << r.first_prev << "\n";
    }
    std::cout << "head hash " << r.last_hash
              << " (keep it elsewhere: a later verify proves nothing before it was changed)\n";
  } else if (r.line == 0) {
    std::cerr << "acdctl: audit log " << dir << ": " << r.why << "\n";
  } else {
    std::cerr << "acdctl: audit log BROKEN at " << r.file << " line " << r.line;
    if (r.seq != 0) {
      std::cerr << " (seq " << r.seq << ")";
    }
    std::cerr << ": " << r.why << "\n";
    if (r.records != 0) {
      std::cerr << "the " << r.records << " record(s) before it (seq " << r.first_seq << " to "
                << r.last_seq << ") verify\n";
    }
  }
  return r.ok ? 0 : control::exit_status(control::ControlError::Refused);
}

int run_audit_match(const std::string& primary_dir, const std::string& standby_dir,
                    bool as_json) {
  const control::AuditMatchReport r = control::match_audit_logs(primary_dir, standby_dir);
  if (as_json) {
    json j{{"ok", r.ok},           {"primary_records", r.primary_records},
           {"matched", r.matched}, {"missing", r.missing},
           {"altered", r.altered}};
    if (r.missing + r.altered != 0) {
      j["first_missing_seq"] = r.first_missing_seq;
      j["last_missing_seq"] = r.last_missing_seq;
    }
    if (!r.why.empty()) {
      j["why"] = r.why;
    }
    std::cout << j.dump(2) << "\n";
  } else if (!r.why.empty()) {
    std::cerr << "acdctl: " << r.why << "\n";
  } else if (r.ok) {
    std::cout << "audit log " << standby_dir << " keeps all " << r.matched << " records "
              << primary_dir << "'s node made (chain intact)\n";
  } else {
    std::cerr << "acdctl: audit log " << standby_dir << " lacks " << r.missing
              << " and has altered " << r.altered << " of the " << r.primary_records
              << " records of " << primary_dir << " (seq " << r.first_missing_seq << " to "
              << r.last_missing_seq << ")\n";
  }
  return r.ok ? 0 : control::exit_status(control::ControlError::Refused);
}

std::optional<std::string> audit_dir_of(const std::string& config_file) {
  const control::ConfigResult loaded = control::load_config(config_file);
  if (!loaded.ok()) {
    for (const std::string& e : loaded.errors) {
      std::cerr << e << "\n";
    }
    return std::nullopt;
  }
  if (!loaded.config.audit.enabled()) {
    std::cerr << "acdctl: " << config_file
              << " keeps no audit log ([audit] dir); give the directory with --dir\n";
    return std::nullopt;
  }
  return loaded.config.audit.dir;
}

}  // namespace acd::acdctl
