#pragma once
// `acdctl top`: a live view of one acdd for an operator — the header (role, site, uptime, config
// version, calls in the engine, rates, agents by state), the queues, the longest waiting calls and
// the agents longest in not-ready, wrap-up or ringing. Runs on the calling thread.
#include <string>

namespace acd::acdctl {

struct TopOptions {
  std::string socket_path;  // acdd's control socket
  double interval_s = 1.0;  // between refreshes
  int count = 0;            // > 0: print this many plain text frames, then exit
  bool as_json = false;     // print one frame's data as JSON, then exit
};

// Where the frames go: with stdin and stdout both terminals and no count, a full-screen view
// (ncurses) until q or Ctrl-C, refreshed every interval; it keeps going while acdd cannot be
// reached, saying why in its status line. Otherwise plain text frames (at most 80 columns, no
// escape codes), `count` of them or until killed, or one JSON frame.
// Returns acdctl's exit code: 0 done; in the plain and JSON modes also 3 acdd not reachable (or not
// answering), 1 refused, 4 permission denied, 5 try again later.
int run_top(const TopOptions& options);

}  // namespace acd::acdctl
