// A node's part in durability and high availability (docs/ha.md): where the sequenced log goes
// on a primary (NodeShipper: the journal and the standby link, with the epoch fence), how a standby
// follows one (follow_primary), and how a node starts from its journal (recover_node).
//
// Threads: NodeShipper and follow_primary run on the IO thread (run to completion: the only
// dataplane thread). HaStatus is written there and read by the control and metrics threads.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "acd/control/audit_log.hpp"
#include "acd/control/config.hpp"
#include "acd/control/etcd_epoch.hpp"
#include "acd/control/zero_pages.hpp"
#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/history_fetch.hpp"
#include "acd/dataplane/journal.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/replication_link.hpp"

namespace acd::control {

// Single: no pair configured. Standby: following a primary. Primary: routing, replies gated by a
// synchronous standby's acknowledgements. Alone: routing without a standby, after winning the
// epoch (replies gated by the journal only). Fenced: was primary, lost the epoch: emits nothing.
// OutOfService: a standby whose state left the primary's (hash mismatch, a record it cannot
// apply): it never promotes.
// SteppedDown: a primary that handed over on `acdctl ha switchover` (everything acknowledged).
enum class HaRole : std::uint8_t {
  Single,
  Standby,
  Primary,
  Alone,
  Fenced,
  OutOfService,
  SteppedDown
};
std::string_view to_string(HaRole role);
// One line on stderr, "acdd: ha: HH:MM:SS.mmm TEXT" (wall-clock time, to line up two nodes' logs).
void log_line(const std::string& text);

// This node's part in disaster recovery between sites (docs/dr.md). None: no [site] plan.
// Serving: the active site's primary, shipping its log to a DR follower without waiting for it.
// Following: the DR site's node, applying the active site's log as it arrives.
// OutOfService: a follower whose state left the active site's (it never takes over).
// TakenOver: was the follower; took over as the active site (failover or switchover).
// HandedOver: was the active site's primary; handed the site's epoch to the DR site at RPO 0.
// Standby: the DR pair's standby, following its DR primary (docs/dr.md "The DR site as a pair").
enum class DrRole : std::uint8_t {
  None,
  Serving,
  Following,
  OutOfService,
  TakenOver,
  HandedOver,
  Standby
};
std::string_view to_string(DrRole role);

// Seconds from `then_ns` to `now_ns` (both ns since the Unix epoch, as system_clock gives them):
// the age of the active site's newest news, whose wall clock comes from the other site's Head
// frames. Unknown (nullopt) when `then_ns` is 0 (never heard), at or past 2^63 ns, or more than an
// hour after `now_ns`: such a clock is not one to trust. A little in the future (clocks between
// sites differ) is an age of 0.
std::optional<double> age_seconds(std::uint64_t then_ns, std::uint64_t now_ns);

// `acdctl dr status` and the metrics' view of disaster recovery; the IO thread writes, any thread
// reads. A request from the control thread is an ID (from `next_request`) stored in its slot; the
// IO thread takes it (exchange with 0) and answers under that ID, so a waiter only ever reads the
// answer to its own request, never one to an earlier request that outlived its waiter.
struct DrStatus {
  std::atomic<DrRole> role{DrRole::None};
  // Serving: the DR link's LinkPrimary::PeerState, the follower's acknowledged seq, and the RPO:
  // records logged here it has not acknowledged, and the age of the oldest of them.
  std::atomic<std::uint8_t> follower_state{0};
  std::atomic<std::uint64_t> follower_acked{0};
  std::atomic<std::uint64_t> lag_records{0};
  std::atomic<std::uint64_t> lag_us{0};
  // Following: the seq applied, the active primary's newest seq and wall clock as last heard
  // (Head frames), and whether its primary is connected.
  std::atomic<std::uint64_t> applied_seq{0};
  std::atomic<std::uint64_t> head_seq{0};
  std::atomic<std::uint64_t> head_wall_ns{0};
  std::atomic<bool> connected{false};
  // A DR pair's primary while following: its own standby (LinkPrimary::PeerState) and the seq it
  // acknowledged. (After a takeover the standby is the node's hot standby: `acdctl ha status`.)
  std::atomic<std::uint8_t> standby_state{0};
  std::atomic<std::uint64_t> standby_acked{0};
  // Request slots: 0 = none, else the waiting request's ID.
  std::atomic<std::uint64_t> failover_requested{0};    // DR node: `acdctl dr failover`
  std::atomic<std::uint64_t> switchover_requested{0};  // active primary: `acdctl dr switchover`
  std::atomic<std::uint64_t> drill_requested{0};       // DR node: `acdctl dr drill`
  std::atomic<std::uint64_t> next_request{0};          // the last ID handed out
  // The last drill's findings (under `mutex`), written before its answer.
  struct Drill {
    std::uint64_t applied_seq = 0;   // the follower's applied seq when the drill was asked
    std::uint64_t head_seq = 0;      // the active primary's newest seq, as last heard then
    std::uint64_t hash_seq = 0;      // the active site's state hash the sandbox replayed to (0: none)
    bool hash_match = false;         // the sandbox's state hash at hash_seq is the active site's
    std::uint64_t snapshot_seq = 0;  // the journal's snapshot the replay began from (0: seq 1)
    std::uint64_t replayed = 0;      // records the sandbox replayed after it
    std::string queue;               // the synthetic call's queue
    std::string routed;              // "agent", "queued", "overflowed", "rejected" or "none"
    std::uint64_t agent = 0;         // the agent offered the call (routed == "agent")
    std::string detail;              // the decision in words, or why the replay failed
    double took_ms = 0;              // the whole drill, from the request to the answer
    bool passed = false;             // replayed to hash_seq, hash matched, the call routed/queued
  };
  Drill drill;
  // What a drill's sandbox is built from (set before following, read by the IO thread): the
  // starting configuration's domain (the configuration a reload installed is the IO stage's tag)
  // and the IO stage's sizes. Without a domain, a drill is refused.
  const router::EngineConfig* drill_domain = nullptr;
  dataplane::DataplaneConfig drill_dataplane;
  struct Outcome {
    std::uint64_t id = 0;  // the request answered
    bool ok = false;
    std::string text;  // its result, a sentence
  };
  mutable std::mutex mutex;
  std::string site;               // this site's name
  std::string peer;               // the followed site (Following) or the DR site (Serving)
  std::vector<Outcome> outcomes;  // the latest answers (a few), oldest first
  std::uint64_t takeover_epoch = 0;
  std::uint64_t takeover_seq = 0;
  std::uint64_t takeover_loss = 0;  // records the active site logged that this node never had
  std::vector<std::pair<std::uint64_t, std::string>> history;  // (wall ns, event), oldest first
  // Adds an event to the history (and the log): under `mutex`.
  void note(const std::string& event);
  // Records the answer to request `id` (taken from a slot) for its waiter.
  void answer(std::uint64_t id, bool ok, const std::string& text);
  // The answer to request `id`, if given (under `mutex`).
  std::optional<Outcome> outcome_of(std::uint64_t id) const;
};

// What `acdctl ha status` and the metrics show. One writer (the IO thread); any reader.
struct HaStatus {
  DrStatus dr;
  std::atomic<HaRole> role{HaRole::Single};
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<std::uint64_t> last_seq{0};     // last record logged (primary) or applied (standby)
  std::atomic<std::uint64_t> peer_seq{0};     // primary: the standby's acknowledged seq
  std::atomic<std::uint64_t> lag_us{0};       // primary: age of the oldest unacknowledged record
  std::atomic<std::uint8_t> peer_state{0};    // LinkPrimary::PeerState, or 1 = primary alive (standby)
  std::atomic<std::uint64_t> hash_checks{0};
  std::atomic<std::uint64_t> hash_mismatches{0};
  std::atomic<std::uint64_t> last_hash_seq{0};
  std::atomic<std::uint64_t> failovers{0};     // promotions won by this node
  std::atomic<std::uint64_t> fence_lost{0};    // epoch swaps lost
  std::atomic<std::uint64_t> fence_unreachable{0};
  std::atomic<std::uint64_t> held{0};          // datagrams waiting for acknowledgement
  std::atomic<bool> switchover_requested{false};  // set by `acdctl ha switchover`
  // Read by the control thread; the IO thread writes under the mutex (rare).
  mutable std::mutex text_mutex;
  std::string peer;    // the other node's replication address
  std::string reason;  // why the role is what it is (last change)
  void say(const std::string& why) {
    std::lock_guard<std::mutex> lock(text_mutex);
    reason = why;
  }
  std::string why() const {
    std::lock_guard<std::mutex> lock(text_mutex);
    return reason;
  }
  // What the node is made of now (null: none). They change over the process's life (a standby
  // that promotes, a journal begun again from the primary's snapshot): the IO thread sets them
  // under sources_mutex, and clears one under it before its object dies; other threads read
  // through them only while they hold sources_mutex (read every time, never kept).
  mutable std::mutex sources_mutex;
  const dataplane::LinkCounters* link = nullptr;             // the live link's counters
  const dataplane::LatencyHistogram* ack_latency = nullptr;  // primary: standby acknowledgements
  const dataplane::Journal* journal = nullptr;
  void set_sources(const dataplane::LinkCounters* now_link,
                   const dataplane::LatencyHistogram* now_ack_latency,
                   const dataplane::Journal* now_journal) {
    std::lock_guard<std::mutex> lock(sources_mutex);
    link = now_link;
    ack_latency = now_ack_latency;
    journal = now_journal;
  }
};

// Serves the requests of this node's followers for its history records (the copy of the records
// before a follower's image, dataplane/history_fetch.hpp) on up to kLinks links: the pair's
// standby and the DR follower. The history thread answers one request at a time; the answer goes
// back on the link that asked, when that link has room (the log goes first), and the next
// request waiting is served from the other link first, so neither follower starves the other.
// A request from a link that has none being served replaces its older one. IO thread.
class HistoryServer {
 public:
  static constexpr std::size_t kLinks = 2;
  // null: no history on this node; requests are ignored.
  void set_channel(dataplane::HistoryFetchChannel* fetch) { fetch_ = fetch; }
  // One turn: new requests taken from the links (a null link: none there), one handed to the
  // history thread if none is with it, its answer sent on the link that asked once there is room.
  // An answer for a link whose follower went is dropped: it asks again on its next connection.
  void poll(const std::array<dataplane::LinkPrimary*, kLinks>& links);

