// The discrete-event simulator: a virtual clock, a heap of future happenings, and the engine.
#include "acd/router/simulator.hpp"

#include <algorithm>
#include <cmath>

#include "acd/router/sim_driver.hpp"
#include "acd/router/sim_random.hpp"

namespace acd::router::sim {

namespace {

enum class Kind : std::uint8_t { Arrival, Release, Abandon, WrapUpDone, Tick };

enum class Fate : std::uint8_t { Pending, Queued, Answered, Abandoned, Overflowed, Done };

struct SimCall {
  Micros arrival = 0;
  Micros answered = 0;
  std::uint32_t stream = 0;
  QueueIndex queue = 0;
  AgentIndex agent = kNone;
  Fate fate = Fate::Pending;
  bool waited = false;
  bool counted = false;
  int batch = 0;
};

struct Batch {
  double offered = 0, answered = 0, abandoned = 0, waited = 0, in_sl = 0, wait_sum_s = 0;
};

class Run : public Driver<Run, Kind> {
 public:
  Run(const Scenario& s, std::uint64_t check_every)
      : Driver(s.engine, check_every),
        s_(s),
        random_(s.seed),
        batches_(static_cast<std::size_t>(std::max(1, s.batches))),
        queues_(s.engine.queues.size()),
        agent_busy_since_(s.engine.agents.size(), 0) {
    for (std::size_t q = 0; q < queues_.size(); ++q) {
      queues_[q].name = s.engine.queues[q].name;
    }
  }

  Result go() {
    // Everybody signs in and goes ready at time zero.
    for (AgentIndex a = 0; a < s_.engine.agents.size(); ++a) {
      agent_event(EventType::AgentSignIn, a);
      agent_event(EventType::AgentReady, a);
    }
    for (std::uint32_t i = 0; i < s_.streams.size(); ++i) {
      if (s_.streams[i].arrival_rate_per_s > 0) {
        schedule(to_micros(random_.exponential(1.0 / s_.streams[i].arrival_rate_per_s)),
                 Kind::Arrival, i);
      }
    }
    while (pending() && invariants_ok()) {
      const Happening h = pop();
      switch (h.kind) {
        case Kind::Arrival:
          arrive(h.subject);
          break;
        case Kind::Release:
          call_event(EventType::CallReleased, h.subject + 1);
          break;
        case Kind::Abandon:
          if (calls_[h.subject].fate == Fate::Queued) {
            call_event(EventType::CallAbandoned, h.subject + 1);
          }
          break;
        case Kind::WrapUpDone:
          agent_event(EventType::WrapUpDone, h.subject, 1);
          break;
        case Kind::Tick:
          tick();
          break;
      }
    }
    return finish();
  }

 private:
  friend class Driver<Run, Kind>;

  void arrive(std::uint32_t stream_index) {
    const CallStream& stream = s_.streams[stream_index];
    const Micros end = to_micros(s_.duration_s);
    if (now() >= end) {
      return;
    }
    schedule(
        now() + std::max<Micros>(1, to_micros(random_.exponential(1.0 / stream.arrival_rate_per_s))),
        Kind::Arrival, stream_index);
    const auto index = static_cast<std::uint32_t>(calls_.size());
    SimCall call;
    call.arrival = now();
    call.stream = stream_index;
    call.queue = stream.queue;
    const Micros warmup = to_micros(s_.warmup_s);
    call.counted = now() >= warmup;
    if (call.counted) {
      const double share = static_cast<double>(now() - warmup) / static_cast<double>(end - warmup);
      call.batch = std::min(static_cast<int>(share * static_cast<double>(batches_.size())),
                            static_cast<int>(batches_.size()) - 1);
      ++result_.offered;
      ++queues_[call.queue].offered;
      batches_[static_cast<std::size_t>(call.batch)].offered += 1;
    }
    calls_.push_back(call);
    if (stream.patience_s > 0) {
      schedule(now() + to_micros(random_.exponential(stream.patience_s)), Kind::Abandon, index);
    }
    route(index + 1, stream, s_.engine);
  }

  double handle_time(const CallStream& stream) {
    return draw_handle_time(random_, stream, stream.aht_s);
  }

