// The engine's state records. Internal to the router: they are public only so that Engine can
// hold them by value. Each is plain data without hidden padding (static_asserts below), so the
// state hash and the snapshot are the bytes of these arrays.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include "acd/router/types.hpp"

namespace acd::router::detail {

// What routing reads and writes of an agent: one cache line, aligned (the fields only monitoring
// and wrap-up read are in AgentColdRecord), so that matching and offering touch one line per agent.
struct alignas(64) AgentRecord {
  AgentNumber number = 0;
  Micros state_since = 0;           // start of the published state, for state-time statistics
  Micros idle_since = 0;            // last time the agent became free: the longest-idle key
  std::uint32_t skills_begin = 0;   // into Engine::agent_skills_
  std::uint32_t members_begin = 0;  // into Engine::members_
  std::uint16_t skills_count = 0;
  std::uint16_t members_count = 0;
  std::uint16_t not_ready_reason = 0;
  std::uint16_t pending_reason = 0;  // not-ready asked for while busy
  std::uint8_t signed_in = 0;
  std::uint8_t wants_ready = 0;  // presence: 1 Ready, 0 NotReady
  std::uint8_t pending_not_ready = 0;
  std::uint8_t in_wrap_up = 0;
  std::uint8_t ringing = 0;  // offers outstanding (at most one)
  std::uint8_t active = 0;   // answered tasks (talking or held)
  AgentState published = AgentState::LoggedOut;
  std::uint8_t retired = 0;  // see AgentConfig::retired
  std::array<std::uint8_t, kMediaCount> load{};
  std::array<std::uint8_t, kMediaCount> capacity{};
  CallSlot ringing_call = kNone;  // the outstanding offer
  std::uint32_t reserved2 = 0;
};

// The rest of an agent's record: read by monitoring (AgentView) and at the end of after-call work.
struct AgentColdRecord {
  std::uint64_t device = 0;  // extension or device at sign-in
  Micros signed_in_at = 0;
  CallId wrap_up_call = 0;  // the call whose after-call work is in progress
};

// Today's figures for one agent [4.1.1 e3]. Durations in milliseconds (a day fits in 32 bits).
struct AgentStats {
  std::uint32_t offered = 0;
  std::uint32_t answered = 0;
  std::uint32_t no_answer = 0;
  std::uint32_t transfers_out = 0;
  std::uint32_t outbound = 0;
  std::uint32_t talk_ms = 0;
  std::uint32_t hold_ms = 0;
  std::uint32_t wrap_up_ms = 0;
  std::uint32_t ready_ms = 0;
  std::uint32_t reserved_ms = 0;
  std::uint32_t busy_ms = 0;
  std::uint32_t reserved = 0;
  std::array<std::uint32_t, kNotReadyReasons> not_ready_ms{};
};

// One (agent, queue) pair: its place in that queue's ready-agent index. 16 bytes, so that the
// memberships an agent's change of availability walks (`refresh_index`) take few cache lines (the
// queue's policy and media are in Engine::queue_kind_, two bytes a queue). The policy key lives
// where the index needs it: in the treap node; a ring member needs none (the ring is in order, and
// when the agent entered is Engine::ring_since_).
struct MemberNode {
  AgentIndex agent = 0;
  QueueIndex queue = 0;
  // Ready ring (longest-idle and most-skilled queues) or treap node (the other policies), into
  // Engine::rings_ or Engine::tree_.
  std::uint32_t slot = kNone;
  std::uint8_t proficiency = 0;  // sum of the agent's levels in the queue's skills
  std::uint8_t in_index = 0;     // the agent is in this queue's ready index
  // The agent's preference for this queue against its others: 0 = one of its primary queues,
  // higher = later in its order (see CallSelection and AgentPreference).
  std::uint8_t rank = 0;
  std::uint8_t level = 0;  // the agent's lowest level in the queue's skills
};

// A queue's ready-index policy and media, fixed for the engine's life (a reload builds a new
// engine): what walking an agent's memberships needs of each queue, without its parameters.
struct QueueKind {
  Policy policy = Policy::LongestIdle;
  Media media = Media::Voice;
};

// A treap node of a round-robin, fewest-calls or least-talk-time queue's ready index: one per such
// membership. Its priority is a fixed hash of its index.
struct TreeNode {
  std::uint64_t key = 0;     // the member's policy key when it entered, tie broken by agent index
  std::uint32_t member = 0;  // into Engine::members_ (agent)
  std::uint32_t left = kNone;
  std::uint32_t right = kNone;
  std::uint32_t size = 0;  // subtree size
};

// A FIFO of the ready agents of one queue (one per proficiency level for most-skilled queues),
// with lazy deletion: an entry is valid while its agent's epoch is the one it was pushed with.
struct ReadyRing {
  std::uint32_t begin = 0;  // into Engine::ring_entries_
  std::uint32_t capacity = 0;
  std::uint32_t head = 0;  // offset of the oldest entry
  std::uint32_t size = 0;  // entries, stale ones included
};

struct RingEntry {
  AgentIndex agent = 0;
  std::uint32_t epoch = 0;
};

struct RuleRecord {
  std::uint32_t threshold = 0;
  std::uint32_t target = 0;
  OverflowCondition when = OverflowCondition::WaitAtLeast;
  OverflowAction action = OverflowAction::Busy;
  std::uint16_t reserved = 0;
};

// A queue's configuration, flattened.
struct QueueParams {
  std::uint32_t sl_threshold_ms = 0;
  std::uint32_t ring_timeout_ms = 0;
  std::uint32_t wrap_up_ms = 0;
  std::uint32_t expected_aht_ms = 0;
  std::uint32_t priority_aging_ms = 0;
  std::uint32_t arrival_rules_begin = 0;  // into Engine::rules_ (length / EWT rules)
  std::uint32_t wait_rules_begin = 0;     // into Engine::rules_ (by threshold, max-wait last)
  std::uint8_t arrival_rules_count = 0;
  std::uint8_t wait_rules_count = 0;
  Media media = Media::Voice;
  Policy policy = Policy::LongestIdle;
  std::uint16_t sl_target_permille = 0;
  std::uint8_t min_verification = 0;
  std::uint8_t skill_count = 0;
  std::array<std::uint8_t, kTierCount> tier_priority_boost{};
  std::array<SkillRequirement, kMaxQueueSkills> skills{};
};

struct QueueRecord {
  std::array<CallSlot, kPriorityLevels> head{};  // waiting calls, FIFO per priority
  std::array<CallSlot, kPriorityLevels> tail{};
  std::array<std::uint32_t, kPriorityLevels> count{};
  std::uint32_t waiting = 0;
  std::uint32_t busy_priorities = 0;  // bit p set when priority p has waiting calls
  std::uint32_t ring_begin = 0;       // ready rings (longest idle, most skilled), into rings_
  std::uint32_t ring_count = 0;       // one, or one per proficiency level, highest first
  std::uint32_t ready_root = kNone;   // treap of available members (other policies), into tree_
  std::uint32_t ready_count = 0;
  AgentIndex rr_cursor = kNone;  // round robin: last agent chosen
  std::uint32_t staffed = 0;     // signed-in members
  std::uint32_t aht_ms = 0;      // moving average of handle time, for EWT
  std::uint32_t retired = 0;     // see QueueConfig::retired
};

// Today's figures for one queue [4.1.1 e3].
struct QueueStats {
  std::uint64_t offered = 0;
  std::uint64_t answered = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t overflowed_out = 0;
  std::uint64_t answered_in_sl = 0;
  std::uint64_t wait_answered_ms = 0;  // sum, for ASA
  std::uint64_t handle_ms = 0;         // sum of talk + hold, for AHT
  std::uint64_t handled = 0;
  std::uint64_t longest_wait_ms = 0;
};

struct CallRecord {
  CallId id = 0;
  Micros arrived = 0;   // first entry into the engine
  Micros enqueued = 0;  // entry into the current queue
  Micros answered_at = 0;
  Micros hold_since = 0;
  Micros state_since = 0;  // entry into the current state (queued, ringing, talking, held)
  std::uint64_t seq = 0;   // FIFO order inside a priority
  QueueIndex queue = kNone;
  AgentIndex agent = kNone;
  CallSlot next = kNone;  // queue bucket list, or free list
  CallSlot prev = kNone;
  std::uint32_t hold_ms = 0;
  CallState state = CallState::Free;
  Media media = Media::Voice;
  std::uint8_t priority = 0;  // effective: requested + tier boost
  std::uint8_t tier = 0;
  std::uint8_t verification = 0;
  std::uint8_t hops = 0;  // overflow / transfer moves between queues
  std::uint8_t outbound = 0;
  std::uint8_t next_wait_rule = 0;
  std::uint8_t req_count = 0;
  std::uint8_t base_priority = 0;  // as requested, before the queue's tier boost
  std::array<SkillRequirement, kMaxCallSkills + 1> req{};  // extra skills, language included
  std::uint8_t answer_counted = 0;  // this queue leg's answer is in the queue's statistics
  // No member agent of the queue, signed in or not, has the extra skills: the call can never be
  // answered there (its EWT is unknown). Set each time the call is placed in a queue without an
  // agent, and after a structural reload; meaningful while the call is queued.
  std::uint8_t unservable = 0;
  // The caller hung up to be called back (OverflowAction::CallbackKeepPlace): the call keeps its
  // place, no wait rule applies to it any more.
  std::uint8_t callback = 0;
  std::uint8_t site_hops = 0;  // sites the call passed through before this one
  std::uint16_t reserved2 = 0;
  std::uint64_t visited = 0;  // their site numbers (bit n = site n); never sent back to one
};

// The latest summary of one queue of a peer site (EventType::SiteSummary).
struct SiteSummaryRecord {
  Micros received = 0;     // engine time it was applied
  std::uint64_t seq = 0;   // the sender's sequence; 0 = none received
  std::uint32_t ready_agents = 0;
  std::uint32_t ewt_ms = kUnknownEwt;
  std::uint16_t sl_permille = 0;
  std::uint16_t load_permille = 0;
  std::uint8_t flags = 0;
  std::uint8_t reserved[3]{};
};

// A queue's key between sites (queue_key of its name), sorted by key.
struct QueueKeyEntry {
  std::uint32_t key = 0;
  QueueIndex queue = 0;
};

// One step of a queue's surge plan, flattened (SurgeAction).
struct SurgeActionRecord {
  std::uint32_t target = 0;  // lender queue (borrow), or the overflow target
  std::uint32_t min_ewt_ms = 0;
  std::uint8_t borrow = 0;
  OverflowAction action = OverflowAction::Busy;
  std::uint8_t min_level = 0;  // borrow: proficiency floor in the borrowing queue's skills
  std::uint8_t reserved = 0;
};

// A queue's surge plan and services, flattened (configuration).
struct SurgeParams {
  std::array<std::uint32_t, 4> enter{};  // rate per min, length, oldest wait ms, EWT ms; 0 unused
  std::array<std::uint32_t, 4> exit{};
  std::uint32_t min_dwell_ms = 0;
  std::uint32_t exit_hold_ms = 0;   // the exit levels held this long before the queue leaves
  std::uint32_t actions_begin = 0;  // into Engine::surge_actions_
  std::uint32_t services_begin = 0;  // into Engine::queue_services_
  std::uint8_t actions_count = 0;
  std::uint8_t services_count = 0;
  std::uint8_t has_plan = 0;        // thresholds or actions
  std::uint8_t has_thresholds = 0;  // any enter level in use
  std::uint8_t reserved_queue = 0;  // QueueConfig::reserved
  std::uint8_t reserved[3]{};
};

// Offered calls per queue in the last minute: six 10-second buckets, each labelled with the
// 10-second period it counts (a bucket of an older period counts nothing).
inline constexpr int kRateBuckets = 6;
inline constexpr Micros kRateBucketUs = 10'000'000;

// A queue's surge state.
struct SurgeRecord {
  Micros since = 0;  // last entry into or exit from surge
  Micros below_since = 0;  // in surge: since when every exit level has held (if `below`)
  std::array<std::uint32_t, kRateBuckets> bucket_count{};
  std::array<std::uint32_t, kRateBuckets> bucket_period{};
  // Since the engine started (the metrics' counters): entries into surge, calls borrowed agents
  // took, calls a surge step sent elsewhere, callbacks that kept their place, calls a down
  // service diverted.
  std::uint32_t entries = 0;
  std::uint32_t borrowed = 0;
  std::uint32_t surge_overflows = 0;
  std::uint32_t callbacks = 0;
  std::uint32_t diverted = 0;
  // borrowed + surge_overflows at the last evaluation: the calls the plan took from the queue
  // since then count as waiting when the exit levels are judged.
  std::uint32_t taken_mark = 0;
  std::uint8_t active = 0;
  SurgeForce force = SurgeForce::Auto;
  std::uint16_t cause = 0;  // kSurgeBy* bits of the last entry
  std::uint8_t below = 0;   // in surge, every exit level met at each evaluation since below_since
  std::uint8_t pad[3]{};
};


// A queue's call selection, reserve threshold and expanding requirement (configuration).
struct SelectionParams {
  std::uint32_t wait_weight = 1000;  // per mille
  std::uint32_t idle_weight = 0;
  std::uint32_t reserve_after_ms = 0;  // 0: never
  std::array<std::uint32_t, 4> expand_after_ms{};
  std::array<std::uint8_t, 4> expand_level{};
  std::uint8_t expand_count = 0;
  CallSelection rule = CallSelection::AgedPriority;
  std::uint8_t predicted_wait = 0;
  std::uint8_t ranked = 0;  // some member has it below its primary queues (preference rank > 0)
  std::uint16_t share = 1;
  std::uint16_t reserved2 = 0;
};
// A queue's call-selection state: contested agents it won under QueueRatio, and when one of its
// calls was last offered (WeightedWait's idle term).
struct SelectionRecord {
  std::uint64_t ratio_wins = 0;
  Micros last_served = 0;
};
// Derived from the configuration at construction, not state (neither hashed nor snapshotted):
// who could ever serve a call of each queue. Per queue, how many member agents it has, their
// distinct skill lists (`profiles_*`, into Engine::queue_profiles_, each list as one agent that has
// it: agents configured as a group share one) and, per skill any of them has, the highest level
// one of them has (`levels_*`, into Engine::best_levels_, sorted by skill).
struct QueueReach {
  std::uint32_t members_count = 0;
  std::uint32_t profiles_begin = 0;
  std::uint32_t profiles_count = 0;
  std::uint32_t levels_begin = 0;
  std::uint32_t levels_count = 0;
};

// An agent's skills: a range of Engine::agent_skills_, sorted by skill.
struct SkillRange {
  std::uint32_t begin = 0;
  std::uint32_t count = 0;
};

// One remembered verdict "can a member of `queue` serve a call needing `req`" (the requirements
// as a set: sorted by skill, each skill once at the highest level asked). Derived data, not state:
// a verdict depends only on the configuration, so whether it is remembered changes no decision.
struct ServableMemoEntry {
  QueueIndex queue = kNone;  // kNone: empty
  std::uint8_t count = 0;
  std::uint8_t servable = 0;
  std::uint16_t reserved = 0;
  std::array<SkillRequirement, kMaxCallSkills + 1> req{};
};

struct AgentNumberEntry {
  AgentNumber number = 0;
  AgentIndex agent = 0;
  std::uint32_t reserved = 0;
};

static_assert(std::has_unique_object_representations_v<AgentRecord>);
static_assert(std::has_unique_object_representations_v<AgentColdRecord>);
static_assert(sizeof(AgentRecord) == 64, "one cache line per agent on the routing path");
static_assert(std::has_unique_object_representations_v<AgentStats>);
static_assert(std::has_unique_object_representations_v<MemberNode>);
static_assert(std::has_unique_object_representations_v<RuleRecord>);
static_assert(std::has_unique_object_representations_v<QueueParams>);
static_assert(std::has_unique_object_representations_v<QueueRecord>);
static_assert(std::has_unique_object_representations_v<QueueStats>);
static_assert(std::has_unique_object_representations_v<CallRecord>);
static_assert(std::has_unique_object_representations_v<SiteSummaryRecord>);
static_assert(std::has_unique_object_representations_v<QueueKeyEntry>);
static_assert(std::has_unique_object_representations_v<AgentNumberEntry>);
static_assert(std::has_unique_object_representations_v<SurgeActionRecord>);
static_assert(std::has_unique_object_representations_v<SurgeParams>);
static_assert(std::has_unique_object_representations_v<SurgeRecord>);
static_assert(std::has_unique_object_representations_v<ReadyRing>);
static_assert(std::has_unique_object_representations_v<RingEntry>);
static_assert(std::has_unique_object_representations_v<ServableMemoEntry>, "compared as bytes");
static_assert(std::has_unique_object_representations_v<SelectionParams>);
static_assert(std::has_unique_object_representations_v<SelectionRecord>);
static_assert(std::has_unique_object_representations_v<TreeNode>);
static_assert(sizeof(MemberNode) == 16);

}  // namespace acd::router::detail
