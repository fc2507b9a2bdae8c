// `acdctl dr ...` on the control thread: DrStatus read for status and history, requests handed to
// the IO thread (which owns the link, the fence and the routing) and their answers awaited.
#include "dr_commands.hpp"

#include <chrono>
#include <thread>

#include "acd/control/ha_node.hpp"

namespace acd::control {

namespace {

using nlohmann::json;

std::uint64_t wall_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

json status_of(const HaStatus& h) {
  const DrStatus& d = h.dr;
  const DrRole role = d.role.load();
  json j{{"role", std::string(to_string(role))}, {"epoch", h.epoch.load()}};
  {
    std::lock_guard<std::mutex> lock(d.mutex);
    j["site"] = d.site;
    j["peer_site"] = d.peer;
    if (role == DrRole::TakenOver) {
      j["takeover_epoch"] = d.takeover_epoch;
      j["takeover_applied_seq"] = d.takeover_seq;
      j["takeover_estimated_loss_records"] = d.takeover_loss;
    }
  }
  if (role == DrRole::Serving || role == DrRole::HandedOver ||
      (role == DrRole::TakenOver && d.follower_state.load() != 0)) {
    static constexpr const char* kPeer[] = {"none", "catching-up", "caught-up", "dead"};
    const std::uint8_t p = d.follower_state.load();
    j["follower"] = p < 4 ? kPeer[p] : "?";
    j["last_seq"] = h.last_seq.load();
    j["follower_acked_seq"] = d.follower_acked.load();
    // The RPO: what a loss of this site now would cost the DR site.
    j["rpo_records"] = d.lag_records.load();
    j["rpo_seconds"] = static_cast<double>(d.lag_us.load()) / 1e6;
  }
  if (role == DrRole::Standby) {
    // The DR pair's standby: following its pair's primary (which shows this node's lag).
    j["pair_primary_connected"] = d.connected.load();
    j["applied_seq"] = d.applied_seq.load();
  }
  if ((role == DrRole::Following || role == DrRole::OutOfService) &&
      d.standby_state.load() != 0) {
    // A DR pair's primary: its standby, and how far it trails this node.
    static constexpr const char* kPeer[] = {"none", "catching-up", "caught-up", "dead"};
    const std::uint8_t p = d.standby_state.load();
    const std::uint64_t applied = d.applied_seq.load();
    const std::uint64_t acked = d.standby_acked.load();
    j["pair_standby"] = p < 4 ? kPeer[p] : "?";
    j["pair_standby_acked_seq"] = acked;
    j["pair_standby_lag_records"] = applied > acked ? applied - acked : 0;
  }
  if (role == DrRole::Following || role == DrRole::OutOfService) {
    const std::uint64_t applied = d.applied_seq.load();
    const std::uint64_t head = d.head_seq.load();
    j["active_connected"] = d.connected.load();
    j["applied_seq"] = applied;
    j["active_head_seq"] = head;
    j["rpo_records"] = head > applied ? head - applied : 0;
    // How old the newest news from the active site is: the time it may have logged that we lack.
    // (Unknown when never heard, or when the active site's clock said something absurd.)
    const std::optional<double> age = age_seconds(d.head_wall_ns.load(), wall_now_ns());
    j["rpo_seconds"] = age ? json(*age) : json(nullptr);
  }
  j["reason"] = h.why();
  return j;
}

json history_of(const DrStatus& d) {
  json events = json::array();
  std::lock_guard<std::mutex> lock(d.mutex);
  for (const auto& [at, what] : d.history) {
    events.push_back({{"at_unix_ms", at / 1'000'000}, {"event", what}});
  }
  return json{{"events", events}};
}

// Hands the IO thread a request through `slot`, under a fresh ID, and waits for the answer to
// that ID: an earlier request's late answer is never taken for this one's.
Result<json> ask(DrStatus& d, std::atomic<std::uint64_t>& slot, std::chrono::milliseconds timeout,
                 const char* what) {
  const std::uint64_t id = d.next_request.fetch_add(1) + 1;
  slot.store(id);
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::optional<DrStatus::Outcome> outcome;
  while (!(outcome = d.outcome_of(id))) {
    if (std::chrono::steady_clock::now() >= until) {
      // Taken back if the IO thread has not taken it yet; otherwise it runs to its end.
      std::uint64_t mine = id;
      const bool untaken = slot.compare_exchange_strong(mine, 0);
      return Failure{ControlError::TryAgain,
                     std::string(what) + (untaken ? " was not taken up in time; nothing changed"
                                                  : " is still under way; see acdctl dr status")};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!outcome->ok) {
    return Failure{ControlError::Refused, std::string(what) + " refused: " + outcome->text};
  }
  return json{{"done", outcome->text}};
}

}  // namespace

Result<json> dr_command(ControlContext& ctx, const std::string& action, const json& request) {
  if (ctx.ha == nullptr) {
    return Failure{ControlError::Refused, "this node has no DR state"};
  }
  HaStatus& h = *ctx.ha;
  DrStatus& d = h.dr;
  if (action == "list" || action == "status") {
    return status_of(h);
  }
  if (action == "history") {
    return history_of(d);
  }
  const json timeout_field = request.value("timeout_ms", json(10000));
  if (!timeout_field.is_number_unsigned() || timeout_field.get<std::uint64_t>() > 600'000) {
    return Failure{ControlError::Usage, "timeout_ms is a number of milliseconds, at most 600000"};
  }
  const std::chrono::milliseconds timeout(timeout_field.get<std::uint64_t>());
  const DrRole role = d.role.load();
  if (action == "failover") {
    if (role != DrRole::Following) {
      return Failure{
          ControlError::Refused,
          "a failover is run on the DR site's follower; this node is " +
              std::string(to_string(role)) +
              (role == DrRole::OutOfService ? " (its state left the active site's)" : "")};
    }
    Result<json> r = ask(d, d.failover_requested, timeout, "failover");
    if (r.ok()) {
      std::lock_guard<std::mutex> lock(d.mutex);
      r.value()["epoch"] = d.takeover_epoch;
      r.value()["applied_seq"] = d.takeover_seq;
      r.value()["estimated_loss_records"] = d.takeover_loss;
    }
    return r;
  }
  if (action == "drill") {
    // The DR site proves it could take over, without touching production: a sandbox replays the
    // followed log to the active site's current state hash and routes a synthetic call
    // (ha_node.cpp sandbox_drill).
    if (role != DrRole::Following) {
      return Failure{
          ControlError::Refused,
          "a drill is run on the DR site's follower; this node is " + std::string(to_string(role))};
    }
    Result<json> r = ask(d, d.drill_requested, timeout, "drill");
    if (r.ok()) {
      std::lock_guard<std::mutex> lock(d.mutex);
      const DrStatus::Drill& x = d.drill;
      json& j = r.value();
      j["passed"] = x.passed;
      j["applied_seq"] = x.applied_seq;
      j["active_head_seq"] = x.head_seq;
      j["hash_seq"] = x.hash_seq == 0 ? json(nullptr) : json(x.hash_seq);
      j["hash_match"] = x.hash_seq == 0 ? json(nullptr) : json(x.hash_match);
      j["snapshot_seq"] = x.snapshot_seq;
      j["replayed_records"] = x.replayed;
      j["detail"] = x.detail;
      j["queue"] = x.queue;
      j["routed"] = x.routed;
      j["agent"] = x.routed == "agent" ? json(x.agent) : json(nullptr);
      j["took_ms"] = x.took_ms;
    }
    return r;
  }
  if (action == "switchover" || action == "switchback") {
    const bool back = action == "switchback";
    if (back ? role != DrRole::TakenOver : role != DrRole::Serving) {
      return Failure{ControlError::Refused,
                     back ? "a switchback is run on the node that took over (dr role taken-over), "
                            "once the site it took over from follows it; this node is " +
                                std::string(to_string(role))
                          : "a switchover is run on the active site's primary serving a DR "
                            "follower; this node is " +
                                std::string(to_string(role))};
    }
    if (d.follower_state.load() !=
        static_cast<std::uint8_t>(dataplane::LinkPrimary::PeerState::Synchronous)) {
      return Failure{ControlError::Refused,
                     "the DR follower is not caught up (see acdctl dr status); nothing changed"};
    }
    return ask(d, d.switchover_requested, timeout, back ? "switchback" : "switchover");
  }
  return Failure{ControlError::Usage,
                 "dr takes status, history, failover, switchover, switchback or drill"};
}

}  // namespace acd::control
