// acd-sim: what-if simulation of a contact centre on the real routing engine.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/router/simulator.hpp"
#include "scenario_file.hpp"

using namespace acd::router;

namespace {

nlohmann::json to_json(const sim::Result& r, double wall_s) {
  nlohmann::json j;
  j["offered"] = r.offered;
  j["answered"] = r.answered;
  j["abandoned"] = r.abandoned;
  j["overflowed"] = r.overflowed;
  j["asa_s"] = r.asa_s.value;
  j["asa_s_ci95"] = r.asa_s.ci95;
  j["p_wait"] = r.p_wait.value;
  j["p_wait_ci95"] = r.p_wait.ci95;
  j["service_level"] = r.service_level.value;
  j["service_level_ci95"] = r.service_level.ci95;
  j["abandon_rate"] = r.abandon_rate.value;
  j["abandon_rate_ci95"] = r.abandon_rate.ci95;
  j["occupancy"] = r.occupancy;
  j["engine_events"] = r.engine_events;
  j["wall_s"] = wall_s;
  j["events_per_s"] = wall_s > 0 ? static_cast<double>(r.engine_events) / wall_s : 0.0;
  nlohmann::json queues = nlohmann::json::array();
  for (const auto& q : r.queues) {
    queues.push_back({{"name", q.name},
                      {"offered", q.offered},
                      {"answered", q.answered},
                      {"abandoned", q.abandoned},
                      {"overflowed", q.overflowed},
                      {"asa_s", q.asa_s},
                      {"service_level", q.service_level}});
  }
  j["queues"] = queues;
  return j;
}

void print_table(const sim::Result& r, double wall_s) {
  std::printf("offered        %12llu\n", static_cast<unsigned long long>(r.offered));
  std::printf("answered       %12llu\n", static_cast<unsigned long long>(r.answered));
  std::printf("abandoned      %12llu  (%.2f %% +- %.2f)\n",
              static_cast<unsigned long long>(r.abandoned), 100 * r.abandon_rate.value,
              100 * r.abandon_rate.ci95);
  std::printf("overflowed     %12llu\n", static_cast<unsigned long long>(r.overflowed));
  std::printf("waited         %12.2f %% +- %.2f\n", 100 * r.p_wait.value, 100 * r.p_wait.ci95);
  std::printf("ASA            %12.2f s +- %.2f\n", r.asa_s.value, r.asa_s.ci95);
  std::printf("service level  %12.2f %% +- %.2f\n", 100 * r.service_level.value,
              100 * r.service_level.ci95);
  std::printf("occupancy      %12.2f %%\n", 100 * r.occupancy);
  std::printf("engine events  %12llu in %.3f s (%.0f events/s)\n",
              static_cast<unsigned long long>(r.engine_events), wall_s,
              wall_s > 0 ? static_cast<double>(r.engine_events) / wall_s : 0.0);
  if (r.queues.size() > 1) {
    std::printf("\n%-16s %10s %10s %10s %10s %8s %8s\n", "queue", "offered", "answered",
                "abandoned", "overflow", "ASA s", "SL %");
    for (const auto& q : r.queues) {
      std::printf("%-16s %10llu %10llu %10llu %10llu %8.2f %8.2f\n", q.name.c_str(),
                  static_cast<unsigned long long>(q.offered),
                  static_cast<unsigned long long>(q.answered),
                  static_cast<unsigned long long>(q.abandoned),
                  static_cast<unsigned long long>(q.overflowed), q.asa_s, 100 * q.service_level);
    }
  }
}

// The scenario of --config (and --streams), with the flags given on top of it. Empty problems
// when it is good; otherwise what is wrong, each on its own line.
struct Flags {
  CLI::App& app;
  std::string config;
  std::string streams;
  double duration = 0;
  double warmup = 0;
  std::uint64_t seed = 1;
  double sl = 20;
  double wrapup = 0;
  acd::sim_tool::DefaultTraffic traffic;
  bool given(const char* flag) const { return app.count(flag) > 0; }
};

std::vector<std::string> scenario_from_files(const Flags& f, sim::Scenario& out) {
  using acd::sim_tool::ScenarioFile;
  if (f.given("--agents")) {
    return {"--agents is for the one-queue centre of the flags; with --config the agents are "
            "the file's"};
  }
  ScenarioFile file;
  std::vector<std::string> problems = acd::sim_tool::load_scenario(f.config, file);
  if (problems.empty() && !f.streams.empty()) {
    problems = acd::sim_tool::load_streams(f.streams, file);
  }
  if (!problems.empty()) {
    return problems;
  }
  sim::Scenario& s = file.scenario;
  if (f.given("--duration")) {
    s.duration_s = f.duration;
  } else if (!file.has_duration) {
    return {"--duration is needed (or duration_s in [simulation])"};
  }
  if (f.given("--warmup")) {
    s.warmup_s = f.warmup;
  }
  if (f.given("--seed")) {
    s.seed = f.seed;
  }
  if (f.given("--sl-threshold")) {
    s.sl_threshold_s = f.sl;
  }
  if (f.given("--wrapup")) {
    s.after_call_work_s = f.wrapup;
  }
  const bool traffic_flags = f.given("--arrival-rate") || f.given("--aht") ||
                             f.given("--patience") || f.given("--handle-dist");
  if (s.streams.empty()) {
    s.streams = acd::sim_tool::default_streams(s, f.traffic);
  } else if (traffic_flags) {
    return {"--arrival-rate, --aht, --patience and --handle-dist shape the default streams of a "
            "centre without [[stream]]; " +
            (f.streams.empty() ? f.config : f.streams) + " has its own [[stream]] tables"};
  }
  out = std::move(s);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-sim: simulate a contact centre on the acd routing engine (virtual clock)"};
  Flags f{app, {}, {}, 0, 0, 1, 20, 0, {}};
  int agents = 0;
  std::string dist = "exp";
  auto* agents_opt = app.add_option("--agents", agents, "Agents, all with the one skill")
                         ->check(CLI::Range(1, 10'000'000));
  auto* rate_opt =
      app.add_option("--arrival-rate", f.traffic.arrival_rate_per_s,
                     "Poisson arrivals, calls per second (with --config: per queue)")
          ->check(CLI::Range(1e-9, 1e7));
  auto* aht_opt = app.add_option("--aht", f.traffic.aht_s, "Mean handle time, seconds")
                      ->check(CLI::Range(1e-6, 1e7));
  app.add_option("--handle-dist", dist, "Handle-time distribution")
      ->check(CLI::IsMember({"exp", "lognormal", "const"}));
  app.add_option("--patience", f.traffic.patience_s,
                 "Mean caller patience, seconds (exponential); 0 = never hang up")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--wrapup", f.wrapup,
                 "After-call work after each call, seconds (with --config: at most each queue's "
                 "wrap_up_s)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--sl-threshold", f.sl, "Service-level threshold, seconds")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--duration", f.duration,
                 "Simulated seconds of arrivals (required unless the scenario gives duration_s)")
      ->check(CLI::Range(1e-3, 1e9));
  app.add_option("--warmup", f.warmup, "Seconds at the start whose calls are not counted")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--seed", f.seed, "Random seed");
  app.add_option("--config", f.config,
                 "A scenario file or an acd.toml: the centre, and its calls if it has [[stream]] "
                 "tables")
      ->check(CLI::ExistingFile);
  app.add_option("--streams", f.streams,
                 "[simulation] and [[stream]] tables for the centre of --config, replacing its own")
      ->check(CLI::ExistingFile);
  bool json = false;
  app.add_flag("--json", json, "Print one JSON object");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every other parse problem is a usage error: exit status 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  f.traffic.handle_dist = dist == "exp"         ? sim::HandleDist::Exponential
                          : dist == "lognormal" ? sim::HandleDist::Lognormal
                                                : sim::HandleDist::Constant;

  sim::Scenario scenario;
  if (!f.config.empty()) {
    const std::vector<std::string> problems = scenario_from_files(f, scenario);
    if (!problems.empty()) {
      for (const std::string& p : problems) {
        std::cerr << "acd-sim: " << p << "\n";
      }
      return 2;
    }
  } else {
    if (agents_opt->count() == 0 || rate_opt->count() == 0 || aht_opt->count() == 0) {
      std::cerr << "acd-sim: --agents, --arrival-rate and --aht are required without --config\n";
      return 2;
    }
    if (!f.streams.empty()) {
      std::cerr << "acd-sim: --streams needs --config, the centre its calls arrive in\n";
      return 2;
    }
    if (!f.given("--duration")) {
      std::cerr << "acd-sim: --duration is required\n";
      return 2;
    }
    scenario = sim::single_queue(agents, f.traffic.arrival_rate_per_s, f.traffic.aht_s,
                                 f.traffic.handle_dist, f.traffic.patience_s, f.wrapup, f.sl,
                                 f.duration, f.warmup, f.seed);
  }
  if (scenario.warmup_s >= scenario.duration_s) {
    std::cerr << "acd-sim: --warmup must be shorter than --duration\n";
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  const sim::Result result = sim::run(scenario);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    std::cout << to_json(result, wall_s).dump(2) << "\n";
  } else {
    print_table(result, wall_s);
  }
  return 0;
}
