#pragma once
// `acdctl report intervals|agents|queues|calls` and `acdctl report call ID` (docs/reports.md):
// reports over the history database that acdd's history thread writes. acdctl opens the SQLite
// file itself, read-only (never acdd's control socket: a long export costs acdd nothing, and works
// while acdd is stopped); who may read it is the file's permission (the acd-viewer group, as for
// the viewer role). Names of queues and agents come from the configuration file. Runs on the
// calling thread; a progress bar on stderr when it is a terminal and the export is long.
#include <optional>
#include <string>

namespace acd::acdctl {

struct ReportOptions {
  std::string what;         // intervals | agents | queues | calls | call
  std::string call_id;      // report call ID
  std::string from;         // UTC time or date (YYYY-MM-DD[THH:MM[:SS]]); "" = the beginning
  std::string to;           // "" = now
  std::string queue;        // only this queue (name or index)
  std::string agent;        // only this agent (number)
  std::string config_file;  // acd.toml: [history] path, names
  std::string db;           // the database, instead of the configuration's [history] path
  bool csv = false;
  bool json = false;
};

// Returns acdctl's exit code: 0 done, 1 refused (no database, unreadable), 2 usage (a bad time,
// an unknown queue or agent, --csv with --json).
int run_report(const ReportOptions& options);

}  // namespace acd::acdctl
