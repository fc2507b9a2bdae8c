// The routing engine of one routing domain: a deterministic, single-threaded state machine.
//
// Events in (agent and call events, each stamped with its time), decisions out (offers, queue
// positions, overflows, state changes, errors). The engine reads no clock, does no I/O, takes no
// lock, throws nothing and allocates nothing after construction: every pool is sized from the
// configuration. The same event stream therefore yields the same decisions, byte for byte, and the
// same state_hash(); a snapshot restores an engine that continues identically.
//
// Threading: one thread owns an Engine and calls every method (the routing core). Other threads
// see its state only through published copies made by that thread.
//
// Errors: an event that is malformed or not allowed in the current state produces one Error
// decision (with a Status saying why) and changes nothing else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "acd/router/config.hpp"
#include "acd/router/detail/records.hpp"
#include "acd/router/event.hpp"
#include "acd/router/function_ref.hpp"
#include "acd/router/id_map.hpp"
#include "acd/router/timer_wheel.hpp"

namespace acd::router {

using AgentStats = detail::AgentStats;
using QueueStats = detail::QueueStats;

struct AgentView {
  AgentNumber number = 0;
  AgentState state = AgentState::LoggedOut;
  std::uint16_t not_ready_reason = 0;
  bool pending_not_ready = false;
  std::uint64_t device = 0;
  Micros signed_in_at = 0;
  Micros state_since = 0;
  std::array<std::uint8_t, kMediaCount> load{};
  std::array<std::uint8_t, kMediaCount> capacity{};
};

struct QueueView {
  std::uint32_t waiting = 0;
  std::uint32_t ready_agents = 0;     // available members now
  std::uint32_t staffed = 0;          // signed-in members
  Micros oldest_wait = 0;             // of the calls waiting now
  std::uint32_t ewt_ms = 0;           // for a call arriving now; kUnknownEwt if nobody is staffed
  std::uint32_t aht_ms = 0;           // the estimate EWT uses
  std::uint32_t sl_threshold_ms = 0;  // the queue's service-level target: answered within
  std::uint16_t sl_target_permille = 0;  // this many ms for this share of calls
  Policy policy = Policy::LongestIdle;
  Media media = Media::Voice;
  // Surge mode (docs/surge.md): whether the queue is in it, the operator's force on it, since
  // when (entry or exit), why it entered (kSurgeBy* bits), the offered calls of the last 60 s.
  bool surge = false;
  SurgeForce surge_force = SurgeForce::Auto;
  Micros surge_since = 0;
  std::uint16_t surge_cause = 0;
  std::uint32_t offered_last_min = 0;
  // In surge on thresholds: every exit level has been met at each evaluation since
  // surge_exit_since (the exit hold runs); the queue leaves at the first evaluation at which the
  // hold has lasted exit_hold_ms and the surge min_dwell_ms (the plan's, as configured).
  bool surge_exit_holding = false;
  Micros surge_exit_since = 0;
  std::uint32_t surge_exit_hold_ms = 0;
  std::uint32_t surge_min_dwell_ms = 0;
};

// A queue's surge counters since the engine started (part of the state: a standby counts alike).
struct SurgeCounters {
  std::uint32_t entries = 0;          // times the queue entered surge
  std::uint32_t borrowed = 0;         // calls offered to a borrowed agent
  std::uint32_t surge_overflows = 0;  // calls a surge step sent elsewhere (callbacks apart)
  std::uint32_t callbacks = 0;        // callers who hung up keeping their place
  std::uint32_t diverted = 0;         // calls a down service diverted
};

struct CallView {
  CallState state = CallState::Free;
  QueueIndex queue = kNone;
  AgentIndex agent = kNone;
  std::uint32_t position = 0;  // 1 = next, when queued
  std::uint32_t ewt_ms = 0;    // when queued; kUnknownEwt if nobody staffs the queue or no
                               // member agent has the call's extra skills
  Micros arrived = 0;
  Micros enqueued = 0;
  Micros state_since = 0;  // entry into `state`
  std::uint8_t priority = 0;
  Media media = Media::Voice;
  bool outbound = false;
};

// The latest summary a peer site sent of one queue (acdctl site status, metrics).
struct SiteSummaryView {
  std::uint8_t site = 0;      // the peer's site number
  std::uint64_t seq = 0;      // 0: none received yet
  Micros received = 0;        // engine time it was applied
  std::uint32_t ready_agents = 0;
  std::uint32_t ewt_ms = kUnknownEwt;
  std::uint16_t sl_permille = 0;
  std::uint16_t load_permille = 0;
  bool accepts = false;  // the peer said it takes overflow for the queue
  bool fresh = false;    // not older than site_summary_max_age_ms now
};

struct EngineCounters {
  std::uint64_t events = 0;
  std::uint64_t decisions = 0;
  // Inputs the engine turned away, by the status it answered with (a malformed or impossible
  // request, a command for an agent in the wrong state). Refusals are the sender's matter, not a
  // fault of acd: faults are counted apart (offer_violations).
  std::array<std::uint64_t, kStatusCount> refused{};
  std::uint64_t refused_total() const;
  std::uint64_t agent_scan_steps = 0;  // ready agents skipped for lacking a call's extra skills
  std::uint64_t call_scan_steps = 0;   // waiting calls skipped for needing skills an agent lacks
  std::uint64_t offer_violations = 0;  // offers to an agent that was not available: must stay 0
  // Calls placed in a queue (arrival, transfer, overflow) where no member agent, signed in or not,
  // has their extra skills: their EWT is unknown and the queue's rules decide at once.
  std::uint64_t unservable_calls = 0;
  // Site summaries kept, and those passed over (older than the one kept, or of a queue this
  // domain does not have).
  std::uint64_t site_summaries = 0;
  std::uint64_t site_summaries_ignored = 0;
};

class Engine {
 public:
  using DecisionSink = FunctionRef<void(const Decision&)>;

