#include "ha_commands.hpp"

#include "acd/control/ha_node.hpp"
#include "acd/control/result.hpp"

namespace acd::control {

namespace {

nlohmann::json status_of(const HaStatus& h) {
  std::string peer;
  {
    std::lock_guard<std::mutex> lock(h.text_mutex);
    peer = h.peer;
  }
  const HaRole role = h.role.load();
  const std::uint64_t last = h.last_seq.load();
  const std::uint64_t acked = h.peer_seq.load();
  nlohmann::json j{{"role", std::string(to_string(role))},
                   {"epoch", h.epoch.load()},
                   {"peer", peer},
                   {"last_seq", last},
                   {"hash_checks", h.hash_checks.load()},
                   {"hash_mismatches", h.hash_mismatches.load()},
                   {"last_hash_check_seq", h.last_hash_seq.load()},
                   {"failovers", h.failovers.load()},
                   {"fence_lost", h.fence_lost.load()},
                   {"fence_unreachable", h.fence_unreachable.load()},
                   {"reason", h.why()}};
  std::lock_guard<std::mutex> sources(h.sources_mutex);  // link and ack_latency may change
  if (h.link != nullptr) {
    nlohmann::json link = nlohmann::json::object();
    for (std::size_t i = 0; i < dataplane::kLinkCounterCount; ++i) {
      const auto c = static_cast<dataplane::LinkCounter>(i);
      if (const std::uint64_t v = h.link->read(c); v != 0) {
        link[std::string(dataplane::link_counter_name(c))] = v;
      }
    }
    j["link"] = link;
  }
  if (role == HaRole::Standby || role == HaRole::OutOfService) {
    j["primary_alive"] = h.peer_state.load() != 0;
  } else if (role != HaRole::Single) {
    static constexpr const char* kPeer[] = {"none", "catching-up", "synchronous", "dead"};
    const std::uint8_t p = h.peer_state.load();
    j["standby"] = p < 4 ? kPeer[p] : "?";
    j["standby_acked_seq"] = acked;
    j["lag_entries"] = last > acked ? last - acked : 0;
    j["held_datagrams"] = h.held.load();
    if (h.ack_latency != nullptr && h.ack_latency->count.load() > 0) {
      const auto& hist = *h.ack_latency;
      const std::uint64_t n = hist.count.load();
      j["ack_latency_mean_us"] = static_cast<double>(hist.sum_ns.load()) / 1000.0 /
                                 static_cast<double>(n);
      // The bucket bound below which 99 % of the acknowledgements came (null: above them all).
      std::uint64_t seen = 0;
      j["ack_latency_p99_at_most_us"] = nullptr;
      for (std::size_t b = 0; b < hist.kBoundsNs.size(); ++b) {
        seen += hist.buckets[b].load();
        if (seen * 100 >= n * 99) {
          j["ack_latency_p99_at_most_us"] = static_cast<double>(hist.kBoundsNs[b]) / 1000.0;
          break;
        }
      }
    }
  }
  return j;
}

}  // namespace

Result<nlohmann::json> ha_command(ControlContext& ctx, const std::string& action) {
  if (ctx.ha == nullptr) {
    return Failure{ControlError::Refused, "this node has no HA state"};
  }
  if (action == "list" || action == "status") {
    return status_of(*ctx.ha);
  }
  if (action == "switchover") {
    const HaRole role = ctx.ha->role.load();
    if (role != HaRole::Primary) {
      return Failure{ControlError::Refused, "switchover needs a primary with a synchronous standby; this node is " +
                      std::string(to_string(role))};
    }
    // The IO thread drains and steps down (NodeShipper::poll); this answer does not wait.
    ctx.ha->switchover_requested.store(true);
    return nlohmann::json{{"switchover", "started"}};
  }
  return Failure{ControlError::Usage, "ha takes status or switchover"};
}

}  // namespace acd::control
