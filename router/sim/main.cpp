// acd-sim: what-if simulation of a contact centre on the real routing engine.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "acd/domain/toml_checker.hpp"
#include "acd/router/simulator.hpp"
#include "planner.hpp"
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
  int days = 1;
  acd::sim_tool::DefaultTraffic traffic;
  bool given(const char* flag) const { return app.count(flag) > 0; }
};

// The flags on top of what the files say.
std::vector<std::string> apply_flags(const Flags& f, acd::sim_tool::ScenarioFile& file) {
  sim::Scenario& s = file.scenario;
  if (f.given("--duration")) {
    s.duration_s = f.duration;
  } else if (!file.has_duration) {
    return {"--duration is needed (or duration_s in [simulation], or per-period lists)"};
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
  if (f.given("--days")) {
    file.plan.days = f.days;
  }
  const bool traffic_flags = f.given("--arrival-rate") || f.given("--aht") ||
                             f.given("--patience") || f.given("--handle-dist");
  if (s.streams.empty()) {
    s.streams = acd::sim_tool::default_streams(s, f.traffic);
  } else if (traffic_flags) {
    return {
        "--arrival-rate, --aht, --patience and --handle-dist shape the default streams of a "
        "centre without [[stream]]; " +
        (f.streams.empty() ? f.config : f.streams) + " has its own [[stream]] tables"};
  }
  return {};
}

// `centre` is --config's file, or a variant's acd.toml whose simulation tables are then --config's.
std::vector<std::string> scenario_from_files(const Flags& f, const std::string& centre,
                                             acd::sim_tool::ScenarioFile& file) {
  if (f.given("--agents")) {
    return {
        "--agents is for the one-queue centre of the flags; with --config the agents are "
        "the file's"};
  }
  std::vector<std::string> problems = acd::sim_tool::load_scenario(centre, file);
  if (problems.empty() && centre != f.config) {
    std::string text;
    if (std::string problem = acd::domain::read_text_file(f.config, text); !problem.empty()) {
      return {std::move(problem)};
    }
    problems = acd::sim_tool::read_simulation_of(text, f.config, file);
  }
  if (problems.empty() && !f.streams.empty()) {
    problems = acd::sim_tool::load_streams(f.streams, file);
  }
  if (!problems.empty()) {
    return problems;
  }
  return apply_flags(f, file);
}

// A variant's file relative to the scenario file that names it.
std::string beside(const std::string& scenario, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) {
    return path;
  }
  return (std::filesystem::path(scenario).parent_path() / p).string();
}

