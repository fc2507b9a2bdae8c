#pragma once
// `acdctl audit show` and `acdctl audit verify` (docs/audit.md). `show` asks acdd (which checks
// that the caller may read the log) or, with a directory given, reads the files itself; `verify`
// always reads the files itself, so that it checks what is on disk without trusting the daemon
// that wrote it, and works when acdd is stopped. Runs on the calling thread.
#include <cstddef>
#include <optional>
#include <string>

namespace acd::acdctl {

struct AuditShowOptions {
  std::string socket_path;           // acdd's control socket (when dir is empty)
  std::string dir;                   // read these files directly instead
  std::optional<std::string> since;  // UTC time or date
  std::optional<std::size_t> last;   // only the newest N
  bool as_json = false;              // one JSON record a line, as stored
};
// Returns acdctl's exit code: 0 done, 1 refused (no log, unreadable), 2 usage (a bad time),
// 3 acdd not reachable, 4 permission denied.
int run_audit_show(const AuditShowOptions& options);

// Verifies the chain of the files in `dir` and prints the verdict: the records and the head hash,
// or the first broken record (file, line, seq) and why. Returns 0 when the chain holds, 1 when it
// is broken or there is nothing to verify.
int run_audit_verify(const std::string& dir, bool as_json);

// The pair: `standby_dir` verifies, and keeps every record `primary_dir`'s node made itself
// (control::match_audit_logs). Prints the count or the missing and altered records' range.
// Returns 0 when every one is kept, 1 otherwise.
int run_audit_match(const std::string& primary_dir, const std::string& standby_dir, bool as_json);

// The [audit] dir of the configuration file `config_file`; a message on stderr and nullopt when
// the file does not parse or keeps no audit log.
std::optional<std::string> audit_dir_of(const std::string& config_file);

}  // namespace acd::acdctl
