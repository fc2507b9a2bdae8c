// Basic vocabulary of the routing engine: identifiers, enums and the status list.
//
// Everything here is plain data with fixed width, so that events, decisions and the engine's
// state can be copied, hashed and snapshotted byte for byte.
#pragma once

#include <cstdint>
#include <string_view>

namespace acd::router {

// Microseconds since an origin chosen by whoever stamps the events (the sequencer, the simulator).
// The router never reads a clock: time only moves when an event says so.
using Micros = std::uint64_t;

using AgentIndex = std::uint32_t;  // dense index into the configured agents, 0..agents-1
using QueueIndex = std::uint32_t;  // dense index into the configured queues
using CallSlot = std::uint32_t;    // index into the engine's call pool, 0..max_calls-1
using SkillId = std::uint16_t;     // dense skill number, 0..skill_count-1
using CallId = std::uint64_t;      // the caller's (switch's) call identifier; 0 is invalid
using AgentNumber =
    std::uint64_t;  // the agent's external ID, the one an agent types or signs in with

inline constexpr std::uint32_t kNone = 0xFFFF'FFFFu;
inline constexpr SkillId kNoSkill = 0xFFFF;
inline constexpr std::uint32_t kUnknownEwt = 0xFFFF'FFFFu;  // EWT when nobody staffs the queue
// An overflow rule's site target meaning "the accepting site with the least expected wait".
inline constexpr std::uint32_t kAnySite = 0xFFFF'FFFEu;
// Sites are numbered 0..kMaxSiteNumber across the whole enterprise (a call's visited-sites bitset).
inline constexpr std::uint8_t kMaxSiteNumber = 63;

inline constexpr int kPriorityLevels = 16;   // call priority 0 (lowest) .. 15 (highest)
inline constexpr int kTierCount = 4;         // customer tiers 0..3 (e.g. mass, gold, private, VIP)
inline constexpr int kMaxCallSkills = 4;     // extra skills a single call may require
inline constexpr int kMaxQueueSkills = 4;    // skills a queue requires of its agents
inline constexpr int kMaxOverflowRules = 8;  // per queue, the max-wait rule included
inline constexpr int kNotReadyReasons = 16;  // reason codes 0..15 are counted separately
inline constexpr std::uint8_t kMaxProficiency = 10;

// Reserved not-ready reason codes; 3..15 are the centre's own (break, training, meeting, ...).
inline constexpr std::uint16_t kReasonSignIn = 0;      // just signed in, not yet ready
inline constexpr std::uint16_t kReasonNoAnswer = 1;    // an offered call rang out
inline constexpr std::uint16_t kReasonSupervisor = 2;  // reserved for supervisor actions

// Channels [GB/T 32315 6.2.2]; each agent has a capacity per channel.
enum class Media : std::uint8_t { Voice = 0, Chat = 1, Email = 2, Sms = 3 };
inline constexpr int kMediaCount = 4;

// How a queue chooses among several free agents.
enum class Policy : std::uint8_t {
  LongestIdle = 0,   // the agent idle longest (default)
  MostSkilled = 1,   // highest proficiency in the queue's skills, then longest idle
  RoundRobin = 2,    // next agent after the last one chosen, in agent-index order
  FewestCalls = 3,   // fewest calls answered today, then longest idle
  LeastTalkTime = 4,  // least talk time today, then longest idle
  LeastNeeded = 5     // of the first few longest idle, the one whose other queues have the most
                      // ready agents (taking it leaves the most cover behind), then longest idle
};
inline constexpr Policy kLastPolicy = Policy::LeastNeeded;

// Which waiting call an agent takes when it becomes free and calls wait in several of its queues
// (each queue's own order decides within the queue: priority, then arrival).
enum class CallSelection : std::uint8_t {
  AgedPriority = 0,  // highest priority aged by wait, then wait ÷ SL threshold (default)
  GreatestNeed = 1,  // the queue furthest behind its service objective: wait ÷ SL threshold
  QueueRatio = 2,    // the queue furthest below its configured share of contested agents
  WeightedWait = 3   // largest wait_weight × call wait + idle_weight × time the queue went unserved
};
inline constexpr CallSelection kLastCallSelection = CallSelection::WeightedWait;

// Which of its queues an agent serves first (QueueConfig::reserve_after_ms lets a queue in
// trouble jump the order).
enum class AgentPreference : std::uint8_t {
  None = 0,         // all its queues alike (default)
  Proficiency = 1,  // queues where its lowest level in their skills is highest first
  Order = 2         // AgentConfig::preference_order: queues whose first skill is listed earlier
};

// The agent's state as the standard names it [4.1.1 c]; derived from presence and tasks.
enum class AgentState : std::uint8_t {
  LoggedOut = 0,
  NotReady = 1,
  Ready = 2,
  Reserved = 3,  // a call is offered and ringing
  Busy = 4,      // talking or holding
  WrapUp = 5     // after-call work
};
inline constexpr int kAgentStateCount = 6;

enum class CallState : std::uint8_t {
  Free = 0,  // slot unused
  Queued = 1,
  Ringing = 2,  // offered to an agent (or an outbound reservation)
  Active = 3,   // answered, talking
  Held = 4
};

enum class OverflowCondition : std::uint8_t {
  WaitAtLeast = 0,         // threshold: milliseconds waited in this queue
  QueueLengthAtLeast = 1,  // threshold: calls already waiting when this one arrives
  EwtAtLeast = 2           // threshold: expected wait in milliseconds when this one arrives
};

enum class OverflowAction : std::uint8_t {
  ToQueue = 0,   // target: queue index; the call keeps waiting there
  ToSite = 1,    // target: site number; the call leaves this domain
  ToIvr = 2,     // target: IVR application number
  Callback = 3,  // offer the caller a callback; the call leaves the engine
  Busy = 4,      // play busy / "all lines busy"
  // target: announcement number; the switch plays it, then ends the call (busy)
  Announcement = 5,
  // The caller hangs up and is called back when their turn comes: the call keeps its place in its
  // queue (target: that queue), without wait rules. Its Offer, when an agent is free, is the
  // switch's cue to dial the caller and bridge them to the agent (docs/surge.md).
  CallbackKeepPlace = 6
};
inline constexpr OverflowAction kLastOverflowAction = OverflowAction::CallbackKeepPlace;

// Where a queue's surge mode comes from: its thresholds (Auto), or an operator's force.
enum class SurgeForce : std::uint8_t { Auto = 0, On = 1, Off = 2 };

// Why a queue entered surge mode (bits of Decision::reason of a SurgeChanged decision).
inline constexpr std::uint16_t kSurgeByRate = 1;     // offered calls per minute
inline constexpr std::uint16_t kSurgeByLength = 2;   // calls waiting
inline constexpr std::uint16_t kSurgeByOldest = 4;   // the oldest call's wait
inline constexpr std::uint16_t kSurgeByEwt = 8;      // expected wait of a call arriving now
inline constexpr std::uint16_t kSurgeByForce = 16;   // an operator's (or the site-wide) force

// A skill a call or queue asks for, with the least proficiency that will do.
struct SkillRequirement {
  SkillId skill = kNoSkill;
  std::uint8_t min_level = 1;  // proficiency 1..10
  std::uint8_t reserved = 0;
};

// A skill an agent has, at a proficiency of 1..10.
struct SkillLevel {
  SkillId skill = kNoSkill;
  std::uint8_t level = 1;
  std::uint8_t reserved = 0;
};

// Every result, rejection and error the engine can report, once: enum, name and help text.
#define ACD_ROUTER_STATUS_LIST(X)                                                 \
  X(Ok, "ok")                                                                     \
  X(UnknownAgent, "agent index is not configured")                                \
  X(UnknownQueue, "queue index is not configured")                                \
  X(UnknownCall, "no call with this ID is in the engine")                         \
  X(DuplicateCall, "a call with this ID is already in the engine")                \
  X(InvalidCallId, "call ID 0 is reserved")                                       \
  X(CallPoolFull, "the engine holds max_calls calls already")                     \
  X(BadField, "a field is out of range")                                          \
  X(MediaMismatch, "the call's media differs from the queue's")                   \
  X(NotSignedIn, "the agent is not signed in")                                    \
  X(AlreadySignedIn, "the agent is already signed in")                            \
  X(AgentHasCalls, "the agent still has calls in progress")                       \
  X(WrongCallState, "the call is not in a state that allows this")                \
  X(WrongAgentState, "the agent is not in a state that allows this")              \
  X(VerificationRequired, "the queue needs a higher identity-verification level") \
  X(NoSuchAgent, "no agent has this agent ID")                                    \
  X(TargetLoggedOut, "the target agent is not signed in")                         \
  X(TargetNotReady, "the target agent is not ready")                              \
  X(TargetBusy, "the target agent has no free capacity for this media")           \
  X(TargetIsSelf, "the call is already with this agent")                          \
  X(TargetLacksChannel, "the target agent has no capacity for this media")        \
  X(NoAgentAvailable, "no ready agent can take this")                             \
  X(OverflowLoop, "the call overflowed more times than max_overflow_hops")        \
  X(RingTimeout, "the offer was not answered in time")                            \
  X(WrapUpTimedOut, "after-call work ended by its timeout")                       \
  X(AgentLeft, "the agent signed out while the call was offered")                 \
  X(OfferDeclined, "the agent declined the offer")                                \
  X(NoQueueForCall, "the call has no queue to fall back to; transfer it to a group")        \
  X(UnknownService, "service index is not configured")                                      \
  X(NoSurgePlan, "the queue has no surge plan ([queue.surge]) to switch on or off")         \
  X(ServiceDown, "a service the queue depends on is down: the call got its diversion")      \
  X(UnknownSite, "no peer site has this site number")

enum class Status : std::uint16_t {
#define ACD_X(name, text) name,
  ACD_ROUTER_STATUS_LIST(ACD_X)
#undef ACD_X
};

inline constexpr std::size_t kStatusCount = 0
#define ACD_X(name, text) +1
    ACD_ROUTER_STATUS_LIST(ACD_X)
#undef ACD_X
    ;

std::string_view to_string(Status s);
std::string_view to_string(AgentState s);
std::string_view to_string(Policy p);
std::string_view to_string(CallSelection s);
std::string_view to_string(Media m);
std::string_view to_string(OverflowAction a);
std::string_view to_string(SurgeForce f);
std::string_view to_string(CallState s);
std::string_view describe(Status s);  // the help text of the status list

}  // namespace acd::router
