// acd-sim: what-if simulation of a contact centre on the real routing engine.
#include <chrono>
#include <cstdio>
#include <iostream>

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-sim: simulate a contact centre on the acd routing engine (virtual clock)"};
  int agents = 0;
  double rate = 0;
  double aht = 0;
  std::string dist = "exp";
  double patience = 0;
  double wrapup = 0;
  double sl = 20;
  double duration = 0;
  double warmup = 0;
  std::uint64_t seed = 1;
  std::string config;
  bool json = false;
  auto* agents_opt = app.add_option("--agents", agents, "Agents, all with the one skill")
                         ->check(CLI::Range(1, 10'000'000));
  auto* rate_opt = app.add_option("--arrival-rate", rate, "Poisson arrivals, calls per second")
                       ->check(CLI::Range(1e-9, 1e7));
  auto* aht_opt =
      app.add_option("--aht", aht, "Mean handle time, seconds")->check(CLI::Range(1e-6, 1e7));
  app.add_option("--handle-dist", dist, "Handle-time distribution")
      ->check(CLI::IsMember({"exp", "lognormal", "const"}));
  app.add_option("--patience", patience,
                 "Mean caller patience, seconds (exponential); 0 = never hang up")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--wrapup", wrapup, "After-call work after each call, seconds")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--sl-threshold", sl, "Service-level threshold, seconds")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--duration", duration, "Simulated seconds of arrivals")
      ->required()
      ->check(CLI::Range(1e-3, 1e9));
  app.add_option("--warmup", warmup, "Seconds at the start whose calls are not counted")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--seed", seed, "Random seed");
  app.add_option("--config", config,
                 "Multi-skill scenario file (TOML); replaces --agents/--arrival-rate/--aht")
      ->check(CLI::ExistingFile);
  app.add_flag("--json", json, "Print one JSON object");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and succeeds; every other parse problem is a usage error: exit status 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  sim::Scenario scenario;
  if (!config.empty()) {
    scenario.duration_s = duration;
    scenario.warmup_s = warmup;
    scenario.sl_threshold_s = sl;
    scenario.wrap_up_s = wrapup;
    const std::string problem = acd::sim_tool::load_scenario(config, scenario);
    if (!problem.empty()) {
      std::cerr << "acd-sim: " << problem << "\n";
      return 2;
    }
    scenario.duration_s = duration;
    if (app.count("--warmup") > 0) {
      scenario.warmup_s = warmup;
    }
    if (app.count("--seed") > 0) {
      scenario.seed = seed;
    }
  } else {
    if (agents_opt->count() == 0 || rate_opt->count() == 0 || aht_opt->count() == 0) {
      std::cerr << "acd-sim: --agents, --arrival-rate and --aht are required without --config\n";
      return 2;
    }
    const sim::HandleDist d = dist == "exp"         ? sim::HandleDist::Exponential
                              : dist == "lognormal" ? sim::HandleDist::Lognormal
                                                    : sim::HandleDist::Constant;
    scenario =
        sim::single_queue(agents, rate, aht, d, patience, wrapup, sl, duration, warmup, seed);
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