  void react(const Decision& d) {
    switch (d.type) {
      case DecisionType::Queued: {
        SimCall& c = calls_[d.call - 1];
        c.fate = Fate::Queued;
        if (!c.waited) {
          c.waited = true;
          if (c.counted) {
            ++result_.waited;
            batches_[static_cast<std::size_t>(c.batch)].waited += 1;
          }
        }
        break;
      }
      case DecisionType::Offer:
        answer(static_cast<std::uint32_t>(d.call - 1), d.agent, d.queue);
        break;
      case DecisionType::Overflowed:
      case DecisionType::Rejected:
        if (d.type == DecisionType::Rejected || d.action != OverflowAction::ToQueue) {
          SimCall& c = calls_[d.call - 1];
          c.fate = Fate::Overflowed;
          if (c.counted) {
            ++result_.overflowed;
            ++queues_[c.queue].overflowed;
          }
        }
        break;
      case DecisionType::CallEnded:
        if (d.reason == 1) {
          SimCall& c = calls_[d.call - 1];
          c.fate = Fate::Abandoned;
          if (c.counted) {
            ++result_.abandoned;
            ++queues_[c.queue].abandoned;
            batches_[static_cast<std::size_t>(c.batch)].abandoned += 1;
          }
        }
        break;
      case DecisionType::AgentStateChanged:
        track_busy(d.agent, d.state == AgentState::Busy || d.state == AgentState::WrapUp ||
                                d.state == AgentState::Reserved);
        break;
      default:
        break;
    }
  }

  void answer(std::uint32_t index, AgentIndex agent, QueueIndex queue) {
    SimCall& c = calls_[index];
    c.fate = Fate::Answered;
    c.answered = now();
    c.agent = agent;
    const double wait_s = static_cast<double>(now() - c.arrival) / 1e6;
    if (c.counted) {
      ++result_.answered;
      wait_sum_s_ += wait_s;
      QueueResult& q = queues_[c.queue];
      ++q.answered;
      q.asa_s += wait_s;
      Batch& b = batches_[static_cast<std::size_t>(c.batch)];
      b.answered += 1;
      b.wait_sum_s += wait_s;
      if (wait_s <= s_.sl_threshold_s + 1e-9) {
        b.in_sl += 1;
        ++in_sl_;
        q.service_level += 1;
      }
    }
    const Micros handle = std::max<Micros>(1, to_micros(handle_time(s_.streams[c.stream])));
    schedule(now() + handle, Kind::Release, index);
    schedule_wrap_up(handle,
                     s_.engine.queues[queue < s_.engine.queues.size() ? queue : c.queue].wrap_up_ms,
                     s_.after_call_work_s, agent, 0);
    // The offer is answered at once: there is no ringing in the model.
    call_event(EventType::CallAnswered, index + 1);
  }

  // Busy time inside the measured window, for occupancy.
  void track_busy(AgentIndex a, bool busy) {
    if (busy && agent_busy_since_[a] == 0) {
      agent_busy_since_[a] = now() + 1;  // +1: 0 means "not busy"
    } else if (!busy && agent_busy_since_[a] != 0) {
      add_busy(agent_busy_since_[a] - 1, now());
      agent_busy_since_[a] = 0;
    }
  }
  void add_busy(Micros from, Micros to) {
    const Micros lo = std::max(from, to_micros(s_.warmup_s));
    const Micros hi = std::min(to, to_micros(s_.duration_s));
    if (hi > lo) {
      busy_us_ += static_cast<double>(hi - lo);
    }
  }