 private:
  dataplane::HistoryFetchChannel* fetch_ = nullptr;
  std::array<std::vector<std::uint8_t>, kLinks> waiting_;
  int serving_ = -1;  // the link whose request is with the history thread
  std::size_t next_ = 0;  // the link served first next time
  std::unique_ptr<dataplane::HistoryFetch> answer_;  // waits for room on its link
};

// The primary's (or a single node's) log destination. Replies leave once the journal has made
// their inputs durable (when journal.sync) and, with a synchronous standby, once it acknowledged
// them. When the standby dies, the node continues alone only if it wins epoch E+1 in etcd; if it
// loses, it is fenced and releases nothing more.
class NodeShipper final : public dataplane::LogShipper {
 public:
  struct Options {
    bool journal_gates = true;  // journal.sync
    std::chrono::seconds snapshot_every{60};
    std::uint32_t hash_every = 10000;
    // And no more often than this: a hash reads the whole engine on both routing cores (about a
    // millisecond for the default centre), so at 150,000 records/s hash_every alone would pause
    // routing 15 times a second.
    std::chrono::milliseconds hash_min_interval{250};
    std::string node;
    dataplane::Endpoint peer_dataplane;  // named in NotPrimary answers after a switchover
  };
  NodeShipper(dataplane::IoStage& io, dataplane::Journal* journal, dataplane::LinkPrimary* link,
              EtcdEpoch* fence, std::uint64_t epoch, HaRole role, Options options,
              HaStatus& status);
  ~NodeShipper() override;  // clears status's link and journal: they may die before it
  NodeShipper(const NodeShipper&) = delete;
  NodeShipper& operator=(const NodeShipper&) = delete;