void print_planning(const std::vector<acd::sim_tool::CentreDays>& runs,
                    const acd::sim_tool::Plan& plan, const sim::Scenario& s) {
  using namespace acd::sim_tool;
  const Metric sl = sl_metric(plan.sl);
  const int days = std::max(1, plan.days);
  auto cell = [](const std::vector<double>& v, double scale) {
    const Estimate e = estimate(v);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f ± %.2f", scale * e.mean, scale * e.ci95);
    return std::string(buf);
  };
  auto diff = [](const std::vector<double>& a, const std::vector<double>& b, double scale) {
    const Estimate e = difference(a, b);
    char buf[64];
    std::snprintf(buf, sizeof buf, "(%+.2f ± %.2f)", scale * e.mean, scale * e.ci95);
    return std::string(buf);
  };
  std::printf("%d day%s of %.0f s; warm-up %.0f s; service level: answered within %.0f s", days,
              days == 1 ? "" : "s", s.duration_s, s.warmup_s, s.sl_threshold_s);
  std::printf(" (headline: %s; grace %.0f s); ± = 95 %% interval over days%s\n", kMetricNames[sl],
              plan.sl_grace_s,
              runs.size() > 1 ? "; (Δ) = paired difference from the first column" : "");
  if (plan.busyness_shape > 0) {
    std::printf("daily busyness factor: gamma, shape %.3g; drawn: %s\n", plan.busyness_shape,
                cell(runs.front().busyness, 1).c_str());
  }
  // Rows: per queue and in total, each figure; columns: the centres.
  struct Row {
    const char* label;
    int metric;  // Metric, or -1 occupancy, -2 its spread
    double scale;
  };
  const Row rows[] = {{"offered/day", kOffered, 1},
                      {"SL offered %", kSlOffered, 100},
                      {"SL ans+late-ab %", kSlAnsweredLate, 100},
                      {"SL excl short %", kSlExcludingShort, 100},
                      {"ASA s", kAsa, 1},
                      {"waited %", kPWait, 100},
                      {"abandoned %", kAbandonRate, 100},
                      {"overflowed/day", kOverflowed, 1},
                      {"moved/day", kMoved, 1},
                      {"callbacks/day", kCallbacks, 1}};
  const int width = runs.size() > 1 ? 34 : 20;
  std::printf("\n%-34s", "");
  for (const CentreDays& r : runs) {
    std::printf(" %*s", width, r.name.c_str());
  }
  std::printf("\n");
  auto line = [&](const std::string& label, auto values) {
    std::printf("%-34s", label.c_str());
    for (std::size_t c = 0; c < runs.size(); ++c) {
      std::string text = values(c, false);
      if (c > 0) {
        text += " " + values(c, true);
      }
      std::printf(" %*s", width, text.c_str());
    }
    std::printf("\n");
  };
  const std::size_t queues = runs.front().queue_names.size();
  // One queue: its rows are the total's.
  for (std::size_t q = 0; q <= queues; ++q) {
    if (q == queues && queues == 1) {
      break;
    }
    const std::string scope = q < queues ? runs.front().queue_names[q] : "all queues";
    for (const Row& row : rows) {
      line(scope + " " + row.label, [&](std::size_t c, bool delta) {
        const PerDay& mine = q < queues ? runs[c].queues[q] : runs[c].total;
        const PerDay& base = q < queues ? runs[0].queues[q] : runs[0].total;
        const auto m = static_cast<std::size_t>(row.metric);
        return delta ? diff(base[m], mine[m], row.scale) : cell(mine[m], row.scale);
      });
    }
  }
  line("agents occupancy %", [&](std::size_t c, bool delta) {
    return delta ? diff(runs[0].occupancy, runs[c].occupancy, 100) : cell(runs[c].occupancy, 100);
  });
  line("agents occupancy spread (sd) %", [&](std::size_t c, bool delta) {
    return delta ? diff(runs[0].occupancy_spread, runs[c].occupancy_spread, 100)
                 : cell(runs[c].occupancy_spread, 100);
  });
  for (const CentreDays& r : runs) {
    if (r.intervals.empty()) {
      continue;
    }
    std::printf("\nover time, %s (means over days, every call of the day by its arrival):\n",
                r.name.c_str());
    std::printf("%8s %-16s %10s %8s %8s %10s %10s %10s\n", "from s", "queue", "offered", "SL %",
                "aband %", "overflow", "moved", "callbacks");
    for (std::size_t i = 0; i < r.intervals.size(); ++i) {
      for (std::size_t q = 0; q < r.intervals[i].size(); ++q) {
        const PerDay& v = r.intervals[i][q];
        std::printf("%8.0f %-16s %10.1f %8.2f %8.2f %10.2f %10.2f %10.2f\n",
                    static_cast<double>(i) * plan.report_interval_s, r.queue_names[q].c_str(),
                    estimate(v[kOffered]).mean, 100 * estimate(v[sl]).mean,
                    100 * estimate(v[kAbandonRate]).mean, estimate(v[kOverflowed]).mean,
                    estimate(v[kMoved]).mean, estimate(v[kCallbacks]).mean);
      }
    }
  }
}

