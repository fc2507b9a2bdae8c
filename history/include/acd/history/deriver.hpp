// The history feed's core: turns the sequenced log — each input with the decisions the engine made
// for it — into call detail records, agent state records and interval aggregates (records.hpp).
//
// Pure: no I/O, no clock, no randomness, no threads. Time is the log's: each decision's own time,
// and for the input's own effect the engine's rule (max of the input's time and the time reached).
// The same inputs and decisions therefore give the same records with the same IDs.
//
// The deriver never looks into the engine: it follows the engine's outputs (router::Decision) and,
// where an input changes a call without a decision of its own (answer, hold, retrieve, transfer),
// the input itself, taken as applied when the engine refused it with no Error. A follower engine
// (Feed, feed.hpp) produces the decisions off the routing core.
//
// Threading: one thread owns a Deriver. Allocates (open calls, paths, output vectors).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "acd/history/records.hpp"
#include "acd/router/config.hpp"
#include "acd/router/event.hpp"

namespace acd::history {

struct DeriverConfig {
  Micros interval_us = 15ull * 60 * 1'000'000;  // length of an interval; > 0
  std::uint32_t short_abandon_ms = 5'000;  // abandoned after waiting less than this: short
};

// What the deriver knows of an agent's current (open) state span.
struct OpenState {
  router::AgentState state = router::AgentState::LoggedOut;
  std::uint16_t reason = 0;
  Micros since = 0;
};

class Deriver {
 public:
  // `engine` is the configuration the engine runs under (queues' service-level thresholds and
  // wrap-up, agent and queue counts). Precondition: config.interval_us > 0.
  Deriver(const router::EngineConfig& engine, const DeriverConfig& config);

  // One input of the log (seq strictly greater than the last one) and every decision the engine
  // made while applying it, in order. Appends what this closed to `out`.
  // Returns false, changing nothing, if seq is not greater than the last one applied.
  bool apply(std::uint64_t seq, const router::Event& input,
             std::span<const router::Decision> decisions, Records& out);

  // Closes every interval that ends at or before `time`, as input `seq` would (its IDs continue
  // that input's indices when seq is the last one applied). Agents' open states are counted up to
  // each interval's end. For the end of a finite log (a closed journal, tests): a live feed needs
  // no such call, since the log's own ticks move time. Returns false, changing nothing, if seq is
  // below the last one applied.
  bool close_intervals(std::uint64_t seq, Micros time, Records& out);

  // A reload installed `next` at the current point of the log (the follower engine was
  // reconfigured or took over with it): the queues' service-level thresholds and wrap-up follow
  // it from here on, and agents or queues it appends are counted from now. Returns false,
  // changing nothing, if `next` has fewer agents or queues (indices never shrink: they are on
  // the wire).
  bool reconfigure(const router::EngineConfig& next);

  // Checkpoint: the whole state (open calls and their paths, open states, interval accumulators,
  // the last seq and time) in a versioned little-endian encoding. restore() takes one saved by a
  // Deriver built from the same configuration (agent and queue counts) and the same
  // DeriverConfig; it returns false, changing nothing, on any mismatch or malformed bytes.
  // A restored deriver continues exactly as the saved one would have (same records, same IDs).
  std::vector<std::uint8_t> save() const;
  [[nodiscard]] bool restore(std::span<const std::uint8_t> bytes);
  std::uint64_t last_seq() const { return seq_; }

  Micros now() const { return now_; }
  const OpenState& agent_state(AgentIndex a) const { return agents_[a].open; }
  std::size_t open_calls() const;  // calls in the engine, or waiting for after-call work

 private:
  struct Task {
    Micros answered = 0;
    Micros hold_since = 0;
    Micros hold_us = 0;
    bool held = false;
  };
  enum class Where : std::uint8_t { Transit, Queued, Ringing, Active, Held, Gone };
  struct Call {
    CallDetail cdr;
    Where where = Where::Transit;
    QueueIndex leg_queue = router::kNone;  // the queue leg: the queue it is in now
    Micros leg_entered = 0;
    bool leg_answered = false;  // this queue leg was counted answered
    AgentIndex agent = router::kNone;
    Task task;
    std::uint32_t wraps_pending = 0;
    std::uint32_t tasks_ended = 0;  // the last one's after-call work gives the disposition
    bool outbound_leg = false;      // an outbound reservation, until answered and transferred
    bool used = false;
  };
  struct Agent {
    OpenState open;
    Micros accounted = 0;  // open state counted in intervals up to here
    std::uint32_t wrap_call = kNoSlot;  // the call whose after-call work runs
    Micros wrap_since = 0;
    QueueIndex wrap_queue = router::kNone;
    std::uint32_t wrap_task = 0;  // which task of the call (Call::tasks_ended) it follows
  };
  static constexpr std::uint32_t kNoSlot = 0xFFFF'FFFFu;

  std::uint32_t find(CallId id) const;
  std::uint32_t open_call(CallId id);
  void forget(std::uint32_t slot);
  void maybe_emit(std::uint32_t slot);
  RecordId next_id() { return RecordId{seq_, index_++}; }
  void advance(Micros t);
  void close_current();
  QueueInterval& qrow(QueueIndex q);
  AgentInterval& arow(AgentIndex a);

  void on_decision(const router::Decision& d, const router::Event& input);
  void on_input(const router::Event& e);
  void arrive(std::uint32_t slot, const router::Event& e, Micros t);
  void enter_queue(Call& c, QueueIndex q, Micros t);
  void wait_end(Call& c, Micros t);
  void end_task(Call& c, Micros t);
  void close_state(AgentIndex a, Micros t);
  void credit(AgentIndex a, Micros upto);
  void close_wrap(AgentIndex a, bool recorded, std::uint16_t disposition, std::uint64_t note,
                  Micros t);
  void end_call(Call& c, std::uint32_t slot, Micros t);

  router::EngineConfig engine_;
  DeriverConfig config_;
  Records* out_ = nullptr;
  std::uint64_t seq_ = 0;
  std::uint32_t index_ = 0;
  Micros now_ = 0;
  Micros interval_start_ = 0;
  bool started_ = false;
  std::uint32_t signed_in_ = 0;  // agents whose open state is not LoggedOut
  std::vector<Call> calls_;
  std::vector<std::uint32_t> free_;
  // Call ID -> slot of the calls in the engine. Only looked up, never iterated, so its order
  // cannot reach a record.
  std::unordered_map<CallId, std::uint32_t> live_;
  std::vector<Agent> agents_;
  std::vector<QueueInterval> qrows_;
  std::vector<AgentInterval> arows_;
  std::vector<std::uint8_t> qtouched_;
  std::vector<std::uint8_t> atouched_;
};

}  // namespace acd::history