  bool has_room() const override { return overflow_.empty(); }
  void append(std::uint64_t seq, std::span<const std::uint8_t> record) override;
  void poll() override;
  std::uint64_t released_through() const override;
  bool wants_image() override;
  void on_image(dataplane::NodeImage image) override;
  void on_hash(std::uint64_t seq, std::uint64_t hash) override;

  HaRole role() const { return role_; }
  std::uint64_t last_seq() const { return last_seq_; }
  // This node's audit log, shipped to the standby beside the log (null: none). Before the first
  // poll; it outlives the shipper.
  void set_audit(AuditLog* audit) { audit_ = audit; }
  // Where a standby's requests for this node's history records go and the history thread's answers
  // come from (dataplane/history_fetch.hpp; null: no history here, requests are ignored). Before
  // the first poll; it outlives the shipper.
  void set_history_fetch(dataplane::HistoryFetchChannel* fetch) { history_.set_channel(fetch); }

  // The active site's primary also ships its log to a DR follower on `dr` (owned by the caller,
  // outliving this), never waiting for it: its acknowledgements gate nothing. `dr_dataplane`:
  // the DR site's ACDP address, named in NotPrimary answers during a DR switchover; `dr_node`:
  // the name the DR node takes the epoch under. IO thread, before the first poll.
  void set_dr(dataplane::LinkPrimary* dr, dataplane::Endpoint dr_dataplane, std::string dr_node);