  // Precondition: validate_config(config) is empty (asserted in debug builds).
  explicit Engine(const EngineConfig& config);

  // Applies one event; every decision it causes goes to `sink` before apply returns. Events whose
  // time is earlier than now() are applied at now() (time never goes back).
  void apply(const Event& event, DecisionSink sink);

  // Applies `events` in order, exactly as apply() on each of them would: the same decisions, in
  // the same order, to `sink`, and the same state. Returns how many were applied (all of them).
  // Before each event it prefetches what the events a few places further on will read (their
  // queue and its ready ring's head, their agent, their call's slot in the ID map; in an engine
  // too large for the caches, link by link up to seven events ahead: the agent the ring will give,
  // its memberships and their queues), so that those cache misses overlap with the work of the
  // events before them; the prefetches are hints only and change nothing. Never allocates. Feed
  // it the dataplane's receive bursts (16-64 events).
  std::size_t apply_burst(std::span<const Event> events, DecisionSink sink);
  // apply_burst's deeper look-ahead is chosen by the size of the engine's tables; this forces it
  // on or off (tests, benchmarks). Changes no decision.
  void set_deep_look_ahead(bool on) { deep_look_ahead_ = on; }

  Micros now() const { return s_.now; }
  std::uint32_t agent_count() const { return static_cast<std::uint32_t>(agents_.size()); }
  // The number agent `a` was configured with (a retired agent's too), a < agent_count().
  AgentNumber agent_number(AgentIndex a) const { return agents_[a].number; }
  std::uint32_t queue_count() const { return static_cast<std::uint32_t>(queues_.size()); }
  std::uint32_t calls_in_engine() const { return s_.calls_in_use; }
  std::uint32_t max_calls() const { return static_cast<std::uint32_t>(calls_.size()); }