  Result finish() {
    for (AgentIndex a = 0; a < agent_busy_since_.size(); ++a) {
      if (agent_busy_since_[a] != 0) {
        add_busy(agent_busy_since_[a] - 1, now());
      }
    }
    Result& r = result_;
    const double offered = static_cast<double>(std::max<std::uint64_t>(r.offered, 1));
    r.p_wait.value = static_cast<double>(r.waited) / offered;
    r.abandon_rate.value = static_cast<double>(r.abandoned) / offered;
    r.service_level.value = static_cast<double>(in_sl_) / offered;
    r.asa_s.value = r.answered > 0 ? wait_sum_s_ / static_cast<double>(r.answered) : 0.0;
    const double window_us = (s_.duration_s - s_.warmup_s) * 1e6;
    r.occupancy = s_.engine.agents.empty() || window_us <= 0
                      ? 0.0
                      : busy_us_ / (window_us * static_cast<double>(s_.engine.agents.size()));
    // Batch means: each batch's ratio is one sample; the spread gives the 95 % interval.
    auto interval = [&](auto ratio) {
      std::vector<double> xs;
      for (const Batch& b : batches_) {
        if (b.offered > 0) {
          xs.push_back(ratio(b));
        }
      }
      if (xs.size() < 2) {
        return 0.0;
      }
      double mean = 0;
      for (double x : xs) {
        mean += x;
      }
      mean /= static_cast<double>(xs.size());
      double var = 0;
      for (double x : xs) {
        var += (x - mean) * (x - mean);
      }
      var /= static_cast<double>(xs.size() - 1);
      const double t = xs.size() >= 30 ? 1.96 : 2.09;  // Student t, ~20 batches
      return t * std::sqrt(var / static_cast<double>(xs.size()));
    };
    r.p_wait.ci95 = interval([](const Batch& b) { return b.waited / b.offered; });
    r.abandon_rate.ci95 = interval([](const Batch& b) { return b.abandoned / b.offered; });
    r.service_level.ci95 = interval([](const Batch& b) { return b.in_sl / b.offered; });
    r.asa_s.ci95 =
        interval([](const Batch& b) { return b.answered > 0 ? b.wait_sum_s / b.answered : 0.0; });
    for (QueueResult& q : queues_) {
      q.service_level = q.offered > 0 ? q.service_level / static_cast<double>(q.offered) : 0.0;
      q.asa_s = q.answered > 0 ? q.asa_s / static_cast<double>(q.answered) : 0.0;
    }
    r.queues = queues_;
    r.engine_events = engine_events();
    r.engine_decisions = engine_decisions();
    r.invariants_ok = final_check();
    r.invariant_problem = invariant_problem();
    return r;
  }

  const Scenario& s_;
  Random random_;
  std::vector<Batch> batches_;
  std::vector<QueueResult> queues_;
  std::vector<Micros> agent_busy_since_;
  std::vector<SimCall> calls_;
  std::uint64_t in_sl_ = 0;
  double wait_sum_s_ = 0;
  double busy_us_ = 0;
  Result result_;
};

}  // namespace

Result run(const Scenario& scenario, std::uint64_t check_every) {
  Run r(scenario, check_every);
  return r.go();
}

Scenario single_queue(int agents, double arrival_rate_per_s, double aht_s, HandleDist dist,
                      double patience_s, double wrap_up_s, double sl_threshold_s, double duration_s,
                      double warmup_s, std::uint64_t seed) {
  Scenario s;
  s.engine.skill_count = 1;
  QueueConfig q;
  q.name = "service";
  q.skills = {SkillRequirement{0, 1, 0}};
  q.sl_threshold_ms = static_cast<std::uint32_t>(std::max(1.0, sl_threshold_s * 1000));
  q.expected_aht_ms = static_cast<std::uint32_t>(aht_s * 1000);
  // After-call work is ended by the agent (WrapUpDone); the engine's timeout is only a backstop.
  q.wrap_up_ms = wrap_up_s > 0 ? static_cast<std::uint32_t>(wrap_up_s * 1000) + 3'600'000 : 0;
  s.engine.queues.push_back(q);
  for (int i = 0; i < agents; ++i) {
    AgentConfig a;
    a.number = static_cast<AgentNumber>(1000 + i);
    a.skills = {SkillLevel{0, 5, 0}};
    s.engine.agents.push_back(a);
  }
  // Enough call slots for the busiest moment: offered load plus a deep queue.
  const double load = arrival_rate_per_s * (aht_s + wrap_up_s);
  s.engine.max_calls = static_cast<std::uint32_t>(std::min(
      1e7, std::max(1024.0, 4 * load + 50 * std::sqrt(load + 1) + arrival_rate_per_s * 600)));
  CallStream stream;
  stream.arrival_rate_per_s = arrival_rate_per_s;
  stream.aht_s = aht_s;
  stream.handle_dist = dist;
  stream.patience_s = patience_s;
  s.streams.push_back(stream);
  if (wrap_up_s > 0) {
    s.after_call_work_s = wrap_up_s;
  }
  s.sl_threshold_s = sl_threshold_s;
  s.duration_s = duration_s;
  s.warmup_s = warmup_s;
  s.seed = seed;
  return s;
}

}  // namespace acd::router::sim