 private:
  void poll_dr(std::chrono::steady_clock::time_point now);
  void dr_switchover_step();
  bool send_recent(dataplane::LinkPrimary& to, std::uint64_t applied, std::uint64_t& max_sent);
  void on_standby_lost();
  void step_down_if_asked();
  void serve_hello(std::uint64_t applied);
  void ship_audit();

  dataplane::IoStage& io_;
  dataplane::Journal* journal_;
  dataplane::LinkPrimary* link_;
  EtcdEpoch* fence_;
  std::uint64_t epoch_;
  HaRole role_;
  Options options_;
  HaStatus& status_;
  std::uint64_t last_seq_ = 0;
  std::uint64_t term_start_ = 0;   // the last record before this node became primary
  std::uint64_t max_sent_ = 0;     // the last record sent to a standby in this term
  std::uint64_t sync_target_ = 0;  // the standby is synchronous once it acknowledged this
  std::uint64_t frozen_at_ = 0;    // Fenced / waiting for the fence: nothing after this leaves
  // Records the journal's ring could not take yet (rare: the disk is slow); retried each poll.
  std::deque<std::pair<std::uint64_t, std::vector<std::uint8_t>>> overflow_;
  // The latest records, for a standby that reconnects a little behind: it gets them instead of a
  // whole image (which costs the routing core a pause). A ring of fixed slots: no allocation. Its
  // 13 MB are zero pages, faulted in as records fill it: writing them all when the shipper is
  // built (a node becoming primary) took 200 ms on a VM with slow page faults, and a DR pair's
  // standby, which hears nothing from its primary meanwhile, dropped the link.
  struct Recent {
    std::uint64_t seq = 0;  // 0: empty
    std::uint8_t length = 0;
    std::array<std::uint8_t, dataplane::kMaxLogRecord> bytes{};
  };
  static constexpr std::size_t kRecentRecords = 1 << 16;
  ZeroPages<Recent> recent_{kRecentRecords};
  // A standby that said hello waits for an image; records stamped meanwhile wait with it.
  bool image_for_standby_ = false;
  // The log's last seq when the standby (the DR follower) asked: an image taken before (one that
  // waited for the history thread, or was in flight on the routing core) lacks records the link
  // never sent it, and is not used for it.
  std::uint64_t image_standby_from_ = 0;
  std::uint64_t image_dr_from_ = 0;
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> after_image_;
  bool snapshot_due_ = false;
  std::chrono::steady_clock::time_point last_snapshot_;
  std::uint64_t next_hash_at_ = 0;
  std::chrono::steady_clock::time_point last_hash_;
  dataplane::LinkPrimary::PeerState last_peer_ = dataplane::LinkPrimary::PeerState::None;
  std::chrono::steady_clock::time_point next_fence_try_{};
  bool stepping_down_ = false;
  AuditLog* audit_ = nullptr;
  bool audit_shipping_ = false;
  // The standby's and the DR follower's requests for our history records.
  HistoryServer history_;
  // The DR follower (set_dr): served like the standby (recent records or an image) but never
  // waited for.
  dataplane::LinkPrimary* dr_ = nullptr;
  dataplane::Endpoint dr_dataplane_{};
  std::string dr_node_;
  bool image_for_dr_ = false;
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> after_image_dr_;
  std::uint64_t dr_max_sent_ = 0;
  // (seq, when it was logged), one per poll that logged something, for the follower's lag in
  // seconds; bounded (kDrMarks): past it, later marks are skipped and the age stays exact.
  static constexpr std::size_t kDrMarks = 1 << 16;
  std::deque<std::pair<std::uint64_t, std::chrono::steady_clock::time_point>> dr_marks_;
  bool dr_switching_ = false;
  std::uint64_t dr_request_ = 0;  // the ID of the switchover request being drained for
  // A DR switchover's drain ends here: handed over, or abandoned (the site routes again). Below
  // acdctl's default wait, so that the operator hears which.
  static constexpr std::chrono::seconds kDrDrainLimit{8};
  std::chrono::steady_clock::time_point dr_drain_until_{};
  std::uint64_t dr_drain_from_ = 0;  // the last record admitted before the drain
  dataplane::LinkPrimary::PeerState last_dr_peer_ = dataplane::LinkPrimary::PeerState::None;
};

// A DR pair's primary (docs/dr.md "The DR site as a pair"): what it receives from the active site
// goes on to its own standby over `link`, as it applies it: images, records, state hashes. A
// standby that says hello gets the records it lacks when this follower sent it every record up to
// its seq (from a ring of the latest), else an image of this node's state, taken here. IO thread.
class PairForwarder {
 public:
  PairForwarder(dataplane::LinkPrimary& link, dataplane::IoStage& io, router::Engine& engine,
                DrStatus& status);
  void image(std::uint64_t seq, std::span<const std::uint8_t> bytes);
  void record(std::uint64_t seq, std::span<const std::uint8_t> bytes);
  void hash(std::uint64_t seq, std::uint64_t state_hash);
  // Each turn of the follower's loop: the standby's hello and acknowledgements, then one flush.
  void poll(std::chrono::steady_clock::time_point now);
  dataplane::LinkPrimary& link() { return link_; }
  // The standby's requests for our history records (as NodeShipper::set_history_fetch).
  void set_history_fetch(dataplane::HistoryFetchChannel* fetch) { history_.set_channel(fetch); }

