// The measures of docs/reports.md from the interval aggregates.
#include "acd/history/measures.hpp"

#include <algorithm>

namespace acd::history {

namespace {

double seconds(Micros us) { return static_cast<double>(us) / 1e6; }

// a ÷ b; 0 when b is zero or below (nothing to measure against).
double ratio(double a, double b) { return b <= 0 ? 0.0 : a / b; }

}  // namespace

void add(QueueInterval& a, const QueueInterval& b) {
  a.offered += b.offered;
  a.answered += b.answered;
  a.answered_in_sl += b.answered_in_sl;
  a.abandoned += b.abandoned;
  a.short_abandoned += b.short_abandoned;
  a.overflowed_out += b.overflowed_out;
  a.handled += b.handled;
  a.wait_answered_us += b.wait_answered_us;
  a.max_wait_us = std::max(a.max_wait_us, b.max_wait_us);
  a.talk_us += b.talk_us;
  a.hold_us += b.hold_us;
  a.wrap_us += b.wrap_us;
}

void add(AgentInterval& a, const AgentInterval& b) {
  a.handled += b.handled;
  a.no_answer += b.no_answer;
  a.transfers_out += b.transfers_out;
  a.talk_us += b.talk_us;
  a.hold_us += b.hold_us;
  a.wrap_us += b.wrap_us;
  for (std::size_t i = 0; i < a.state_us.size(); ++i) {
    a.state_us[i] += b.state_us[i];
  }
  for (std::size_t i = 0; i < a.not_ready_us.size(); ++i) {
    a.not_ready_us[i] += b.not_ready_us[i];
  }
}

QueueMeasures measures(const QueueInterval& s) {
  QueueMeasures m;
  m.offered = s.offered;
  m.answered = s.answered;
  m.abandoned = s.abandoned;
  m.short_abandoned = s.short_abandoned;
  m.overflowed_out = s.overflowed_out;
  m.handled = s.handled;
  const double counted_abandons = static_cast<double>(s.abandoned) - s.short_abandoned;
  m.service_level_pct =
      100 * ratio(s.answered_in_sl, static_cast<double>(s.answered) + counted_abandons);
  m.abandon_rate_pct =
      100 * ratio(counted_abandons, static_cast<double>(s.offered) - s.short_abandoned);
  m.asa_s = ratio(seconds(s.wait_answered_us), s.answered);
  m.max_wait_s = seconds(s.max_wait_us);
  m.aht_s = ratio(seconds(s.talk_us + s.hold_us + s.wrap_us), s.handled);
  return m;
}

AgentMeasures measures(const AgentInterval& s) {
  using router::AgentState;
  AgentMeasures m;
  m.handled = s.handled;
  m.no_answer = s.no_answer;
  m.transfers_out = s.transfers_out;
  m.talk_s = seconds(s.talk_us);
  m.hold_s = seconds(s.hold_us);
  m.wrap_s = seconds(s.wrap_us);
  for (std::size_t i = 0; i < s.state_us.size(); ++i) {
    m.state_s[i] = seconds(s.state_us[i]);
  }
  m.state_s[static_cast<std::size_t>(AgentState::LoggedOut)] = 0;
  auto st = [&](AgentState x) { return s.state_us[static_cast<std::size_t>(x)]; };
  const Micros signed_in = st(AgentState::NotReady) + st(AgentState::Ready) +
                           st(AgentState::Reserved) + st(AgentState::Busy) + st(AgentState::WrapUp);
  const Micros available = signed_in - st(AgentState::NotReady);
  const Micros working = st(AgentState::Busy) + st(AgentState::WrapUp);
  m.signed_in_s = seconds(signed_in);
  m.ready_s = seconds(st(AgentState::Ready));
  m.not_ready_s = seconds(st(AgentState::NotReady));
  m.occupancy_pct = 100 * ratio(static_cast<double>(working), static_cast<double>(available));
  m.aht_s = ratio(seconds(s.talk_us + s.hold_us + s.wrap_us), s.handled);
  return m;
}

}  // namespace acd::history