  // O(log agents). kNone if no agent has this number.
  AgentIndex find_agent(AgentNumber number) const;
  AgentView agent(AgentIndex a) const;
  const AgentStats& agent_stats(AgentIndex a) const { return agent_stats_[a]; }
  QueueView queue(QueueIndex q) const;
  const QueueStats& queue_stats(QueueIndex q) const { return queue_stats_[q]; }
  SurgeCounters surge_counters(QueueIndex q) const;
  // The site-wide surge force (SurgeControl with queue kNone); Auto when none.
  SurgeForce site_surge_force() const { return s_.site_force; }
  std::uint32_t service_count() const { return static_cast<std::uint32_t>(service_down_.size()); }
  bool service_down(std::uint32_t s) const { return service_down_[s] != 0; }
  // Peer sites (EngineConfig::site_numbers): how many, and the latest summary of `site` (an index
  // into them) for queue q.
  std::uint32_t site_count() const { return static_cast<std::uint32_t>(site_numbers_.size()); }
  SiteSummaryView site_summary(std::uint32_t site, QueueIndex q) const;
  // O(position) for a queued call. Empty if the call is not in the engine.
  std::optional<CallView> call(CallId id) const;
  // Visits every call in the engine, in slot order, with its ID (positions not computed:
  // O(max_calls)).
  void for_each_call(FunctionRef<void(CallId, const CallView&)> visit) const;
  // The same over call slots [first, end) only (end clamped to max_calls()), for callers that
  // spread a walk over several rounds.
  void for_each_call(CallSlot first, CallSlot end,
                     FunctionRef<void(CallId, const CallView&)> visit) const;
  const EngineCounters& counters() const { return counters_; }

  // FNV-style hash over every byte of state (configuration included).
  std::uint64_t state_hash() const;
  std::vector<std::uint8_t> snapshot() const;
  // The same into `out`, reusing its storage: when `out` already holds snapshot_bytes() bytes
  // (an earlier image's buffer), nothing is allocated and no fresh page is touched.
  void snapshot_into(std::vector<std::uint8_t>& out) const;
  std::size_t snapshot_bytes() const;
  // Restores a snapshot taken from an engine built from the same configuration. On any mismatch
  // returns false and leaves this engine unchanged.
  bool restore(std::span<const std::uint8_t> image);

  // Live reconfiguration: applies what a configuration reload may change in place — queue
  // parameters (service-level targets, ring, wrap-up and max-wait timeouts, overflow rules,
  // verification level, tier boosts, priority aging), max_overflow_hops, outbound_reserve_ms.
  // Waiting calls follow the new wait rules, counted from when they entered their queue; calls and
  // agents are otherwise untouched. Returns false, changing nothing, if `next` differs in anything
  // else (skills, the queues' media, policy or skills, the agents, pool sizes) or is invalid: those
  // need a restart. Allocates (rules); a control-plane operation on the routing thread.
  bool reconfigure(const EngineConfig& next);

  // What apply() would decide for this RouteRequest now, without changing anything: the same
  // Rejected / Error, Overflowed (one per hop), Offer or Queued decisions, in the same order, to
  // `sink` (the agent's AgentStateChanged that follows an offer is left out). The event's time is
  // ignored: the answer is for now(); timers due before the event's time have not fired. Call ID 0
  // is allowed (no duplicate check). For operators ("route test") and tests; O(one routing). The
  // only thing it may write is the memo of who can serve which skills (derived from the
  // configuration, outside the state: no decision, hash or snapshot depends on it).
  void preview_route(const Event& e, DecisionSink sink) const;

