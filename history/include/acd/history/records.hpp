// The records of call history and reports: a call detail record per call, an agent state record
// per state an agent left, and interval aggregates per queue and per agent. Plain data, derived
// from the sequenced log by history::Deriver (deriver.hpp), stored by history::Store (store.hpp).
//
// Every record carries a RecordId made of the log: the sequence number of the input that closed
// it and its index among the records that input closed. Replaying the same log yields the same
// records with the same IDs, so storing a record twice is a no-op (idempotent insert by ID).
//
// Times are the log's microseconds (router::Micros, the sequencer's origin); durations are
// microseconds too. Every measure is defined in history/DESIGN.md ("Measures").
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string_view>
#include <vector>

#include "acd/router/types.hpp"

namespace acd::history {

using router::AgentIndex;
using router::CallId;
using router::Micros;
using router::QueueIndex;

struct RecordId {
  std::uint64_t seq = 0;    // the log record (input) that closed the record
  std::uint32_t index = 0;  // 0, 1, 2 ... among the records that input closed
  auto operator<=>(const RecordId&) const = default;
};

// How a call ended.
enum class CallOutcome : std::uint8_t {
  Completed = 0,         // answered, then released by either side
  AbandonedQueued = 1,   // the caller hung up while waiting in a queue
  AbandonedRinging = 2,  // the caller hung up while an agent's phone rang
  OverflowedOut = 3,     // left the domain by an overflow rule (site, IVR, callback, busy, loop)
  Rejected = 4,          // the route request was turned away (status says why)
  OutboundNotConnected = 5,  // an outbound reservation ended unanswered or found no agent
};
inline constexpr int kCallOutcomeCount = 6;

// One step of a call's path through queues and agents.
enum class StepKind : std::uint8_t {
  Arrival = 0,          // entered its first queue (queue)
  Overflow = 1,         // moved by an overflow rule to queue
  TransferToQueue = 2,  // transferred by an agent (agent) to queue
  TransferToAgent = 3,  // transferred by an agent to agent (queue unchanged)
  Outbound = 4,         // an outbound reservation of agent (queue: the group, or none)
  Callback = 5,         // the caller took a callback and hung up; the call keeps its place (queue)
};

struct PathStep {
  Micros time = 0;
  QueueIndex queue = router::kNone;
  AgentIndex agent = router::kNone;  // Transfer*: the agent the call left; Outbound: reserved
  AgentIndex target = router::kNone;  // TransferToAgent: the agent chosen
  StepKind kind = StepKind::Arrival;
  bool operator==(const PathStep&) const = default;
};

// After-call work of the call's last agent.
enum class WrapStatus : std::uint8_t {
  None = 0,      // no after-call work (the queue has none, or the call was never answered)
  Recorded = 1,  // the agent recorded a disposition (and a note reference)
  Ended = 2,     // ended without a disposition: timeout, ready, sign-out, or a later task's end
};

// The call detail record. Emitted once the call has left the engine and every after-call work
// of its agents has ended, so it never changes after it is emitted.
struct CallDetail {
  RecordId id;
  CallId call = 0;
  bool outbound = false;
  std::uint8_t verification = 0;  // identity-verification level of the route request
  std::uint8_t priority = 0;
  std::uint8_t tier = 0;
  CallOutcome outcome = CallOutcome::Completed;
  router::Status status = router::Status::Ok;  // Rejected / overflow loop / outbound failure why
  router::OverflowAction overflow_action = router::OverflowAction::Busy;  // OverflowedOut
  std::uint32_t overflow_target = 0;                                      // OverflowedOut
  Micros arrived = 0;   // the route request (or the outbound request)
  Micros answered = 0;  // first answer; 0: never answered
  Micros ended = 0;     // left the engine
  QueueIndex first_queue = router::kNone;
  QueueIndex last_queue = router::kNone;  // the queue it was in when it ended
  AgentIndex first_agent = router::kNone;  // the agent who answered first
  AgentIndex last_agent = router::kNone;   // the agent on the call when it ended
  std::uint32_t offers = 0;           // offers made (rings), the re-offers after no answer included
  std::uint32_t ring_no_answers = 0;  // offers that rang out, were declined or withdrawn
  std::uint32_t overflows = 0;
  std::uint32_t transfers = 0;
  std::uint32_t holds = 0;
  Micros wait_us = 0;  // arrived -> first answer; never answered: arrived -> ended
  Micros talk_us = 0;  // connected to agents, holds excluded, every leg
  Micros hold_us = 0;  // total on hold, every leg
  Micros wrap_us = 0;  // after-call work of every agent of the call
  WrapStatus wrap = WrapStatus::None;
  std::uint16_t disposition = 0;  // Recorded: the last agent's disposition code
  std::uint64_t note = 0;         // Recorded: the note reference
  std::vector<PathStep> path;     // in time order; the first step is Arrival or Outbound
  bool operator==(const CallDetail&) const = default;
};

// One span of one agent's state, emitted when the agent leaves it.
struct AgentStateRecord {
  RecordId id;
  AgentIndex agent = 0;
  router::AgentState state = router::AgentState::LoggedOut;
  std::uint16_t reason = 0;  // the not-ready reason (NotReady only)
  Micros start = 0;
  Micros end = 0;
  bool operator==(const AgentStateRecord&) const = default;
};

// One queue's figures over one interval [start, start + length).
struct QueueInterval {
  RecordId id;
  Micros start = 0;
  QueueIndex queue = 0;
  std::uint32_t offered = 0;
  std::uint32_t answered = 0;
  std::uint32_t answered_in_sl = 0;
  std::uint32_t abandoned = 0;
  std::uint32_t short_abandoned = 0;
  std::uint32_t overflowed_out = 0;
  std::uint32_t handled = 0;  // tasks that ended (release or transfer), for AHT
  Micros wait_answered_us = 0;  // sum of waits of the answered: ASA = this / answered
  Micros max_wait_us = 0;
  Micros talk_us = 0;  // of the handled
  Micros hold_us = 0;  // of the handled
  Micros wrap_us = 0;  // after-call work that ended in the interval
  bool operator==(const QueueInterval&) const = default;
};

// One agent's figures over one interval.
struct AgentInterval {
  RecordId id;
  Micros start = 0;
  AgentIndex agent = 0;
  std::uint32_t handled = 0;  // inbound calls answered
  std::uint32_t no_answer = 0;
  std::uint32_t transfers_out = 0;
  Micros talk_us = 0;  // of tasks that ended in the interval
  Micros hold_us = 0;
  Micros wrap_us = 0;  // after-call work that ended in the interval
  std::array<Micros, router::kAgentStateCount> state_us{};  // time in each state in the interval
  std::array<Micros, router::kNotReadyReasons> not_ready_us{};  // NotReady time by reason
  bool operator==(const AgentInterval&) const = default;
};

// What one or more inputs closed, in the order closed. The caller clears it.
struct Records {
  std::vector<CallDetail> calls;
  std::vector<AgentStateRecord> states;
  std::vector<QueueInterval> queue_intervals;
  std::vector<AgentInterval> agent_intervals;
  std::size_t size() const {
    return calls.size() + states.size() + queue_intervals.size() + agent_intervals.size();
  }
  void clear() {
    calls.clear();
    states.clear();
    queue_intervals.clear();
    agent_intervals.clear();
  }
};

std::string_view to_string(CallOutcome o);
std::string_view to_string(StepKind k);
std::string_view to_string(WrapStatus w);

}  // namespace acd::history
