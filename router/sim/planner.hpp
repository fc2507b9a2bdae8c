// acd-sim's planning mode: many simulated days of a centre whose day is cut into periods — arrival
// rate, handle time and patience per period, agents signing in and out on a schedule, agents lost
// at once (a site down) — each day's traffic scaled by a random busyness factor, and the figures
// planners use (three service-level definitions, ASA, abandonment, overflow, callbacks,
// occupancy and its spread across agents) as means over the days with Student-t confidence
// intervals, in total and per report interval. The same days can be run through several centres
// (routing configurations) with common random numbers: every centre sees the same callers, with
// the same patience and handle times, so their differences are measured per day.
//
// It drives acd::router::Engine through the same event loop as router/src/simulator.cpp
// (acd/router/sim_driver.hpp: offers answered at once, after-call work ended by the agent or the
// queue's wrap-up limit); see docs/simulator.md.
//
// Deterministic: the same plan, scenario and seed give the same numbers. Thread-safety: pure
// functions.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "acd/router/simulator.hpp"

namespace acd::sim_tool {

// Which service level is the headline one (all three are always measured).
enum class SlDefinition : std::uint8_t {
  Offered,                   // answered within T / offered
  AnsweredAndLateAbandoned,  // answered within T / (answered + abandoned after waiting T)
  ExcludingShortAbandons     // answered within T / (offered - abandoned within the grace)
};
inline constexpr int kSlDefinitions = 3;

// Per period of the day; an empty vector leaves the stream's constant value
// (router::sim::CallStream).
struct StreamPeriods {
  std::vector<double> rate_per_s;
  std::vector<double> aht_s;
  std::vector<double> patience_s;
};

// The first signed_in[p] agents of `agents` (in order) are signed in during period p; the others
// sign out (after their calls). Agents in no staffing plan are signed in all day.
struct StaffingPlan {
  std::vector<router::AgentIndex> agents;
  std::vector<std::uint32_t> signed_in;  // one per period
};

// From at_s until until_s (or the end of the day) these agents are gone at once: their calls are
// cut (released) and they are forced out — a site or a building lost. They come back ready.
struct Outage {
  double at_s = 0;
  double until_s = std::numeric_limits<double>::infinity();
  std::vector<router::AgentIndex> agents;
};

struct Plan {
  double period_s = 0;                 // length of a period; 0 = no periods
  std::size_t periods = 0;             // periods of the day (the length of every per-period list)
  std::vector<StreamPeriods> streams;  // parallel to Scenario::streams (may be shorter)
  std::vector<StaffingPlan> staffing;
  std::vector<Outage> outages;
  int days = 1;
  double busyness_shape = 0;  // gamma shape of the daily busyness factor (mean 1); 0 = none
  double sl_grace_s = 5;      // abandons within this are not counted (ExcludingShortAbandons)
  SlDefinition sl = SlDefinition::Offered;
  double report_interval_s = 0;  // 0 = no report over time
};

// One caller of a day: drawn before any routing, so every centre compared sees the same ones.
struct Caller {
  double arrival_s = 0;
  double handle_s = 0;
  double patience_s = std::numeric_limits<double>::infinity();  // never hangs up
  std::uint32_t stream = 0;
};

struct Day {
  double busyness = 1;
  std::vector<Caller> callers;  // by arrival time
};

// The callers of day `day` (0-based): Poisson arrivals per stream, piecewise constant over the
// periods (the last period's values hold to the end), every rate times the day's busyness.
Day draw_day(const router::sim::Scenario& scenario, const Plan& plan, int day);

// Counts of calls, by where they end.
struct Tally {
  double offered = 0;
  double answered = 0;
  double waited = 0;  // found no free agent
  double in_sl = 0;   // answered within the threshold
  double abandoned = 0;
  double abandoned_short = 0;  // within the grace
  double abandoned_late = 0;   // after waiting more than the threshold
  double overflowed = 0;       // left the centre by an overflow rule, or rejected
  double moved = 0;            // overflowed to another queue
  double callbacks = 0;        // offered a callback (gone, or keeping their place)
  double wait_sum_s = 0;       // of answered calls
  void add(const Tally& o);
  double service_level(SlDefinition d) const;
  double asa_s() const { return answered > 0 ? wait_sum_s / answered : 0.0; }
  double abandon_rate() const { return offered > 0 ? abandoned / offered : 0.0; }
  double p_wait() const { return offered > 0 ? waited / offered : 0.0; }
};

struct DayResult {
  double busyness = 1;
  Tally total;
  std::vector<Tally> queues;                  // by the queue the call arrived in
  std::vector<std::vector<Tally>> intervals;  // [report interval][queue], by arrival time
  double occupancy = 0;         // busy / signed-in time of all agents, measured window
  double occupancy_spread = 0;  // standard deviation of the agents' own occupancy
  std::uint64_t engine_events = 0;
  bool invariants_ok = true;
  std::string invariant_problem;
};

// One day of the callers through the scenario's centre. check_every > 0 checks the engine's
// invariants every that many events (slow; for tests).
DayResult run_day(const router::sim::Scenario& scenario, const Plan& plan, const Day& day,
                  std::uint64_t check_every = 0);

// The figures measured each day, per queue, in total and per report interval.
enum Metric : std::uint8_t {
  kOffered,           // calls per day
  kSlOffered,         // SlDefinition::Offered
  kSlAnsweredLate,    // SlDefinition::AnsweredAndLateAbandoned
  kSlExcludingShort,  // SlDefinition::ExcludingShortAbandons
  kAsa,               // mean wait of answered calls, s
  kPWait,             // share that found no free agent
  kAbandonRate,       // abandoned / offered
  kOverflowed,        // calls per day that left by overflow or were rejected
  kMoved,             // calls per day overflowed to another queue
  kCallbacks,         // calls per day offered a callback
  kMetricCount
};
inline constexpr const char* kMetricNames[kMetricCount] = {"offered",
                                                           "sl_offered",
                                                           "sl_answered_and_late_abandoned",
                                                           "sl_excluding_short_abandons",
                                                           "asa_s",
                                                           "p_wait",
                                                           "abandon_rate",
                                                           "overflowed",
                                                           "moved",
                                                           "callbacks"};
double metric(const Tally& t, Metric m);
Metric sl_metric(SlDefinition d);

using PerDay = std::vector<std::vector<double>>;  // [metric][day]

// One centre and the days it was run.
struct Centre {
  std::string name;
  router::sim::Scenario scenario;
  Plan plan;
};
struct CentreDays {
  std::string name;
  std::vector<std::string> queue_names;
  PerDay total;
  std::vector<PerDay> queues;
  std::vector<std::vector<PerDay>> intervals;                 // [report interval][queue]
  std::vector<double> occupancy, occupancy_spread, busyness;  // per day
  std::uint64_t engine_events = 0;
  bool invariants_ok = true;
  std::string invariant_problem;
};

// plan.days days of every centre, each day with the callers drawn from the first centre's
// scenario and plan (common random numbers). Every centre must have as many streams as the first,
// in the same order (the same scenario tables read against each centre).
std::vector<CentreDays> run_days(const std::vector<Centre>& centres, std::uint64_t check_every = 0);

// The mean over days and the half-width of its 95 % interval, Student's t with days - 1 degrees
// of freedom (0 for one day).
struct Estimate {
  double mean = 0;
  double ci95 = 0;
};
Estimate estimate(const std::vector<double>& per_day);
// The same for the per-day differences b - a (paired: the days share their callers).
Estimate difference(const std::vector<double>& a, const std::vector<double>& b);
// Student's t quantile for 97.5 %, df >= 1.
double student_t975(int df);

}  // namespace acd::sim_tool