  // Structural reload. This engine, just built from the new configuration, takes over the state of
  // `running`, which was built from the running one. Every agent, queue, skill and call keeps its
  // index (they are on the wire), so the new configuration lists the running agents (same numbers)
  // and queues first, in the running order, with `retired` set on those it drops, and appends new
  // ones; max_calls is unchanged. Agents keep their state, tasks and today's figures under their
  // new skills and capacity; calls keep their queue, place and timers; waiting calls follow the new
  // wait rules (as in reconfigure); the ready indexes are rebuilt in the running order; then every
  // free agent takes a waiting call it now qualifies for (those decisions go to `sink`). Refused,
  // changing neither engine, when a retired agent is signed in, a retired queue or a queue changing
  // media holds calls, or the lists do not match. A control-plane operation on the routing thread
  // (O(state), allocates a little); `running` can be destroyed afterwards.
  enum class TakeOverProblem : std::uint8_t {
    None,
    PoolSizeChanged,       // max_calls differs
    ListsDiffer,           // fewer agents, queues or skills, or another agent at `index`
    RetiredAgentSignedIn,  // agent `index`
    RetiredQueueHasCalls,  // queue `index`, `calls` of them
    MediaChangeWithCalls,  // queue `index`, `calls` of them
  };
  struct TakeOverResult {
    TakeOverProblem problem = TakeOverProblem::None;
    std::uint32_t index = 0;
    std::uint32_t calls = 0;
    bool ok() const { return problem == TakeOverProblem::None; }
  };
  TakeOverResult take_over(const Engine& running, DecisionSink sink);

  // Walks the whole state and checks every invariant; O(state). On failure says which in `why`.
  bool check_invariants(std::string* why) const;
  // For tests: in the current state, least_needed's choice for a call of each least_needed queue
  // (one without extra skills, and the queue's first waiting call) equals the reference walk's,
  // which counts every candidate's cover. On a difference says which in `why`. O(queues × 8 ×
  // queues per agent).
  bool least_needed_matches_reference(std::string* why) const;
  // Bytes held by the engine's pools.
  std::size_t memory_bytes() const;

 private:
  // Event handlers, one per EventType.
  void on_sign_in(const Event& e);
  void on_sign_out(const Event& e, bool forced);
  void on_ready(const Event& e, bool forced);
  void on_not_ready(const Event& e);
  void on_wrap_up_done(const Event& e);
  void on_route_request(const Event& e);
  void on_offer_rejected(const Event& e);
  // The slot of the call e.call if it is in one of the `allowed` states; otherwise emits the Error
  // decision (UnknownCall, or WrongCallState) and returns kNone.
  CallSlot call_in_state(const Event& e, std::initializer_list<CallState> allowed);
  void on_answered(const Event& e);
  void on_hold(const Event& e, bool hold);
  void on_released(const Event& e, bool abandon_only);
  void on_transfer_to_queue(const Event& e);
  void on_transfer_to_agent(const Event& e, AgentIndex target);
  AgentIndex transfer_out(CallSlot slot);
  void on_outbound(const Event& e, AgentIndex target);
  void on_new_day();
  // Surge mode and emergency diversion (engine_surge.cpp).
  void on_surge_control(const Event& e);
  void on_service_control(const Event& e);
  // Sites (engine_sites.cpp): summaries in, the target of a rule to a site.
  void on_site_summary(const Event& e);
  bool summary_accepts(const detail::SiteSummaryRecord& s) const;
  // The site index a rule to a site sends the call to, or kNone when the rule cannot apply (hop
  // limit, every candidate visited, none accepting). For any other rule, its target.
  std::uint32_t site_target(const detail::CallRecord& c, const detail::RuleRecord& rule) const;
  bool rule_applies(const detail::CallRecord& c, const detail::RuleRecord& rule) const {
    return rule.action != OverflowAction::ToSite || site_target(c, rule) != kNone;
  }
  void load_site_params(const EngineConfig& config);
  void take_over_sites(const Engine& running);
  void evaluate_surge();
  void set_surge(QueueIndex q, bool on, std::uint16_t cause);
  void surge_sweep(QueueIndex q);
  void count_offered(QueueIndex q);
  std::uint32_t offered_last_minute(QueueIndex q) const;
  Micros oldest_wait(QueueIndex q) const;
  bool surging(QueueIndex q) const { return surge_[q].active != 0; }
  const detail::RuleRecord* service_rule(QueueIndex q) const;
  bool borrowable(AgentIndex a, QueueIndex home, std::uint8_t floor) const;
  AgentIndex find_borrowed_agent(const detail::CallRecord& c, std::uint32_t action) const;
  CallSlot borrow_call_for(AgentIndex a);
  // The surge step that decides for a call no agent of its queue took: a borrowed agent
  // (`borrowed`), or a rule to leave by (`rule`); false: none applies, the call goes on as usual.
  bool surge_step(const detail::CallRecord& c, AgentIndex& borrowed,
                  detail::RuleRecord& rule) const;
  void load_surge_params(const EngineConfig& config);
  void load_queue_params(const EngineConfig& config);
  void rearm_waiting_calls(const std::vector<bool>* changed);
  TakeOverResult check_take_over(const Engine& running) const;
  void rebuild_ready_index(const Engine& running);
  void on_timer(std::uint32_t id, Micros deadline);
  void ring_no_answer(CallSlot slot, Status why);

