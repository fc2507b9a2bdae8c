// Planning mode: the callers of a day drawn first, then played through the engine on a virtual
// clock, with staffing changes and outages as events of their own.
#include "planner.hpp"

#include <algorithm>
#include <cmath>

#include "acd/router/engine.hpp"
#include "acd/router/sim_driver.hpp"
#include "acd/router/sim_random.hpp"

namespace acd::sim_tool {

namespace {

using router::AgentIndex;
using router::Decision;
using router::DecisionType;
using router::Event;
using router::EventType;
using router::Micros;
using router::sim::CallStream;
using router::sim::HandleDist;
using router::sim::Random;
using router::sim::draw_handle_time;
using router::sim::to_micros;
using router::sim::Scenario;

double at_period(const std::vector<double>& values, std::size_t p, double otherwise) {
  if (values.empty()) {
    return otherwise;
  }
  return values[std::min(p, values.size() - 1)];
}

std::size_t period_of(const Plan& plan, double t_s) {
  if (plan.period_s <= 0 || plan.periods == 0) {
    return 0;
  }
  return std::min(static_cast<std::size_t>(t_s / plan.period_s), plan.periods - 1);
}

}  // namespace

Day draw_day(const Scenario& scenario, const Plan& plan, int day) {
  // One generator per (seed, day, stream): a stream's callers do not depend on the other streams.
  Day out;
  Random day_random(scenario.seed * 0x100000001b3ull + static_cast<std::uint64_t>(day) * 2 + 1);
  if (plan.busyness_shape > 0) {
    out.busyness = day_random.gamma(plan.busyness_shape) / plan.busyness_shape;
  }
  const StreamPeriods none;
  for (std::uint32_t i = 0; i < scenario.streams.size(); ++i) {
    const CallStream& s = scenario.streams[i];
    const StreamPeriods& periods = i < plan.streams.size() ? plan.streams[i] : none;
    Random random(day_random.next() ^ (static_cast<std::uint64_t>(i) << 32));
    double t = 0;
    while (t < scenario.duration_s) {
      const std::size_t p = period_of(plan, t);
      const double rate = at_period(periods.rate_per_s, p, s.arrival_rate_per_s) * out.busyness;
      // The end of this period: past it the rate may change, and exponential gaps are memoryless.
      const double period_end = plan.period_s > 0 && p + 1 < plan.periods
                                    ? static_cast<double>(p + 1) * plan.period_s
                                    : scenario.duration_s;
      if (rate <= 0) {
        t = period_end;
        continue;
      }
      const double next = t + random.exponential(1.0 / rate);
      if (next >= period_end) {
        t = period_end;
        continue;
      }
      t = next;
      Caller c;
      c.arrival_s = t;
      c.stream = i;
      const double aht_s = at_period(periods.aht_s, p, s.aht_s);
      c.handle_s = std::max(1e-6, draw_handle_time(random, s, aht_s));
      const double patience = at_period(periods.patience_s, p, s.patience_s);
      if (patience > 0) {
        c.patience_s = random.exponential(patience);
      }
      out.callers.push_back(c);
    }
  }
  std::stable_sort(out.callers.begin(), out.callers.end(),
                   [](const Caller& a, const Caller& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

void Tally::add(const Tally& o) {
  offered += o.offered;
  answered += o.answered;
  waited += o.waited;
  in_sl += o.in_sl;
  abandoned += o.abandoned;
  abandoned_short += o.abandoned_short;
  abandoned_late += o.abandoned_late;
  overflowed += o.overflowed;
  moved += o.moved;
  callbacks += o.callbacks;
  wait_sum_s += o.wait_sum_s;
}

double Tally::service_level(SlDefinition d) const {
  double base = offered;
  if (d == SlDefinition::AnsweredAndLateAbandoned) {
    base = answered + abandoned_late;
  } else if (d == SlDefinition::ExcludingShortAbandons) {
    base = offered - abandoned_short;
  }
  return base > 0 ? in_sl / base : 1.0;  // nobody to serve: nobody served late
}

namespace {

enum class Kind : std::uint8_t { Release, Abandon, WrapUpDone, Tick, Staffing };

enum class Fate : std::uint8_t { Pending, Queued, Answered, Abandoned, Overflowed, Done };

struct SimCall {
  Micros arrival = 0;
  router::QueueIndex queue = 0;
  AgentIndex agent = router::kNone;
  Fate fate = Fate::Pending;
  bool waited = false;
  bool counted = false;
  bool keeps_place = false;  // took a callback keeping its place: the caller no longer hangs up
  std::uint32_t interval = 0;
};

struct AgentTrack {
  bool signed_in = false;  // the engine says so
  bool wanted = true;      // the schedule wants them in
  bool leaving = false;    // not ready, signs out after its calls
  Micros staffed_since = 0, busy_since = 0;
  bool busy = false;
  double staffed_us = 0, busy_us = 0;
  std::uint32_t calls_answered = 0;
  std::vector<std::uint32_t> active;  // calls in progress
};

class DayRun : public router::sim::Driver<DayRun, Kind> {
 public:
  DayRun(const Scenario& s, const Plan& plan, const Day& day, std::uint64_t check_every)
      : Driver(s.engine, check_every),
        s_(s),
        plan_(plan),
        day_(day),
        agents_(s.engine.agents.size()),
        warmup_(to_micros(s.warmup_s)),
        end_(to_micros(s.duration_s)) {
    result_.busyness = day.busyness;
    result_.queues.resize(s.engine.queues.size());
    if (plan.report_interval_s > 0) {
      const auto n = static_cast<std::size_t>(std::ceil(s.duration_s / plan.report_interval_s));
      result_.intervals.assign(std::max<std::size_t>(n, 1),
                               std::vector<Tally>(s.engine.queues.size()));
    }
  }

  DayResult go() {
    // Staffing changes at every period start and at each outage's start and end.
    std::vector<Micros> changes{0};
    for (std::size_t p = 1; p < plan_.periods; ++p) {
      changes.push_back(to_micros(static_cast<double>(p) * plan_.period_s));
    }
    for (const Outage& o : plan_.outages) {
      changes.push_back(to_micros(o.at_s));
      if (std::isfinite(o.until_s)) {
        changes.push_back(to_micros(o.until_s));
      }
    }
    std::sort(changes.begin(), changes.end());
    changes.erase(std::unique(changes.begin(), changes.end()), changes.end());
    for (const Micros t : changes) {
      schedule(t, Kind::Staffing, 0);
    }
    std::size_t next_caller = 0;
    const std::vector<Caller>& callers = day_.callers;
    while (invariants_ok()) {
      const bool have_caller = next_caller < callers.size();
      if (have_caller &&
          (!pending() || to_micros(callers[next_caller].arrival_s) < next_time())) {
        advance_to(to_micros(callers[next_caller].arrival_s));
        arrive(next_caller++);
        continue;
      }
      if (!pending()) {
        break;
      }
      const Happening h = pop();
      switch (h.kind) {
        case Kind::Release:
          release(h.subject);
          break;
        case Kind::Abandon:
          if (calls_[h.subject].fate == Fate::Queued && !calls_[h.subject].keeps_place) {
            call_event(EventType::CallAbandoned, h.subject + 1);
          }
          break;
        case Kind::WrapUpDone:
          if (agents_[h.subject].signed_in && agents_[h.subject].calls_answered == h.tag) {
            agent_event(EventType::WrapUpDone, h.subject, 1);
          }
          break;
        case Kind::Tick:
          tick();
          break;
        case Kind::Staffing:
          restaff();
          break;
      }
    }
    return finish();
  }

 private:
  friend class Driver<DayRun, Kind>;

  // Who the schedule wants signed in now, and the engine told so.
  void restaff() {
    const double t_s = static_cast<double>(now()) / 1e6;
    const std::size_t p = period_of(plan_, t_s);
    for (AgentTrack& a : agents_) {
      a.wanted = true;
    }
    for (const StaffingPlan& sp : plan_.staffing) {
      const std::uint32_t n = sp.signed_in.empty()
                                  ? static_cast<std::uint32_t>(sp.agents.size())
                                  : sp.signed_in[std::min(p, sp.signed_in.size() - 1)];
      for (std::size_t i = 0; i < sp.agents.size(); ++i) {
        agents_[sp.agents[i]].wanted = i < n;
      }
    }
    std::vector<bool> lost(agents_.size(), false);
    for (const Outage& o : plan_.outages) {
      if (t_s >= o.at_s && t_s < o.until_s) {
        for (const AgentIndex a : o.agents) {
          lost[a] = true;
          agents_[a].wanted = false;
        }
      }
    }
    for (AgentIndex a = 0; a < agents_.size(); ++a) {
      AgentTrack& t = agents_[a];
      if (lost[a] && t.signed_in) {
        // Gone at once: their calls are cut, and they are out.
        const std::vector<std::uint32_t> cut = t.active;
        for (const std::uint32_t c : cut) {
          release(c);
        }
        sign(EventType::ForceLogout, a);
        t.leaving = false;
      } else if (t.wanted && t.signed_in && t.leaving) {
        t.leaving = false;
        sign(EventType::AgentReady, a);
      } else if (t.wanted && !t.signed_in) {
        sign(EventType::AgentSignIn, a);
        sign(EventType::AgentReady, a);
      } else if (!t.wanted && t.signed_in && !t.leaving) {
        sign(EventType::AgentNotReady, a);
        if (t.active.empty()) {
          sign(EventType::AgentSignOut, a);
        } else {
          t.leaving = true;
        }
      }
    }
  }

  void sign(EventType type, AgentIndex a) {
    agent_event(type, a, static_cast<std::uint16_t>(type == EventType::AgentNotReady ? 3 : 0));
  }

  void arrive(std::size_t index) {
    const Caller& caller = day_.callers[index];
    const CallStream& stream = s_.streams[caller.stream];
    const auto id = static_cast<std::uint32_t>(calls_.size());
    SimCall call;
    call.arrival = now();
    call.queue = stream.queue;
    call.counted = now() >= warmup_;
    if (!result_.intervals.empty()) {
      call.interval =
          std::min(static_cast<std::uint32_t>(caller.arrival_s / plan_.report_interval_s),
                   static_cast<std::uint32_t>(result_.intervals.size() - 1));
    }
    calls_.push_back(call);
    count(id, [](Tally& t) { t.offered += 1; });
    if (std::isfinite(caller.patience_s)) {
      schedule(now() + to_micros(caller.patience_s), Kind::Abandon, id);
    }
    route(id + 1, stream, s_.engine);
  }

  // Adds to the call's tallies: the day's, its queue's and its report interval's (the interval
  // counts every call of the day; the others only those after the warm-up).
  template <typename F>
  void count(std::uint32_t id, F&& f) {
    const SimCall& c = calls_[id];
    if (!result_.intervals.empty()) {
      f(result_.intervals[c.interval][c.queue]);
    }
    if (c.counted) {
      f(result_.total);
      f(result_.queues[c.queue]);
    }
  }

  void release(std::uint32_t id) {
    SimCall& c = calls_[id];
    if (c.fate != Fate::Answered) {
      return;  // cut earlier by an outage
    }
    c.fate = Fate::Done;
    AgentTrack& t = agents_[c.agent];
    t.active.erase(std::find(t.active.begin(), t.active.end(), id));
    call_event(EventType::CallReleased, id + 1);
    if (t.leaving && t.active.empty() && t.signed_in) {
      t.leaving = false;
      sign(EventType::AgentSignOut, c.agent);
    }
  }

  void react(const Decision& d) {
    switch (d.type) {
      case DecisionType::Queued: {
        SimCall& c = calls_[d.call - 1];
        c.fate = Fate::Queued;
        if (!c.waited) {
          c.waited = true;
          count(static_cast<std::uint32_t>(d.call - 1), [](Tally& t) { t.waited += 1; });
        }
        break;
      }
      case DecisionType::Offer:
        answer(static_cast<std::uint32_t>(d.call - 1), d.agent, d.queue);
        break;
      case DecisionType::Overflowed:
      case DecisionType::Rejected:
        overflow(d);
        break;
      case DecisionType::CallEnded:
        if (d.reason == 1) {
          const auto id = static_cast<std::uint32_t>(d.call - 1);
          SimCall& c = calls_[id];
          c.fate = Fate::Abandoned;
          const double wait_s = static_cast<double>(now() - c.arrival) / 1e6;
          const bool short_wait = wait_s <= plan_.sl_grace_s + 1e-9;
          const bool late = wait_s > s_.sl_threshold_s + 1e-9;
          count(id, [&](Tally& t) {
            t.abandoned += 1;
            t.abandoned_short += short_wait ? 1 : 0;
            t.abandoned_late += late ? 1 : 0;
          });
        }
        break;
      case DecisionType::AgentStateChanged:
        track(d.agent, d.state);
        break;
      default:
        break;
    }
  }

  void overflow(const Decision& d) {
    const auto id = static_cast<std::uint32_t>(d.call - 1);
    SimCall& c = calls_[id];
    if (d.type == DecisionType::Rejected) {
      c.fate = Fate::Overflowed;
      count(id, [](Tally& t) { t.overflowed += 1; });
      return;
    }
    switch (d.action) {
      case router::OverflowAction::ToQueue:
        count(id, [](Tally& t) { t.moved += 1; });
        break;
      case router::OverflowAction::CallbackKeepPlace:
        c.keeps_place = true;
        count(id, [](Tally& t) { t.callbacks += 1; });
        break;
      case router::OverflowAction::Callback:
        c.fate = Fate::Overflowed;
        count(id, [](Tally& t) { t.callbacks += 1; });
        break;
      default:
        c.fate = Fate::Overflowed;
        count(id, [](Tally& t) { t.overflowed += 1; });
        break;
    }
  }

  void answer(std::uint32_t id, AgentIndex agent, router::QueueIndex queue) {
    SimCall& c = calls_[id];
    c.fate = Fate::Answered;
    c.agent = agent;
    const double wait_s = static_cast<double>(now() - c.arrival) / 1e6;
    const bool in_sl = wait_s <= s_.sl_threshold_s + 1e-9;
    count(id, [&](Tally& t) {
      t.answered += 1;
      t.wait_sum_s += wait_s;
      t.in_sl += in_sl ? 1 : 0;
    });
    AgentTrack& a = agents_[agent];
    a.active.push_back(id);
    ++a.calls_answered;
    // Find the caller: calls_ and the day's callers share their index.
    const Micros handle = std::max<Micros>(1, to_micros(day_.callers[id].handle_s));
    schedule(now() + handle, Kind::Release, id);
    schedule_wrap_up(handle,
                     s_.engine.queues[queue < s_.engine.queues.size() ? queue : c.queue].wrap_up_ms,
                     s_.after_call_work_s, agent, a.calls_answered);
    call_event(EventType::CallAnswered, id + 1);
  }

  // Signed-in and busy time inside the measured window, per agent.
  void track(AgentIndex a, router::AgentState state) {
    AgentTrack& t = agents_[a];
    const bool in = state != router::AgentState::LoggedOut;
    const bool busy = state == router::AgentState::Busy || state == router::AgentState::WrapUp ||
                      state == router::AgentState::Reserved;
    if (t.busy && !busy) {
      t.busy_us += window(t.busy_since, now());
    } else if (!t.busy && busy) {
      t.busy_since = now();
    }
    t.busy = busy;
    if (t.signed_in && !in) {
      t.staffed_us += window(t.staffed_since, now());
    } else if (!t.signed_in && in) {
      t.staffed_since = now();
    }
    t.signed_in = in;
  }
  double window(Micros from, Micros to) const {
    const Micros lo = std::max(from, warmup_);
    const Micros hi = std::min(to, end_);
    return hi > lo ? static_cast<double>(hi - lo) : 0.0;
  }

  DayResult finish() {
    double busy = 0, staffed = 0;
    std::vector<double> own;
    for (AgentTrack& t : agents_) {
      if (t.busy) {
        t.busy_us += window(t.busy_since, now());
      }
      if (t.signed_in) {
        t.staffed_us += window(t.staffed_since, std::max(now(), end_));
      }
      busy += t.busy_us;
      staffed += t.staffed_us;
      if (t.staffed_us > 0) {
        own.push_back(std::min(1.0, t.busy_us / t.staffed_us));
      }
    }
    result_.occupancy = staffed > 0 ? busy / staffed : 0.0;
    if (!own.empty()) {
      double mean = 0;
      for (const double x : own) {
        mean += x;
      }
      mean /= static_cast<double>(own.size());
      double var = 0;
      for (const double x : own) {
        var += (x - mean) * (x - mean);
      }
      result_.occupancy_spread = std::sqrt(var / static_cast<double>(own.size()));
    }
    result_.engine_events = engine_events();
    result_.invariants_ok = final_check();
    result_.invariant_problem = invariant_problem();
    return std::move(result_);
  }

  const Scenario& s_;
  const Plan& plan_;
  const Day& day_;
  std::vector<AgentTrack> agents_;
  Micros warmup_, end_;
  std::vector<SimCall> calls_;
  DayResult result_;
};

}  // namespace

DayResult run_day(const Scenario& scenario, const Plan& plan, const Day& day,
                  std::uint64_t check_every) {
  DayRun run(scenario, plan, day, check_every);
  return run.go();
}

double student_t975(int df) {
  static constexpr double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                      2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                      2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                      2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) {
    return 0;
  }
  if (df <= 30) {
    return kTable[df - 1];
  }
  // Cornish-Fisher expansion of t around the normal quantile: good to 1e-4 past 30.
  const double z = 1.959964;
  const double n = df;
  return z + (z * z * z + z) / (4 * n) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

Estimate estimate(const std::vector<double>& per_day) {
  Estimate e;
  if (per_day.empty()) {
    return e;
  }
  for (const double x : per_day) {
    e.mean += x;
  }
  const auto n = static_cast<double>(per_day.size());
  e.mean /= n;
  if (per_day.size() < 2) {
    return e;
  }
  double var = 0;
  for (const double x : per_day) {
    var += (x - e.mean) * (x - e.mean);
  }
  var /= n - 1;
  e.ci95 = student_t975(static_cast<int>(per_day.size()) - 1) * std::sqrt(var / n);
  return e;
}

Estimate difference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d.push_back(b[i] - a[i]);
  }
  return estimate(d);
}

double metric(const Tally& t, Metric m) {
  switch (m) {
    case kOffered:
      return t.offered;
    case kSlOffered:
      return t.service_level(SlDefinition::Offered);
    case kSlAnsweredLate:
      return t.service_level(SlDefinition::AnsweredAndLateAbandoned);
    case kSlExcludingShort:
      return t.service_level(SlDefinition::ExcludingShortAbandons);
    case kAsa:
      return t.asa_s();
    case kPWait:
      return t.p_wait();
    case kAbandonRate:
      return t.abandon_rate();
    case kOverflowed:
      return t.overflowed;
    case kMoved:
      return t.moved;
    case kCallbacks:
      return t.callbacks;
    case kMetricCount:
      break;
  }
  return 0;
}

Metric sl_metric(SlDefinition d) {
  switch (d) {
    case SlDefinition::Offered:
      return kSlOffered;
    case SlDefinition::AnsweredAndLateAbandoned:
      return kSlAnsweredLate;
    case SlDefinition::ExcludingShortAbandons:
      return kSlExcludingShort;
  }
  return kSlOffered;
}

namespace {

void record(PerDay& into, const Tally& t) {
  into.resize(kMetricCount);
  for (int m = 0; m < kMetricCount; ++m) {
    into[static_cast<std::size_t>(m)].push_back(metric(t, static_cast<Metric>(m)));
  }
}

}  // namespace

std::vector<CentreDays> run_days(const std::vector<Centre>& centres, std::uint64_t check_every) {
  std::vector<CentreDays> out(centres.size());
  if (centres.empty()) {
    return out;
  }
  for (std::size_t c = 0; c < centres.size(); ++c) {
    out[c].name = centres[c].name;
    for (const router::QueueConfig& q : centres[c].scenario.engine.queues) {
      out[c].queue_names.push_back(q.name);
    }
    out[c].queues.resize(out[c].queue_names.size());
  }
  const Centre& first = centres.front();
  for (int d = 0; d < std::max(1, first.plan.days); ++d) {
    const Day day = draw_day(first.scenario, first.plan, d);
    for (std::size_t c = 0; c < centres.size(); ++c) {
      const DayResult r = run_day(centres[c].scenario, centres[c].plan, day, check_every);
      CentreDays& o = out[c];
      record(o.total, r.total);
      for (std::size_t q = 0; q < r.queues.size(); ++q) {
        record(o.queues[q], r.queues[q]);
      }
      o.intervals.resize(r.intervals.size(), std::vector<PerDay>(r.queues.size()));
      for (std::size_t i = 0; i < r.intervals.size(); ++i) {
        for (std::size_t q = 0; q < r.intervals[i].size(); ++q) {
          record(o.intervals[i][q], r.intervals[i][q]);
        }
      }
      o.occupancy.push_back(r.occupancy);
      o.occupancy_spread.push_back(r.occupancy_spread);
      o.busyness.push_back(r.busyness);
      o.engine_events += r.engine_events;
      if (!r.invariants_ok && o.invariants_ok) {
        o.invariants_ok = false;
        o.invariant_problem = r.invariant_problem;
      }
    }
  }
  return out;
}

}  // namespace acd::sim_tool
