// `site status` from the control socket: peers and their summaries, from the snapshot.
#include "site_commands.hpp"

#include <algorithm>

namespace acd::control {

using nlohmann::json;

Result<json> site_command(ControlContext& ctx, const std::string& action) {
  if (action != "status" && action != "list") {
    return Failure{ControlError::Usage, "site takes status"};
  }
  const Snapshot s = ctx.board->read();
  if (s.config == nullptr) {
    return Failure{ControlError::TryAgain, "acdd has not published its state yet; try again"};
  }
  const ApplianceConfig& cfg = *s.config;
  const router::EngineConfig& d = cfg.domain;
  const std::size_t queue_count = s.queues.size();
  json peers = json::array();
  for (std::size_t i = 0; i < cfg.sites.size(); ++i) {
    const auto peer = std::find_if(cfg.dr.peers.begin(), cfg.dr.peers.end(),
                                   [&](const PeerSite& p) { return p.name == cfg.sites[i]; });
    json queues = json::array();
    for (std::size_t q = 0; q < queue_count && q < d.queues.size(); ++q) {
      const std::size_t at = i * queue_count + q;
      if (d.queues[q].retired || at >= s.site_summaries.size()) {
        continue;
      }
      const router::SiteSummaryView& v = s.site_summaries[at];
      json row{{"queue", d.queues[q].name}, {"received", v.seq != 0}};
      if (v.seq != 0) {
        row["seq"] = v.seq;
        row["age_s"] = static_cast<double>(s.engine_time - v.received) / 1e6;
        row["ready_agents"] = v.ready_agents;
        row["ewt_s"] = v.ewt_ms == router::kUnknownEwt ? json(nullptr) : json(v.ewt_ms / 1000.0);
        row["service_level"] = v.sl_permille / 1000.0;
        row["load"] = v.load_permille / 1000.0;
        row["accepts"] = v.accepts;
        row["fresh"] = v.fresh;
      }
      queues.push_back(std::move(row));
    }
    json p{{"site", cfg.sites[i]},
           {"number", i < d.site_numbers.size() ? d.site_numbers[i] : 0},
           {"queues", std::move(queues)}};
    if (peer != cfg.dr.peers.end()) {
      p["role"] = std::string(site_role_name(peer->role));
      p["dataplane"] = peer->dataplane;
      p["etcd"] = peer->etcd;
    }
    peers.push_back(std::move(p));
  }
  return json{{"site", cfg.site},
              {"number", d.site_number},
              {"max_site_hops", d.max_site_hops},
              {"summary_max_age_s", d.site_summary_max_age_ms / 1000.0},
              {"summaries_per_second", cfg.dr.summaries_per_second},
              {"summaries_kept", s.counters.site_summaries},
              {"summaries_ignored", s.counters.site_summaries_ignored},
              {"peers", std::move(peers)}};
}

}  // namespace acd::control