  // Agents.
  bool agent_exists(AgentIndex a) const { return a < agents_.size() && agents_[a].retired == 0; }
  bool queue_exists(QueueIndex q) const { return q < queues_.size() && queues_[q].retired == 0; }
  bool valid_agent(const Event& e);
  // The agent e.agent if it is signed in; otherwise emits the Error decision (UnknownAgent, or
  // NotSignedIn) and returns kNone.
  AgentIndex signed_in_agent(const Event& e);
  void settle(AgentIndex a);
  void agent_changed(AgentIndex a);
  void account(AgentIndex a);
  bool available(AgentIndex a, Media m) const;
  Status why_unavailable(AgentIndex a, Media m) const;
  void refresh_index(AgentIndex a);
  void publish(AgentIndex a);
  AgentState derive_state(AgentIndex a) const;
  void end_wrap_up(AgentIndex a, std::uint16_t disposition, std::uint64_t note, bool recorded);
  void start_wrap_up(AgentIndex a, CallId call, std::uint32_t wrap_up_ms);
  void task_finished(AgentIndex a, CallSlot slot, std::uint32_t wrap_up_ms);
  Policy policy_of(const detail::MemberNode& m) const { return queue_kind_[m.queue].policy; }
  Media media_of(const detail::MemberNode& m) const { return queue_kind_[m.queue].media; }
  detail::SkillRange skills_of(AgentIndex a) const {
    return detail::SkillRange{agents_[a].skills_begin, agents_[a].skills_count};
  }
  bool has_skills(AgentIndex a, const detail::CallRecord& c) const {
    return has_skills(skills_of(a), c.req.data(), c.req_count);
  }
  bool has_skills(detail::SkillRange skills, const SkillRequirement* req, int count) const;

