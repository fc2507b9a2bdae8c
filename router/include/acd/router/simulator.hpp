// A discrete-event simulation of a contact centre that drives the routing engine on a virtual
// clock: Poisson arrivals per call stream, random handle times, exponential caller patience,
// after-call work. A what-if tool for staffing and policy questions, and the proof that the engine
// queues correctly (its results agree with Erlang C and Erlang A; see docs/simulator.md).
//
// Deterministic: the same scenario (seed included) gives the same result. Reads no clock; the
// caller times the run if it wants a speed figure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "acd/router/config.hpp"

namespace acd::router::sim {

enum class HandleDist : std::uint8_t { Exponential, Lognormal, Constant };

// One stream of calls into one queue.
struct CallStream {
  QueueIndex queue = 0;
  double arrival_rate_per_s = 1.0;  // Poisson
  double aht_s = 180.0;             // mean handle (talk) time
  HandleDist handle_dist = HandleDist::Exponential;
  double handle_cv = 1.0;   // lognormal only: coefficient of variation
  double patience_s = 0.0;  // mean of an exponential patience; 0 = callers never hang up
  std::uint8_t priority = 0;
  std::uint8_t tier = 0;
  SkillId language = kNoSkill;
  std::vector<SkillRequirement> skills;  // extra skills each call needs
};

struct Scenario {
  EngineConfig engine;  // queues and agents; every agent signs in ready at time 0
  std::vector<CallStream> streams;
  // After-call work: agents end it (WrapUpDone) this long after each call, unless their queue's
  // wrap_up_ms (the engine's limit; 0 = no wrap-up) is shorter and the engine ends it first.
  // Unset: agents use the whole of their queue's wrap_up_ms.
  std::optional<double> after_call_work_s;
  double sl_threshold_s = 20.0;  // for the overall service level
  double duration_s = 3600.0;    // arrivals stop after this
  double warmup_s = 0.0;         // calls arriving before this are not counted
  std::uint64_t seed = 1;
  int batches = 20;  // batch means for the confidence intervals
};

struct Estimate {
  double value = 0.0;
  double ci95 = 0.0;  // half-width of the 95 % confidence interval, from batch means
};

struct QueueResult {
  std::string name;
  std::uint64_t offered = 0;
  std::uint64_t answered = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t overflowed = 0;
  double asa_s = 0.0;
  double service_level = 0.0;
};

struct Result {
  std::uint64_t offered = 0;  // counted calls (arrived after warm-up, before the end)
  std::uint64_t answered = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t overflowed = 0;  // left by an overflow rule or were rejected
  std::uint64_t waited = 0;      // found no free agent and were queued
  Estimate asa_s;                // mean wait of answered calls
  Estimate p_wait;               // waited / offered
  Estimate service_level;        // answered within the threshold / offered
  Estimate abandon_rate;         // abandoned / offered
  double occupancy = 0.0;  // busy (talk + after-call work) time / staffed time, measured window
  std::uint64_t engine_events = 0;
  std::uint64_t engine_decisions = 0;
  std::vector<QueueResult> queues;
  bool invariants_ok = true;  // when checked (check_every > 0)
  std::string invariant_problem;
};

// Runs the scenario. check_every > 0 checks the engine's invariants every that many events
// (slow; for tests).
Result run(const Scenario& scenario, std::uint64_t check_every = 0);

// The single-queue, single-skill centre of the command-line flags. With wrap_up_s > 0 every agent
// spends exactly that long in after-call work (the queue's limit is an hour longer).
Scenario single_queue(int agents, double arrival_rate_per_s, double aht_s, HandleDist dist,
                      double patience_s, double wrap_up_s, double sl_threshold_s, double duration_s,
                      double warmup_s, std::uint64_t seed);

}  // namespace acd::router::sim
