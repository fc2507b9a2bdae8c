// Inputs and outputs of the engine. Both are fixed-size plain structs (no pointers, no padding
// left undefined) so that the sequencer can log them and the standby can replay them.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "acd/router/types.hpp"

namespace acd::router {

enum class EventType : std::uint8_t {
  Tick = 0,           // only advances time (fires due timers)
  AgentSignIn,        // agent, device: the credential was already checked [4.1.1 a];
                      // reason kSignInMovesDesk: may take the agent from another desk
  AgentSignOut,       // agent
  AgentReady,         // agent
  AgentNotReady,      // agent, reason (takes effect after current calls if busy)
  WrapUpDone,         // agent, reason = disposition code, note = note reference [4.1.1 e2]
  ForceReady,         // supervisor: agent to Ready (ends not-ready or wrap-up)
  ForceLogout,        // supervisor: agent signed out; ringing calls go back to their queues
  RouteRequest,       // call, queue, media, priority, tier, verification, language, skills
  OfferRejected,      // call: the offer was declined or rang out at the phone (ring-no-answer)
  CallAnswered,       // call
  CallHeld,           // call
  CallRetrieved,      // call
  CallReleased,       // call: hung up (while queued or ringing this counts as abandoned)
  CallAbandoned,      // call: caller hung up while queued or ringing
  TransferToQueue,    // call, queue: the engine picks an idle agent or queues it [4.1.1 d]
  TransferToAgent,    // call, agent: an agent chosen from a list
  TransferToAgentId,  // call, number: an agent ID typed in
  OutboundToQueue,    // call (new ID), queue: reserve a ready agent of the group [4.1.1 e1]
  OutboundToAgentId,  // call (new ID), number: reserve this agent
  NewDay,             // start today's statistics afresh
  // Operator: a queue's surge mode (queue; kNone = the site-wide force), reason = SurgeForce
  // (Auto hands the queue back to its thresholds). Logged like every input, so the standby and a
  // replay switch at the same point.
  SurgeControl,
  // Operator: a back-end service marked down (reason 1) or up (reason 0); number = service index.
  ServiceControl,
  // A peer site's availability summary of one of its queues (docs/dr.md "Inter-site overflow"),
  // received over ACDP: reason = the sender's site number, device = the queue's key
  // (queue_key(name)), call = the sender's summary sequence, agent = its ready agents, number =
  // packed EWT, service level and load, priority = flags. Build and read it with
  // site_summary_event / site_summary_fields. The engine keeps the latest per (site, queue).
  SiteSummary,
  kCount
};

// OfferRejected from a desktop (OfferResult declined): agent = kNone. From a switch whose phone
// refused the call or rang out (ACDP RingNoAnswer): agent = the agent it rang (the event changes
// nothing when the call is offered to another agent by then), reason = the switch's cause;
// kNoAnswerRangOut (rang until the switch's timer ran out) is counted as a ring timeout, the
// other causes as a declined offer.
inline constexpr std::uint16_t kNoAnswerRangOut = 1;

// RouteRequest: `reason` is the number of sites the call has already passed through and `number`
// the bitset of their site numbers (bit n = site n); both 0 for a call that starts here.
struct Event {
  Micros time = 0;
  CallId call = 0;
  AgentNumber number = 0;    // TransferToAgentId, OutboundToAgentId
  std::uint64_t device = 0;  // AgentSignIn: extension / device; WrapUpDone: note reference
  AgentIndex agent = kNone;
  QueueIndex queue = kNone;
  EventType type = EventType::Tick;
  Media media = Media::Voice;
  std::uint8_t priority = 0;      // 0..15
  std::uint8_t tier = 0;          // 0..kTierCount-1
  std::uint8_t verification = 0;  // identity-verification level of the caller
  std::uint8_t skill_count = 0;   // entries used in skills
  std::uint16_t reason = 0;       // not-ready reason or disposition
  SkillId language = kNoSkill;    // a language skill, required at level 1 or more
  std::uint16_t reserved = 0;
  std::array<SkillRequirement, kMaxCallSkills> skills{};
};

// An AgentSignIn's reason bit: the agent, if signed in already, moves to this sign-in's desk (a
// desk move, docs/protocol.md): it leaves the old one as at a sign-out (a ringing call goes back
// to its queue, wrap-up ends; refused AgentHasCalls while it has a call) and is signed in anew,
// not ready, at `device`. Without it a second sign-in is refused AlreadySignedIn.
inline constexpr std::uint16_t kSignInMovesDesk = 0x2;

enum class DecisionType : std::uint8_t {
  Offer = 0,          // call -> agent (queue): ring this agent
  Queued,             // call waits in queue at position, ewt_ms
  Overflowed,         // call leaves by overflow: action, target
  Rejected,           // route request refused: status
  RingNoAnswer,       // offer to agent timed out or was declined; call back in its queue
  AgentStateChanged,  // agent now in state (reason for NotReady)
  TransferFailed,     // call stays where it was: status
  OutboundReserved,   // agent reserved for outbound call
  OutboundFailed,     // status
  WrapUpRecorded,     // agent, call, reason = disposition, number = note reference
  CallEnded,          // call left the engine (released, abandoned): status Ok
  Error,              // the event was refused and changed nothing: status
  // queue entered (number 1) or left (number 0) surge mode; reason = kSurgeBy* bits of why it
  // entered; position = calls waiting, ewt_ms = its EWT, at that moment
  SurgeChanged,
  // service `number` went down (reason 1) or up (reason 0); position = waiting calls it diverted
  ServiceChanged,
  kCount
};

// Overflowed with action ToSite: target = the index of the site in the domain's `sites`, reason =
// the call's site hops once it leaves (this site counted), number = the sites it has visited,
// this one included (bit n = site number n). The next site's RouteRequest carries both.
struct Decision {
  Micros time = 0;
  CallId call = 0;
  std::uint64_t number = 0;
  AgentIndex agent = kNone;
  QueueIndex queue = kNone;
  std::uint32_t position = 0;
  std::uint32_t ewt_ms = 0;
  std::uint32_t target = 0;
  DecisionType type = DecisionType::Error;
  AgentState state = AgentState::LoggedOut;
  OverflowAction action = OverflowAction::Busy;
  EventType cause = EventType::Tick;  // the event type that produced this decision
  Status status = Status::Ok;
  std::uint16_t reason = 0;
  std::uint32_t reserved = 0;
};

static_assert(std::is_trivially_copyable_v<Event>);
static_assert(std::is_trivially_copyable_v<Decision>);
static_assert(std::has_unique_object_representations_v<Decision>, "decisions are hashed as bytes");

// One queue of a peer site's summary (EventType::SiteSummary).
inline constexpr std::uint8_t kSiteAccepts = 0x01;  // the site takes overflow for this queue now
struct SiteSummaryFields {
  std::uint8_t site = 0;  // the sender's site number, 0..kMaxSiteNumber
  std::uint8_t flags = 0;  // kSiteAccepts
  std::uint16_t sl_permille = 0;  // today's service level of the queue, 0..1000
  std::uint32_t queue_key = 0;    // queue_key(queue name)
  std::uint64_t seq = 0;          // the sender's summary sequence: a newer summary has a larger one
  std::uint32_t ready_agents = 0;
  std::uint32_t ewt_ms = kUnknownEwt;  // expected wait of a call arriving now there
  std::uint16_t load_permille = 0;     // share of the queue's signed-in members busy, 0..1000
};
Event site_summary_event(Micros time, const SiteSummaryFields& f);
SiteSummaryFields site_summary_fields(const Event& e);
// The key a queue is known by between sites: FNV-1a (32 bits) of its name. Two sites match their
// queues by name; the engine refuses a configuration where two queue names share a key.
std::uint32_t queue_key(std::string_view name);

std::string_view to_string(EventType t);
std::string_view to_string(DecisionType t);

}  // namespace acd::router