  // Ready-agent index of each queue: FIFO rings for longest idle and most skilled, a treap for
  // the other policies (ready_index.cpp).
  // least_needed takes at once an agent whose other queues all keep this many ready agents
  // (itself and 8 more): nobody is short of cover then.
  static constexpr std::uint32_t kLeastNeededLook = 8;
  static constexpr std::uint32_t kLeastNeededPlenty = kLeastNeededLook + 1;
  static bool uses_rings(Policy p) {
    return p == Policy::LongestIdle || p == Policy::MostSkilled || p == Policy::LeastNeeded;
  }
  std::uint64_t member_key(const detail::MemberNode& m) const;
  void build_rings();
  void ring_push(std::uint32_t ring, AgentIndex a);
  bool ring_entry_valid(const detail::RingEntry& e) const { return epochs_[e.agent] == e.epoch; }
  void trim_rings(QueueIndex q);
  AgentIndex ring_find(QueueIndex q, const detail::CallRecord& c, std::uint64_t& skipped) const;
  AgentIndex least_needed_find(QueueIndex q, const detail::CallRecord& c,
                               std::uint64_t& skipped) const;
  // The walk as it was before it stopped at the last ready agent: the reference that
  // least_needed_matches_reference() checks the walk above against.
  AgentIndex least_needed_find_reference(QueueIndex q, const detail::CallRecord& c) const;
  AgentIndex least_needed_walk(QueueIndex q, const detail::CallRecord& c, std::uint64_t& skipped,
                               bool stop_after_ready) const;
  std::uint32_t cover_left(AgentIndex a, QueueIndex q) const;
  void for_each_ready(QueueIndex q, FunctionRef<void(AgentIndex)> visit) const;
  void index_insert(std::uint32_t m);
  void index_erase(std::uint32_t m);
  std::uint32_t index_first(QueueIndex q) const;
  std::uint32_t index_next(QueueIndex q, std::uint32_t m) const;
  bool member_less(std::uint32_t a, std::uint32_t b) const;
  void treap_split(std::uint32_t t, std::uint32_t pivot, bool pivot_goes_right, std::uint32_t& l,
                   std::uint32_t& r);
  std::uint32_t treap_merge(std::uint32_t l, std::uint32_t r);
  bool tree_less(std::uint32_t x, std::uint32_t y) const {
    const detail::TreeNode& a = tree_[x];
    const detail::TreeNode& b = tree_[y];
    return a.key != b.key ? a.key < b.key : members_[a.member].agent < members_[b.member].agent;
  }
  void treap_update(std::uint32_t t) {
    tree_[t].size = 1 + tree_size(tree_[t].left) + tree_size(tree_[t].right);
  }
  std::uint32_t tree_size(std::uint32_t t) const { return t == kNone ? 0 : tree_[t].size; }

  // Calls.
  CallSlot alloc_call(CallId id);
  void free_call(CallSlot slot);
  CallSlot find_call(CallId id) const;
  void map_erase(CallId id);
  void enqueue(CallSlot slot);
  void dequeue(CallSlot slot);
  void place_call(CallSlot slot, bool arrival_rules);
  void end_call(CallSlot slot, bool abandoned);
  bool check_call_target(const Event& e, AgentIndex target, Media media, Status& why) const;
  bool apply_overflow(CallSlot slot, const detail::RuleRecord& rule, Status why = Status::Ok);
  void arm_wait_timer(CallSlot slot);
  void offer(CallSlot slot, AgentIndex a);
  void return_to_queue(CallSlot slot, Status why);
  AgentIndex best_agent_for(CallSlot slot);
  AgentIndex find_agent_for(const detail::CallRecord& c, std::uint64_t& skipped) const;
  Status check_route_request(const Event& e, bool check_call_id, DecisionType& kind) const;
  void init_call(detail::CallRecord& c, const Event& e) const;
  std::uint8_t effective_priority(const detail::CallRecord& c) const;
  const detail::RuleRecord* arrival_overflow(const detail::CallRecord& c) const;
  const detail::RuleRecord* placement_rule(const detail::CallRecord& c, bool arrival_rules) const;
  void build_reach();
  bool servable(const detail::CallRecord& c) const;
  Decision overflow_decision(const detail::CallRecord& c, const detail::RuleRecord& rule,
                             bool moves, Status why = Status::Ok) const;
  std::uint32_t position_at_tail(const detail::CallRecord& c) const;
  CallSlot best_call_for(AgentIndex a);
  CallSlot first_matching_call(QueueIndex q, AgentIndex a,
                               std::uint8_t level = kMaxProficiency, Micros min_wait = 0);
  // Call selection, skill preference and expanding requirements (engine_selection.cpp).
  void load_selection_params(const EngineConfig& config);
  std::uint8_t expand_floor(const detail::CallRecord& c) const;
  Micros next_expand_deadline(const detail::CallRecord& c) const;
  bool meets_floor(AgentIndex a, QueueIndex q, std::uint8_t floor) const;
  std::uint32_t member_of(AgentIndex a, QueueIndex q) const;
  bool reserve_allows(std::uint32_t m, const detail::CallRecord& c) const;
  AgentIndex find_ranked_agent(const detail::CallRecord& c, std::uint64_t& skipped) const;
  void expand_step(CallSlot slot);
  std::uint32_t position_of(CallSlot slot) const;
  CallView view_of(const detail::CallRecord& c) const;
  std::uint32_t ewt_for_position(QueueIndex q, std::uint32_t position) const;
  std::uint32_t ewt_for_call(const detail::CallRecord& c, std::uint32_t position) const;
  void record_wait_end(CallSlot slot, bool answered);

