// The event loop both simulators drive the routing engine with (router/src/simulator.cpp's single
// run and acd-sim's planning mode, router/sim/planner.cpp): a virtual clock, a heap of future
// happenings ordered by time and then by when they were scheduled, and the FIFO through which
// reactions to the engine's decisions reach it after the event that caused them, never from
// inside the engine's sink. Also the two pieces of call handling both model the same way: the
// route request of a call of a stream, and the end of its after-call work.
//
// A simulator derives from Driver<Itself, Kind> (Kind: its enum of happenings, with WrapUpDone
// and Tick among them) and gives `void react(const Decision&)`. Deterministic; not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "acd/router/engine.hpp"
#include "acd/router/sim_random.hpp"
#include "acd/router/simulator.hpp"

namespace acd::router::sim {

template <typename Derived, typename Kind>
class Driver {
 public:
  struct Happening {
    Micros time;
    std::uint64_t seq;  // ties broken by insertion order: deterministic
    Kind kind;
    std::uint32_t subject;  // stream, call or agent
    std::uint32_t tag;      // the simulator's own (e.g. which call of the agent it belongs to)
    bool operator>(const Happening& o) const {
      return time != o.time ? time > o.time : seq > o.seq;
    }
  };

  Driver(const EngineConfig& config, std::uint64_t check_every)
      : engine_(config), check_every_(check_every) {}

  Micros now() const { return now_; }
  void advance_to(Micros t) { now_ = std::max(now_, t); }

  void schedule(Micros at, Kind kind, std::uint32_t subject, std::uint32_t tag = 0) {
    heap_.push(Happening{at, next_seq_++, kind, subject, tag});
  }
  bool pending() const { return !heap_.empty(); }
  Micros next_time() const { return heap_.top().time; }
  // The next happening, the clock set to its time.
  Happening pop() {
    const Happening h = heap_.top();
    heap_.pop();
    now_ = h.time;
    return h;
  }

  // Applies e at the current time; the decisions go to Derived::react in order. Called from a
  // reaction, it queues e behind the event being handled.
  void apply(const Event& e) {
    inbox_.push_back(e);
    if (draining_) {
      return;
    }
    draining_ = true;
    while (!inbox_.empty()) {
      Event next = inbox_.front();
      inbox_.pop_front();
      next.time = now_;
      decisions_.clear();
      engine_.apply(next, [this](const Decision& d) { decisions_.push_back(d); });
      ++engine_events_;
      engine_decisions_ += decisions_.size();
      if (check_every_ > 0 && engine_events_ % check_every_ == 0 &&
          !engine_.check_invariants(&invariant_problem_)) {
        invariants_ok_ = false;
      }
      // A reaction only queues (draining_), so decisions_ stays as it is while it is read.
      for (const Decision& d : decisions_) {
        static_cast<Derived*>(this)->react(d);
      }
    }
    draining_ = false;
  }

  // The route request of a call (engine id `call`) of `stream`.
  void route(std::uint32_t call, const CallStream& stream, const EngineConfig& config) {
    Event e;
    e.type = EventType::RouteRequest;
    e.call = call;
    e.queue = stream.queue;
    e.media = config.queues[stream.queue].media;
    e.priority = stream.priority;
    e.tier = stream.tier;
    e.verification = 255;
    e.language = stream.language;
    e.skill_count =
        static_cast<std::uint8_t>(std::min<std::size_t>(stream.skills.size(), kMaxCallSkills));
    for (int i = 0; i < e.skill_count; ++i) {
      e.skills[static_cast<std::size_t>(i)] = stream.skills[static_cast<std::size_t>(i)];
    }
    apply(e);
  }

  // After-call work of a call answered now by `agent` and lasting `handle`: the agent ends it
  // (after_call_work_s, when shorter than the queue's wrap-up limit), or the limit does. The
  // engine fires its timer only when an event reaches that millisecond, so a tick is sent then.
  void schedule_wrap_up(Micros handle, std::uint32_t limit_ms,
                        const std::optional<double>& after_call_work_s, AgentIndex agent,
                        std::uint32_t tag) {
    if (limit_ms == 0) {
      return;
    }
    if (after_call_work_s && *after_call_work_s * 1000 < limit_ms) {
      schedule(now_ + handle + to_micros(*after_call_work_s), Kind::WrapUpDone, agent, tag);
    } else {
      const Micros limit = now_ + handle + static_cast<Micros>(limit_ms) * 1000;
      schedule((limit + 999) / 1000 * 1000, Kind::Tick, agent);
    }
  }

  void call_event(EventType type, std::uint32_t call) {
    Event e;
    e.type = type;
    e.call = call;
    apply(e);
  }
  // Time passes for the engine's timers (wrap-up limits, expanding requirements, ...).
  void tick() {
    Event e;
    e.type = EventType::Tick;
    apply(e);
  }
  void agent_event(EventType type, AgentIndex agent, std::uint16_t reason = 0) {
    Event e;
    e.type = type;
    e.agent = agent;
    e.reason = reason;
    apply(e);
  }

  Engine& engine() { return engine_; }
  std::uint64_t engine_events() const { return engine_events_; }
  std::uint64_t engine_decisions() const { return engine_decisions_; }
  bool invariants_ok() const { return invariants_ok_; }
  // A last check at the end of a run (when checking at all).
  bool final_check() {
    if (check_every_ > 0 && invariants_ok_ && !engine_.check_invariants(&invariant_problem_)) {
      invariants_ok_ = false;
    }
    return invariants_ok_;
  }
  const std::string& invariant_problem() const { return invariant_problem_; }

 private:
  Engine engine_;
  std::uint64_t check_every_;
  std::priority_queue<Happening, std::vector<Happening>, std::greater<>> heap_;
  std::vector<Decision> decisions_;
  std::deque<Event> inbox_;
  bool draining_ = false;
  Micros now_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t engine_events_ = 0;
  std::uint64_t engine_decisions_ = 0;
  bool invariants_ok_ = true;
  std::string invariant_problem_;
};

}  // namespace acd::router::sim
