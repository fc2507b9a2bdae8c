// The control socket: a Unix stream socket where acdctl (or any script) sends one JSON request per
// connection and reads one JSON answer. Every command is one function here (`execute`), shared by
// the socket and by tests; acdctl only formats.
//
// Callers are identified with SO_PEERCRED and hold an operator role (operator_role.hpp): viewer,
// operator or admin, from their Unix groups; each command needs one (the table in commands.cpp,
// control/DESIGN.md "Operator roles").
// With an audit log, every request that changes state or is refused for permission is recorded
// with the caller's uid and name (command_audit.hpp).
//
// Threads: the server's own thread accepts and answers. It reads the engine's state only from the
// SnapshotBoard (snapshot_board.hpp, included here) and changes it only through the ControlChannel
// (sequenced like any other input).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <deque>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "acd/control/config.hpp"
#include "acd/control/operator_role.hpp"
#include "acd/control/result.hpp"
#include "acd/control/snapshot_board.hpp"
#include "acd/dataplane/control_channel.hpp"
#include "acd/dataplane/counters.hpp"

namespace acd::control {

// Rates of a few ever-growing counters over the last `window_s` seconds, from samples the control
// thread takes about once a second (for `status` and `top`).
class RateMeter {
 public:
  static constexpr std::size_t kCounters = 3;  // messages received, decisions, engine events
  using Values = std::array<std::uint64_t, kCounters>;
  explicit RateMeter(double window_s = 5.0) : window_s_(window_s) {}
  void sample(double t_s, const Values& values) {
    samples_.push_back({t_s, values});
    while (samples_.size() > 2 && samples_.front().t_s < t_s - window_s_) {
      samples_.pop_front();
    }
  }
  // Per second over the samples kept; zeros until two samples exist.
  std::array<double, kCounters> per_second() const {
    std::array<double, kCounters> rates{};
    if (samples_.size() < 2 || samples_.back().t_s <= samples_.front().t_s) {
      return rates;
    }
    const double span = samples_.back().t_s - samples_.front().t_s;
    for (std::size_t i = 0; i < kCounters; ++i) {
      const std::uint64_t a = samples_.front().values[i];
      const std::uint64_t b = samples_.back().values[i];
      rates[i] = b >= a ? static_cast<double>(b - a) / span : 0.0;  // a counter reset: 0
    }
    return rates;
  }

 private:
  struct Sample {
    double t_s;
    Values values;
  };
  double window_s_;
  std::deque<Sample> samples_;
};

struct HaStatus;        // ha_node.hpp
class ReloadFollower;   // reload_record.hpp
class AuditLog;   // audit_log.hpp
class CredentialStore;  // credential_store.hpp

struct ControlContext {
  ApplianceConfig* config =
      nullptr;              // the running configuration; only the control thread changes it
  std::string config_path;  // what `config reload` and SIGHUP read again ("" = embedded)
  // Configurations handed to the routing core: kept alive, since snapshots point at the one they
  // were taken under.
  std::list<ApplianceConfig> staged;
  // Structural reloads whose answer never came (the routing core may still use them): not freed.
  std::list<std::shared_ptr<dataplane::EngineSwap>> abandoned;
  SnapshotBoard* board = nullptr;
  dataplane::ControlChannel* channel = nullptr;
  const dataplane::CoreCounters* counters = nullptr;
  std::uint64_t started_ns = 0;
  std::string role = "active";  // status's role for a single node (a pair member's is its HA role)
  HaStatus* ha = nullptr;  // the node's HA state (ha_node.hpp); null: a single node
  // Where state-changing and permission-refused commands are recorded, and what `audit show`
  // reads (audit_log.hpp); null: no audit log. The log outlives the server.
  AuditLog* audit = nullptr;
  // The credential store whose sign-in back-offs `agents unlock` lifts (CredentialStore::backoff(),
  // which the directory's checks go through too); null: nothing to unlock (demo passwords).
  CredentialStore* credentials = nullptr;
  std::string listening;        // the dataplane's bound address, for status
  std::string backend;
  std::uint64_t config_version = 1;  // +1 per reload applied
  // A pair member's or journal's follower (reload_record.hpp): reloads it installed while this
  // node followed a log; the control thread adopts the latest before each command. Null: none.
  const ReloadFollower* follower = nullptr;
  std::uint64_t follower_adopted = 0;  // its applied() count already adopted
  RateMeter rates;                   // sampled by the control thread
};

// One rule of the table of roles (commands.cpp): `cmd` `action` needs the role `needs`, or
// `needs_with_file` when the request names a file acdd is to read. `action` "*" covers every
// action of a command that only reads. Every action acdd runs has a rule.
struct CommandPermission {
  std::string_view cmd;
  std::string_view action;
  OperatorRole needs;
  OperatorRole needs_with_file;
};
std::span<const CommandPermission> command_permissions();

// One command: {"cmd": ..., ...} -> {"ok": true, "result": ...} or {"ok": false, "error": ...,
// "code": ...}. `caller` is the caller's role: a command that needs a higher one is refused with
// permission_denied, naming the role it needs and the caller's (nothing runs).
nlohmann::json execute(ControlContext& ctx, const nlohmann::json& request, OperatorRole caller);

// Local midnight, for the "today" statistics [GB/T 32315 4.1.1 e3]: the control thread asks
// crossed() now and then and, when the local date has changed, sends the engine a NewDay input.
class DayBoundary {
 public:
  explicit DayBoundary(std::time_t now) : day_(day_of(now)) {}
  // True once per change of the local date (either way: a clock set back starts a new day too).
  bool crossed(std::time_t now) {
    const long day = day_of(now);
    if (day == day_) {
      return false;
    }
    day_ = day;
    return true;
  }

 private:
  static long day_of(std::time_t t) {
    std::tm local{};
    localtime_r(&t, &local);
    return static_cast<long>(local.tm_year) * 1000 + local.tm_yday;
  }
  long day_;
};

class ControlServer {
 public:
  explicit ControlServer(ControlContext ctx) : ctx_(ctx) {}
  ~ControlServer();
  // Binds the socket (replacing a stale one) and starts serving. Fails with Usage when the path
  // does not fit a Unix socket address, Refused when the socket cannot be made or bound (the
  // message names the path and the system's reason); nothing is left listening then.
  Result<void> start(const std::string& path);
  void stop();
  // Any thread (a signal handler's flag): reload the configuration file on the server's thread.
  void request_reload() { reload_.store(true); }

 private:
  void run();
  void housekeeping();
  void sample_rates();
  ControlContext ctx_;
  double last_sample_s_ = 0;
  std::string path_;
  int fd_ = -1;
  // Both sequentially consistent (the defaults): set by other threads (stop(), a signal's flag),
  // read by the server's thread; they publish no data of their own.
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  DayBoundary day_{std::time(nullptr)};
  bool new_day_pending_ = false;  // the date changed and the engine has not taken NewDay yet
  std::thread thread_;
};

}  // namespace acd::control