  // apply_burst's look-ahead: `far` events ahead, the event's queue, agent and call-map slot;
  // `near` events ahead, what those lines lead to (the head of the queue's first ready ring, the
  // agent it holds).
  void prefetch_far(const Event& e) const;
  void prefetch_near(const Event& e) const;
  // Engines whose tables pass this size take the deeper look-ahead (apply_burst_deep): in the
  // caches its own work costs more than it saves (bench/RESULTS.md, 1k against 1M agents).
  static constexpr std::size_t kDeepLookAheadBytes = std::size_t{32} << 20;
  // Stage 0 looks kLookStages events ahead, each later stage one event nearer; `agent` is the
  // stages' guess for one event, carried from stage to stage (LookAhead: one per event in
  // flight, by index mod 8).
  static constexpr int kLookStages = 7;
  using LookAhead = std::array<AgentIndex, 8>;
  std::size_t apply_burst_deep(std::span<const Event> events, DecisionSink sink);
  void look_ahead(const Event& e, int stage, AgentIndex& agent) const;
  std::uint32_t ring_front(const Event& e, std::uint32_t& first) const;
  static void prefetch_lines(const void* begin, std::size_t bytes);

  void emit(Decision d);
  void set_state(detail::CallRecord& c, CallState state) const;
  void error(Status status, const Event& e);

  template <typename Visit>
  void for_each_array(Visit&& visit) const;

  std::uint32_t skill_count_ = 0;
  std::uint8_t max_hops_ = 0;
  std::uint32_t outbound_reserve_ms_ = 0;
  std::vector<detail::AgentRecord> agents_;  // 64-byte aligned: one line each
  std::vector<detail::AgentColdRecord> agent_cold_;
  std::vector<AgentStats> agent_stats_;
  std::vector<SkillLevel> agent_skills_;     // per agent, sorted by skill
  std::vector<detail::MemberNode> members_;  // per agent, one per queue served
  std::vector<detail::TreeNode> tree_;       // one per membership of a treap-policy queue
  std::vector<detail::ReadyRing> rings_;
  std::vector<detail::RingEntry> ring_entries_;
  // Per agent, bumped when it leaves its ready rings (their entries go stale). Apart from the
  // agent records so that checking a ring entry touches 4 bytes, not a whole record.
  std::vector<std::uint32_t> epochs_;
  // Per agent, while it is in any ready ring: when it entered the first of them since it last left
  // them all (its other ring entries are as late or later). An agent idle anew since then goes to
  // the back of its rings.
  std::vector<Micros> ring_since_;
  std::vector<detail::AgentNumberEntry> numbers_;  // sorted by number
  std::vector<detail::QueueParams> params_;
  std::vector<detail::RuleRecord> rules_;
  std::vector<detail::QueueRecord> queues_;
  std::vector<QueueStats> queue_stats_;
  std::vector<detail::CallRecord> calls_;
  // Surge plans and services (configuration), surge and service state (engine_surge.cpp).
  std::vector<detail::SurgeParams> surge_params_;         // per queue
  std::vector<detail::SurgeActionRecord> surge_actions_;  // per queue, its plan's steps
  std::vector<std::uint32_t> queue_services_;             // per queue, the services it needs
  std::vector<detail::RuleRecord> service_rules_;         // per service, its diversion
  std::vector<std::uint32_t> agent_reserved_;             // per agent: never borrowed
  std::vector<detail::SurgeRecord> surge_;                // per queue
  std::vector<std::uint32_t> service_down_;               // per service: 1 down
  std::vector<std::string> service_names_;  // per service: its name, which a reload keeps
  // Call selection (engine_selection.cpp): per queue its parameters (configuration), per
  // membership its preference rank (MemberNode::rank), per agent the rule of its primary queue
  // (configuration), per queue the selection state.
  std::vector<detail::SelectionParams> selection_params_;
  std::vector<CallSelection> agent_rule_;
  std::vector<detail::SelectionRecord> selection_;
  // Derived from the plans, not state: (lender queue, borrowing queue, its surge step), by lender.
  struct Loan {
    QueueIndex lender = 0;
    QueueIndex home = 0;
    std::uint32_t action = 0;
  };
  std::vector<Loan> loans_;
  // Sites: per peer its number (configuration), queue keys sorted (configuration), and the latest
  // summary per (peer, queue), peer-major (state).
  std::vector<std::uint32_t> site_numbers_;
  std::vector<detail::QueueKeyEntry> queue_keys_;
  std::vector<detail::SiteSummaryRecord> site_summaries_;
  std::uint32_t site_number_ = 0;
  std::uint32_t max_site_hops_ = 0;
  std::uint32_t site_summary_max_age_ms_ = 0;
  std::uint32_t surge_eval_ms_ = 1000;
  bool surge_planned_ = false;  // some queue has a surge plan (derived from the configuration)
  bool deep_look_ahead_ = false;  // apply_burst's pipeline (derived from the tables' size)
  IdMap call_map_;    // call ID -> call slot
  TimerWheel wheel_;  // ids 0..max_calls-1: calls; then one per agent (wrap-up)