nlohmann::json planning_json(const std::vector<acd::sim_tool::CentreDays>& runs,
                             const acd::sim_tool::Plan& plan, double wall_s) {
  using namespace acd::sim_tool;
  auto est = [](const Estimate& e) { return nlohmann::json{{"mean", e.mean}, {"ci95", e.ci95}}; };
  auto figures = [&](const PerDay& mine, const PerDay* base) {
    nlohmann::json j;
    for (int m = 0; m < kMetricCount; ++m) {
      const auto i = static_cast<std::size_t>(m);
      j[kMetricNames[m]] = est(estimate(mine[i]));
      if (base != nullptr) {
        j[std::string(kMetricNames[m]) + "_vs_first"] = est(difference((*base)[i], mine[i]));
      }
    }
    j["service_level"] = j[kMetricNames[sl_metric(plan.sl)]];
    return j;
  };
  nlohmann::json j;
  j["days"] = std::max(1, plan.days);
  j["service_level_definition"] = kMetricNames[sl_metric(plan.sl)];
  j["wall_s"] = wall_s;
  nlohmann::json centres = nlohmann::json::array();
  for (std::size_t c = 0; c < runs.size(); ++c) {
    const CentreDays& r = runs[c];
    const bool paired = c > 0;
    nlohmann::json v;
    v["name"] = r.name;
    v["total"] = figures(r.total, paired ? &runs[0].total : nullptr);
    v["occupancy"] = est(estimate(r.occupancy));
    v["occupancy_spread"] = est(estimate(r.occupancy_spread));
    if (paired) {
      v["occupancy_vs_first"] = est(difference(runs[0].occupancy, r.occupancy));
      v["occupancy_spread_vs_first"] =
          est(difference(runs[0].occupancy_spread, r.occupancy_spread));
    }
    v["busyness"] = est(estimate(r.busyness));
    v["engine_events"] = r.engine_events;
    nlohmann::json queues = nlohmann::json::array();
    for (std::size_t q = 0; q < r.queues.size(); ++q) {
      nlohmann::json qj = figures(r.queues[q], paired ? &runs[0].queues[q] : nullptr);
      qj["name"] = r.queue_names[q];
      queues.push_back(qj);
    }
    v["queues"] = queues;
    nlohmann::json intervals = nlohmann::json::array();
    for (std::size_t i = 0; i < r.intervals.size(); ++i) {
      nlohmann::json ij;
      ij["from_s"] = static_cast<double>(i) * plan.report_interval_s;
      nlohmann::json qs = nlohmann::json::array();
      for (std::size_t q = 0; q < r.intervals[i].size(); ++q) {
        nlohmann::json qj = figures(r.intervals[i][q], nullptr);
        qj["name"] = r.queue_names[q];
        qs.push_back(qj);
      }
      ij["queues"] = qs;
      intervals.push_back(ij);
    }
    v["intervals"] = intervals;
    centres.push_back(v);
  }
  j["centres"] = centres;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acd-sim: simulate a contact centre on the acd routing engine (virtual clock)"};
  Flags f{app, {}, {}, 0, 0, 1, 20, 0, 1, {}};
  int agents = 0;
  std::string dist = "exp";
  auto* agents_opt = app.add_option("--agents", agents, "Agents, all with the one skill")
                         ->check(CLI::Range(1, 10'000'000));
  auto* rate_opt = app.add_option("--arrival-rate", f.traffic.arrival_rate_per_s,
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
  app.add_option("--days", f.days,
                 "Simulated days (planning mode: figures are means over the days, with 95 % "
                 "intervals)")
      ->check(CLI::Range(1, 100000));
  bool compare = false;
  app.add_flag("--compare", compare,
               "Run the same days (the same callers) through the scenario's centre and each "
               "[[variant]] / --variant centre, and print one table");
  std::vector<std::string> variant_flags;
  app.add_option("--variant", variant_flags,
                 "NAME=FILE: another centre (an acd.toml) for --compare; may be repeated");
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

  auto fail = [](const std::vector<std::string>& problems) {
    for (const std::string& p : problems) {
      std::cerr << "acd-sim: " << p << "\n";
    }
    return 2;
  };
  sim::Scenario scenario;
  acd::sim_tool::ScenarioFile file;
  if (!f.config.empty()) {
    const std::vector<std::string> problems = scenario_from_files(f, f.config, file);
    if (!problems.empty()) {
      return fail(problems);
    }
    scenario = file.scenario;
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
    file.plan.days = f.days;
  }
  if (scenario.warmup_s >= scenario.duration_s) {
    std::cerr << "acd-sim: --warmup must be shorter than --duration\n";
    return 2;
  }
  if ((compare || !variant_flags.empty()) && f.config.empty()) {
    std::cerr << "acd-sim: --compare and --variant need --config, the scenario to compare\n";
    return 2;
  }
  if (!variant_flags.empty() && !compare) {
    std::cerr << "acd-sim: --variant names a centre for --compare; add --compare\n";
    return 2;
  }

  // Planning mode: many days, periods, staffing, outages, or a comparison of centres.
  if (file.planning || f.given("--days") || compare) {
    std::vector<acd::sim_tool::Centre> centres;
    centres.push_back({"scenario", scenario, file.plan});
    if (compare) {
      std::vector<std::pair<std::string, std::string>> variants;
      for (const auto& v : file.variants) {
        variants.emplace_back(v.name, beside(f.config, v.config));
      }
      for (const std::string& v : variant_flags) {
        const std::size_t eq = v.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
          std::cerr << "acd-sim: --variant " << v << ": write NAME=FILE\n";
          return 2;
        }
        variants.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      }
      if (variants.empty()) {
        std::cerr << "acd-sim: --compare needs centres to compare: [[variant]] tables in "
                  << f.config << ", or --variant NAME=FILE\n";
        return 2;
      }
      for (const auto& [name, path] : variants) {
        for (const auto& c : centres) {
          if (c.name == name) {
            std::cerr << "acd-sim: variant '" << name << "' is named twice; name each once\n";
            return 2;
          }
        }
        acd::sim_tool::ScenarioFile other;
        std::vector<std::string> problems = scenario_from_files(f, path, other);
        if (problems.empty() && other.scenario.streams.size() != scenario.streams.size()) {
          problems.push_back(path + ": variant '" + name + "' has " +
                             std::to_string(other.scenario.streams.size()) + " streams but " +
                             f.config + " has " + std::to_string(scenario.streams.size()) +
                             "; --compare needs the same [[stream]] tables for every centre (a "
                             "centre without them gets default streams of its own)");
        }
        if (!problems.empty()) {
          std::cerr << "acd-sim: variant '" << name << "' (" << path << "):\n";
          return fail(problems);
        }
        centres.push_back({name, other.scenario, other.plan});
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const std::vector<acd::sim_tool::CentreDays> runs = acd::sim_tool::run_days(centres);
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (json) {
      std::cout << planning_json(runs, file.plan, wall_s).dump(2) << "\n";
    } else {
      print_planning(runs, file.plan, scenario);
    }
    return 0;
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
