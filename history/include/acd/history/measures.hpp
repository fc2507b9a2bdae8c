// The contact-centre measures of docs/reports.md ("Measures and their definitions"), computed from
// the interval aggregates (records.hpp): service level, abandon rate, ASA, AHT, occupancy and time
// per state. One place for the formulas: `acdctl report` prints them, the tests check them against
// references computed from the calls themselves.
//
// Pure functions over plain data; any thread. Figures are unrounded; a ratio whose denominator is
// zero or below is 0 (no call of that kind in the period, see docs/reports.md).
#pragma once

#include <array>
#include <cstdint>

#include "acd/history/records.hpp"

namespace acd::history {

// One queue's measures over the intervals summed (sum()).
struct QueueMeasures {
  std::uint64_t offered = 0;
  std::uint64_t answered = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t short_abandoned = 0;
  std::uint64_t overflowed_out = 0;
  std::uint64_t handled = 0;
  // answered_in_sl ÷ (answered + abandoned − short_abandoned) × 100
  double service_level_pct = 0;
  // (abandoned − short_abandoned) ÷ (offered − short_abandoned) × 100
  double abandon_rate_pct = 0;
  double asa_s = 0;       // wait_answered ÷ answered
  double max_wait_s = 0;  // the longest wait that ended
  double aht_s = 0;       // (talk + hold + wrap) ÷ handled
};

// One agent's measures over the intervals summed.
struct AgentMeasures {
  std::uint64_t handled = 0;
  std::uint64_t no_answer = 0;
  std::uint64_t transfers_out = 0;
  double talk_s = 0;
  double hold_s = 0;
  double wrap_s = 0;
  std::array<double, router::kAgentStateCount> state_s{};  // time in each state (LoggedOut: 0)
  double signed_in_s = 0;  // NotReady + Ready + Reserved + Busy + WrapUp
  double ready_s = 0;
  double not_ready_s = 0;
  // (Busy + WrapUp) ÷ (signed in − NotReady) × 100
  double occupancy_pct = 0;
  double aht_s = 0;  // (talk + hold + wrap) ÷ handled
};

// Adds b's counts and times to a (max_wait_us: the larger). a's id, start and queue/agent stay.
void add(QueueInterval& a, const QueueInterval& b);
void add(AgentInterval& a, const AgentInterval& b);

QueueMeasures measures(const QueueInterval& sum);
AgentMeasures measures(const AgentInterval& sum);

}  // namespace acd::history