  // Scalars, kept together so that the snapshot copies them as one block.
  struct Scalars {
    Micros now = 0;
    std::uint64_t next_seq = 1;
    CallSlot free_call = kNone;
    std::uint32_t calls_in_use = 0;
    Micros next_surge_eval = 0;  // when the queues' surge metrics are next evaluated
    std::uint32_t surging = 0;   // queues in surge now
    SurgeForce site_force = SurgeForce::Auto;
    std::array<std::uint8_t, 3> reserved{};
  };
  static_assert(std::has_unique_object_representations_v<Scalars>);
  Scalars s_;

  // Who could ever serve which call (see "Unservable calls" in router/DESIGN.md). Built from the
  // configuration at construction and, like the configuration arrays, never changed afterwards:
  // reconfigure refuses what would change them, take_over runs on a newly built engine and restore
  // only accepts an image of the same configuration. Not state: neither hashed nor snapshotted.
  std::vector<detail::QueueKind> queue_kind_;       // per queue
  std::vector<detail::QueueReach> reach_;           // per queue
  // Per queue, its members' distinct skill lists, each as one agent that has it: 4 bytes a list
  // where a range would take 8, and agents not configured in groups have a list each.
  std::vector<AgentIndex> queue_profiles_;
  std::vector<SkillLevel> best_levels_;  // per queue, by skill: highest level of a member
  // Verdicts of the exact check for two or more extra skills, direct-mapped by a hash of the queue
  // and the requirements; sized at construction (one per 16 memberships, 1024 to 65536). `mutable`:
  // servable() fills it from the const preview_route too. Precomputing every combination of skills
  // and levels is out of the question, and a verdict is a pure function of the configuration, so
  // the memo's content changes no decision, no state hash and no snapshot; only the cost of the
  // next check. Routing thread only, like every Engine method.
  mutable std::vector<detail::ServableMemoEntry> servable_memo_;

  EngineCounters counters_;  // diagnostics only, not part of the state hash
  const DecisionSink* sink_ = nullptr;
  EventType cause_ = EventType::Tick;
};

}  // namespace acd::router