 private:
  std::uint64_t ours() const { return io_.sequencer().next() - 1; }
  HistoryServer history_;
  dataplane::LinkPrimary& link_;
  dataplane::IoStage& io_;
  router::Engine& engine_;
  DrStatus& status_;
  std::uint64_t first_ = 0;     // our seq when forwarding began
  std::uint64_t max_sent_ = 0;  // the last record sent to a standby since then
  std::uint8_t last_peer_ = 0;
  struct Recent {
    std::uint64_t seq = 0;
    std::vector<std::uint8_t> bytes;
  };
  static constexpr std::size_t kRecent = 1 << 14;
  std::vector<Recent> recent_ = std::vector<Recent>(kRecent);
};

// Starts a node from its journal: the newest snapshot, then every record after it, applied
// through the IO stage (reply cache included). Returns the next sequence number to log, or an
// error (the journal cannot be read, or holds what this configuration cannot apply).
struct Recovery {
  std::uint64_t next_seq = 1;
  std::uint64_t snapshot_seq = 0;
  std::size_t records = 0;
  std::string cut;  // a torn or corrupt tail that was cut
  std::string error;
};
Recovery recover_node(const std::string& dir, router::Engine& engine, dataplane::IoStage& io);

// A DR pair's standby (follow_primary's `pair`): its primary is silent. While the DR site follows
// the active site, the pair's own key ([ha] etcd, the fence follow_primary is given) decides which
// node follows; once the DR site took over (`centre`'s holder is `site`, at the epoch the primary
// announced), the standby takes the centre's next epoch under the site's name and routes
// (`took_centre` set).
struct DrPairFence {
  EtcdEpoch* centre = nullptr;
  std::string site;
  bool took_centre = false;
};

// A standby: follows the primary over `link`, applying its log (and writing it to `journal`, if
// any), answering clients NotPrimary, until the primary is gone and this node wins the epoch
// (returns true: promoted, `epoch` is the new one) or `stop` is set (false). An idle turn sleeps
// until the link or `port_fd` (readable when client datagrams wait; -1: none) has something, at
// most a tenth of the heartbeat interval (0.1 to 1 ms).
// `may_promote_at_once`: no primary has been heard yet and this node may start as one
// (ha.start_as = "primary").
// `dr_follower`: this node is the DR site's follower of the active site (docs/dr.md): it never
// promotes on its own. It takes over when `acdctl dr failover` asks (status.dr) and the active
// primary is silent, winning the epoch after the one it followed under `settings.node`; or when the
// active primary handed it the epoch at a seq this node has applied (a DR switchover). It also
// returns false when the active site has been silent for a second, so that the caller tries the
// site's next replication address (the pair's other node may be its primary now).
// `dr_site`: an active site's DR site (empty: none). A pair member that has followed no primary
// never promotes when etcd says that site holds the epoch (it took over): it returns false.
// `forward`: a DR pair's primary following the active site passes on what it applies to its own
// standby. `pair`: a DR pair's standby (see DrPairFence).
// A snapshot from the primary replaces the local state: the journal (when `journal` holds one)
// is moved aside to DIR.replaced and begun again from that snapshot.
bool follow_primary(dataplane::LinkStandby& link, dataplane::IoStage& io, router::Engine& engine,
                    dataplane::StatePublisher* publisher,
                    std::unique_ptr<dataplane::Journal>& journal,
                    const dataplane::JournalConfig& journal_config, EtcdEpoch& fence,
                    const HaSettings& settings, bool may_promote_at_once, HaStatus& status,
                    const std::atomic<bool>& stop, std::uint64_t& epoch, int port_fd = -1,
                    bool dr_follower = false, const std::string& dr_site = "",
                    PairForwarder* forward = nullptr, DrPairFence* pair = nullptr);

// True when etcd's epoch `holder` is DR site `site`: it took over by a failover (holder
// "SITE.took-SEQ"; "SITE" for a node of it that routes alone since), or was handed the epoch by a
// switchover ("SITE.at-SEQ"). Such a site is the active one now.
bool taken_by_site(const std::string& holder, const std::string& site);

// The seq in a takeover holder of `site` ("SITE.at-SEQ" or "SITE.took-SEQ"): the node that took the
// epoch held every record up to it and released nothing its pair's standby had not acknowledged.
std::optional<std::uint64_t> takeover_point(const std::string& holder, const std::string& site);

// Sleeps until one of `fds` (at most four; -1 entries are skipped) is readable or `timeout`
// passes; a signal ends it early. For an idle node's loop.
void wait_readable(std::span<const int> fds, std::chrono::microseconds timeout);

}  // namespace acd::control
