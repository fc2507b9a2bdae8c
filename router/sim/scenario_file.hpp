// acd-sim's files (format in docs/simulator.md). A scenario file is an acd.toml — the centre, read
// by acd::domain exactly as acdd reads it — plus the simulation's own tables: [simulation] (seed,
// duration, warm-up, service-level threshold, after-call work) and [[stream]] (calls arriving into
// a queue: rate, handle time, patience, priority, tier, extra skills). acdd's own tables
// ([dataplane], [control], [metrics]) are accepted and ignored, so a production acd.toml is a
// scenario file without streams; default_streams() then offers each queue its calls.
//
// Every problem is collected, each as "FILE:LINE: what is wrong; what to do".
// Thread-safety: pure functions (load_* read the file system).
#pragma once

#include <string>
#include <vector>

#include "acd/router/simulator.hpp"
#include "planner.hpp"

namespace acd::sim_tool {

struct ScenarioFile {
  // In: the defaults; out: the centre, and whatever the file's [simulation] and [[stream]] say on
  // top of the defaults (keys the file does not give leave their field as it was).
  router::sim::Scenario scenario;
  std::vector<std::string> skill_names;  // the centre's skills, index = SkillId
  bool has_duration = false;             // [simulation] gave duration_s
  // Planning mode (planner.hpp): periods, staffing, outages, days, busyness, service-level
  // definitions, a report over time, variants. `planning` is set when the file uses any of it.
  Plan plan;
  bool planning = false;
  // [[variant]]: other centres (acd.toml files) to run the same days through (--compare).
  struct Variant {
    std::string name;
    std::string config;  // path, relative to the scenario file's directory when not absolute
    std::string where;   // FILE:LINE of the [[variant]]
  };
  std::vector<Variant> variants;
};

// The centre and the simulation tables of one file; `source` names it in messages.
[[nodiscard]] std::vector<std::string> read_scenario(const std::string& text,
                                                     const std::string& source, ScenarioFile& io);
// Only [simulation] and [[stream]] (a streams file for a centre read before): they replace the
// centre file's own streams. Queue and skill names are those of `io`'s centre.
[[nodiscard]] std::vector<std::string> read_streams(const std::string& text,
                                                    const std::string& source, ScenarioFile& io);
// Only the simulation's tables of a whole scenario file (its centre is skipped), against the
// centre already in `io`: the same days for another centre (--compare). Everything the
// simulation tables set in `io` is reset first.
[[nodiscard]] std::vector<std::string> read_simulation_of(const std::string& text,
                                                          const std::string& source,
                                                          ScenarioFile& io);
// The same, reading the file at `path` (which then names it in messages).
[[nodiscard]] std::vector<std::string> load_scenario(const std::string& path, ScenarioFile& io);
[[nodiscard]] std::vector<std::string> load_streams(const std::string& path, ScenarioFile& io);

// The calls for a centre given without [[stream]]: one Poisson stream per queue.
struct DefaultTraffic {
  double arrival_rate_per_s = 0;  // per queue; 0 = the load below
  double occupancy = 0.8;         // share of the queue's agents the offered load keeps busy
  double aht_s = 0;               // 0 = the queue's expected_aht_s
  router::sim::HandleDist handle_dist = router::sim::HandleDist::Exponential;
  double patience_s = 0;
};
// Without an arrival rate, each queue gets `occupancy` of the agents who serve it: an agent
// serving n queues gives each 1/n of its capacity for the queue's media (chat capacity 3 counts
// three), over the handle time plus the after-call work the scenario's agents do.
std::vector<router::sim::CallStream> default_streams(const router::sim::Scenario& scenario,
                                                     const DefaultTraffic& traffic);

}  // namespace acd::sim_tool
