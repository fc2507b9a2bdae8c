// The audit log [GB/T 32315 4.1.2 b, c]: operators' actions and high-risk operations, recorded
// so that an edit, a deletion or a reordering of a record can be detected afterwards.
//
// Format: one JSON object a line (docs/audit.md), keys in sorted order:
//   {"actor":..., "detail":{...}, "hash":HEX, "kind":..., "outcome":..., "prev":HEX, "seq":N,
//    "subject":..., "time":"2026-11-29T21:17:09.123Z"}
// `hash` is BLAKE2b-256 (libsodium crypto_generichash, 32 bytes) over the 32 bytes of `prev`
// followed by the record's canonical bytes: the same object without `hash`, as nlohmann::json's
// compact dump (sorted keys, no spaces). `prev` is the previous record's `hash` (64 zeros before
// the first record ever), `seq` rises by exactly one, across files too.
//
// Files: `audit-<first seq, 20 digits>.log` in [audit] dir, mode 0640 (the directory 0750). A
// file passing max_file_bytes is closed and the next record starts a new one; its first record's
// `prev` is the last hash of the file before, so the chain runs across files. Beyond keep_files
// the oldest files are deleted; verification then starts from the first remaining record's `prev`
// and says it is a continuation.
//
// Durability: the writer thread writes each batch (everything queued, up to 256 records) with one
// write() and one fdatasync(); a record is on disk within about one batch interval (10 ms idle
// polling) plus the sync. A write or sync error keeps the chain as it was before the batch (the
// file is cut back to it) and counts the batch as lost: once writing works again an
// "audit.records_lost" record says how many.
//
// Threads: record() and on_agent_event() may be called from any thread, concurrently; they copy a
// fixed-size AuditRecord into a bounded lock-free queue (boost::lockfree::queue, preallocated) and
// return: no lock, no allocation, no system call beyond reading the clock. A full queue drops the
// record and counts it; the writer then writes an "audit.records_lost" record (a gap is itself
// audited). Only the writer thread formats, hashes and writes. open(), start() and stop() belong
// to the owner (acdd's main thread).
//
// The pair (docs/audit.md "The pair"): a primary ships its own records to the hot standby over
// the replication link; the standby appends each to its own chain with the primary's seq, prev
// and hash under "primary". Primary: the IO thread says where the standby stands (ship_after)
// and takes lines with drain_shipping(); the writer thread reads them back from the files it
// wrote, after each batch, into a bounded single-producer single-consumer ring (the files are the
// buffer: a full ring only delays shipping, nothing is dropped). Standby: the IO thread hands
// the primary's lines to on_audit_line() (a second such ring; full: dropped, counted, and an
// "audit.records_lost" record follows); the writer verifies each line's hash and appends it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <nlohmann/json.hpp>

#include "acd/control/config.hpp"
#include "acd/control/result.hpp"
#include "acd/dataplane/audit_sink.hpp"

namespace acd::control {

// Every kind of record: its enum name, its `kind` text, what it records (docs/audit.md's table).
#define ACD_AUDIT_KINDS(X)                                                                         \
  X(DaemonStart, "daemon.start", "acdd started: version of the configuration, its hash, pid")      \
  X(DaemonStop, "daemon.stop", "acdd stopped, and why")                                            \
  X(Command, "control.command", "a control-socket command that changes state, or was refused")     \
  X(ConfigReload, "config.reload", "a configuration reload (acdctl or SIGHUP): result, file hash") \
  X(CredentialsChanged, "credentials.changed", "the credential file was read again")               \
  X(AgentSignIn, "agent.sign_in", "an agent's password was accepted")                              \
  X(AgentSignInFailed, "agent.sign_in_failed", "a sign-in was refused (password, lockout)")        \
  X(AgentLockout, "agent.lockout", "sign-ins of an agent are delayed after wrong passwords")       \
  X(AgentUnlock, "agent.unlock", "an operator lifted an agent's sign-in delays")                   \
  X(DirectoryFallback, "agent.directory_fallback",                                                 \
    "the directory was down: a sign-in was checked against the local credential file")             \
  X(AgentSignOut, "agent.sign_out", "a desktop asked to sign its agent out")                       \
  X(AgentForceLogout, "agent.force_logout", "a desktop asked to log an agent out")                 \
  X(Operation, "operation.high_risk", "a desktop reported a high-risk customer operation")         \
  X(ClientRegistered, "client.registered", "an ACDP client registered")                            \
  X(ClientRefused, "client.refused", "an ACDP client was refused")                                 \
  X(RecordsLost, "audit.records_lost", "records dropped (queue full, write error): how many")      \
  X(TornTail, "audit.torn_tail", "at start, a torn last line was cut from the newest file")        \
  X(AgentPasswordChange, "agent.password_change",                                                  \
    "a desktop changed its agent's password (or was refused), or a standby stored the change")     \
  X(DrAction, "dr.action",                                                                         \
    "a disaster-recovery command (failover, switchover, switchback, drill)")                       \
  X(DrTakeover, "dr.takeover", "this node took over as the active site: epoch, seq, loss")         \
  X(ShipGap, "audit.ship_gap",                                                                     \
    "the primary's shipped records did not follow on (a gap, a broken or a new chain)")

enum class AuditKind : std::uint8_t {
#define ACD_AUDIT_KIND_ENUM(name, text, help) name,
  ACD_AUDIT_KINDS(ACD_AUDIT_KIND_ENUM)
#undef ACD_AUDIT_KIND_ENUM
};
std::string_view audit_kind_name(AuditKind kind);
std::string_view audit_kind_help(AuditKind kind);
inline constexpr std::size_t kAuditKindCount = 0
#define ACD_AUDIT_KIND_COUNT(name, text, help) +1
    ACD_AUDIT_KINDS(ACD_AUDIT_KIND_COUNT)
#undef ACD_AUDIT_KIND_COUNT
    ;

enum class AuditOutcome : std::uint8_t {
  Ok,         // done
  Refused,    // not done: the request was wrong or the state did not allow it
  Denied,     // not done: the caller lacks the right
  Failed,     // something broke (lost records, a torn line, a failed start)
  Requested,  // asked for; the result is decided later (by the engine)
  Cancelled,  // not done: given up by the one who asked (a customer operation)
};
std::string_view audit_outcome_name(AuditOutcome outcome);

// One record as it travels through the queue: fixed size and trivially copyable, so that a push
// never allocates. Texts are NUL-terminated and cut to fit (a cut detail is kept as text with
// "truncated": true). Never put a password, a password hash or a key in any field.
struct AuditRecord {
  static constexpr std::size_t kActorBytes = 64;
  static constexpr std::size_t kSubjectBytes = 128;
  static constexpr std::size_t kDetailBytes = 640;

  AuditKind kind = AuditKind::Command;
  AuditOutcome outcome = AuditOutcome::Ok;
  std::int64_t time_ms = 0;  // Unix time in ms (UTC); 0: record() stamps it
  // Who: "uid=0(root)", "client=17", "agent=1001", "acdd", "signal=SIGHUP".
  char actor[kActorBytes] = {};
  // What it acted on: "agents ready 1001", "agent=1001", a file.
  char subject[kSubjectBytes] = {};
  // A JSON object's compact text, or empty.
  char detail[kDetailBytes] = {};

  // A record with its texts copied in (cut to fit). Allocates for `detail`'s text: not for the
  // IO thread, which fills the arrays itself (set_text).
  static AuditRecord make(AuditKind kind, AuditOutcome outcome, std::string_view actor,
                          std::string_view subject,
                          const nlohmann::json& detail = nlohmann::json::object());
  // Copies `text` into `field` (of N bytes), cut to N - 1 bytes. No allocation.
  template <std::size_t N>
  static void set_text(char (&field)[N], std::string_view text) noexcept {
    const std::size_t n = text.size() < N - 1 ? text.size() : N - 1;
    for (std::size_t i = 0; i < n; ++i) {
      field[i] = text[i];
    }
    field[n] = '\0';
  }
};

class AuditLog final : public dataplane::AgentAuditSink, public dataplane::AuditStreamSink {
 public:
  struct Options {
    AuditSettings settings;             // config.hpp
    std::size_t queue_capacity = 1024;  // records waiting for the writer (at most 65,535)
  };

  // Creates the directory (0750) if needed and resumes the chain from the last record on disk.
  // A torn last line (bytes after the last newline, e.g. a crash mid-write) is cut from the file
  // and an "audit.torn_tail" record, queued first, keeps what it held (escaped, cut to 200
  // bytes). Fails with Refused, naming the path and the system's reason, when the directory
  // cannot be made or read or the newest file cannot be opened; nothing is started then.
  static Result<std::unique_ptr<AuditLog>> open(const Options& options);
  ~AuditLog() override;  // stop()
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Starts the writer thread. Records given before start() wait in the queue.
  void start();
  // Writes everything queued, syncs, and joins the writer. Records given afterwards are dropped
  // (and counted). Idempotent.
  void stop();

  // Any thread; never blocks. False when the queue was full: the record is dropped and counted,
  // and an "audit.records_lost" record follows once the writer has made room.
  bool record(const AuditRecord& record) noexcept;
  // The IO thread's sign-in, sign-out and forced-logout events (dataplane/audit_sink.hpp).
  void on_agent_event(const dataplane::AgentAuditEvent& event) noexcept override;
  void on_operation(const dataplane::OperationAuditEvent& event) noexcept override;
  // Client registrations and refusals (IO thread and handshake worker). At most
  // kClientRecordsPerSecond records of each kind of event a second: forged traffic can make
  // refusals at thousands a second, and must not crowd out the rest of the trail. The writer
  // records how many it left out, in one record per kind at most once a second
  // ("not_recorded").
  void on_client_event(const dataplane::ClientAuditEvent& event) noexcept override;
  static constexpr std::uint32_t kClientRecordsPerSecond = 20;

  // ---- The pair ----
  // Primary, IO thread: the standby holds this node's records up to `held`, the last of hash
  // `hash` (zeros: not said). The writer checks that record in its files: the same one, the
  // stream resumes after it; another (the directory was emptied and a new chain began) or none
  // (beyond our newest), it starts again from our oldest record. stop_shipping(): the standby is
  // gone.
  void ship_after(std::uint64_t held, const std::array<std::uint8_t, 32>& hash = {}) noexcept;
  void stop_shipping() noexcept;
  // Primary, IO thread: offers up to `max` entries, oldest first: first, for each ship_after, one
  // `restart(std::uint64_t after, const std::array<std::uint8_t, 32>& prev) -> bool` (the lines
  // that follow come after our record `after`, whose hash is `prev`), then lines to
  // `append(std::uint64_t seq, std::span<const std::uint8_t> line) -> bool`. An entry refused
  // (false: no room now) stays for the next call. Entries read for an earlier ship_after are
  // discarded. Records this node holds as copies of its peer's travel as stubs (seq, prev, hash
  // only), so that the standby can follow the chain across them. No allocation. Returns how
  // many lines were taken.
  template <class Restart, class Append>
  std::size_t drain_shipping(Restart&& restart, Append&& append, std::size_t max);
  // Primary, IO thread: the standby's acknowledgement (it holds our records up to `seq`).
  void note_acked(std::uint64_t seq) noexcept { ship_acked_.store(seq, std::memory_order_relaxed); }
  // Standby, IO thread (AuditStreamSink): one of the primary's records, as its JSON line. The
  // writer checks that each follows the one before (seq one more, prev its hash) and that it
  // hashes to its own hash; a line that does not is not stored: a gap or a broken chain is
  // counted (ship_gaps), logged, and the records are asked for again from the last one held
  // (take_audit_resend). When the first line after the primary's answer still does not follow,
  // the standby refuses to continue (an audit.ship_gap record says so) until the next restart.
  void on_audit_line(std::uint64_t primary_seq,
                     std::span<const std::uint8_t> line) noexcept override;
  // Standby, IO thread: where the primary's stream restarts. Not where we stand (a new chain on
  // the primary, or records it no longer has): an audit.ship_gap record names both places and
  // the copy continues from there.
  void on_audit_restart(std::uint64_t after,
                        const std::array<std::uint8_t, 32>& prev) noexcept override;
  std::optional<dataplane::AuditPosition> take_audit_resend() noexcept override;
  // The primary's record held last (read from the files at open), and its hash. While a restart
  // waits for the writer: what the restart leaves certain (0 for a new chain).
  std::uint64_t audit_held() const noexcept override;
  std::optional<dataplane::AuditPosition> audit_position() const noexcept override;

  const std::string& dir() const { return settings_.dir; }
  // Shipping's counts (docs/metrics.md): records handed to the link (primary), the standby's
  // acknowledged seq and how many of our records are newer, records of the primary appended here
  // (standby), and records that never made it (pruned before they were shipped, a line too
  // long, the standby's ring full, a line whose hash is wrong).
  std::uint64_t ship_shipped() const { return ship_shipped_.load(std::memory_order_relaxed); }
  std::uint64_t ship_acked() const { return ship_acked_.load(std::memory_order_relaxed); }
  std::uint64_t ship_lag() const;
  std::uint64_t ship_stored() const { return ship_stored_.load(std::memory_order_relaxed); }
  std::uint64_t ship_dropped() const { return ship_dropped_.load(std::memory_order_relaxed); }
  // Standby: gaps and broken chains found in the primary's stream; the primary's operation
  // records not stored because this node's own record of the same operation (from the
  // replicated log) is already in its files.
  std::uint64_t ship_gaps() const { return ship_gaps_.load(std::memory_order_relaxed); }
  std::uint64_t ship_via_log() const { return ship_via_log_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped_total() const { return dropped_total_.load(std::memory_order_relaxed); }
  std::uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  std::string last_error() const;

 private:
  explicit AuditLog(const Options& options);
  Result<void> resume();
  void run();
  // Writer thread: formats, chains and writes `records`; rotates and prunes. `lost` != 0: the
  // last record is the RecordsLost one reporting that many.
  // Returns how many of `bodies` are on disk.
  std::size_t write_batch(const std::vector<nlohmann::json>& bodies, std::uint64_t lost);
  static nlohmann::json body_of(const AuditRecord& r);
  std::string chain(const nlohmann::json& body);  // advances next_seq_ and last_hash_
  // Writer thread, the pair: appends the primary's lines waiting in inbox_; fills outbox_ from
  // the files. True when something was done.
  bool store_shipped(std::size_t max_slots);
  bool pump_shipping();
  bool start_round(std::uint64_t round);
  bool open_ship_reader(std::uint64_t from);
  void find_shipped_head();
  void publish_held(std::uint64_t seq, const std::string& hash_hex);
  // An operation record already in this node's files (from either path): true; else remembers
  // it and returns false. The key is the record's body (no seq, prev, hash or primary).
  bool seen_operation(const nlohmann::json& body);
  Result<void> open_file(std::uint64_t first_seq);
  void prune();
  void fail(const std::string& what);

  AuditSettings settings_;
  boost::lockfree::queue<AuditRecord, boost::lockfree::fixed_sized<true>> queue_;
  // Relaxed: plain counts read for reports; `pending_drops_` is exchanged by the writer, which
  // only needs the count, not any data published with it.
  std::atomic<std::uint64_t> pending_drops_{0};
  // Per ClientAuditEvent::What: the steady-clock second counted, events in it, events left out
  // since the writer last recorded how many. Relaxed: racing threads may let a record or two
  // more through at a second's turn; every event is either recorded or counted.
  struct ClientBudget {
    std::atomic<std::int64_t> second{-1};
    std::atomic<std::uint32_t> used{0};
    std::atomic<std::uint64_t> left_out{0};
  };
  std::array<ClientBudget, 3> client_budgets_;
  std::array<std::int64_t, 3> client_summary_ms_{};  // the writer's: when it last summarised
  void summarise_client_events(std::vector<nlohmann::json>& batch, bool stopping);
  std::atomic<std::uint64_t> dropped_total_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  // Set by stop() (release), read by the writer (acquire); `accepting_` likewise by record().
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepting_{true};
  mutable std::mutex error_mutex_;  // guards last_error_ (writer writes, anyone reads)
  std::string last_error_;
  // The writer's own (before start(): the opener's).
  int fd_ = -1;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t next_seq_ = 1;
  std::string last_hash_;  // hex
  std::thread thread_;

  // The pair. A ring slot: one JSON line (the longest a record can be, its texts fully escaped,
  // fits), tagged with the ship_after() round it was read for.
  static constexpr std::size_t kShipLineBytes = 8192 - 24;
  struct ShipSlot {
    std::uint64_t round = 0;
    std::uint64_t seq = 0;  // a line's seq; a restart's `after`
    std::uint32_t length = 0;
    bool restart = false;  // `line` holds the 32 bytes of the restart's prev
    char line[kShipLineBytes];
  };
  static constexpr std::size_t kShipSlots = 128;
  using ShipRing = boost::lockfree::spsc_queue<ShipSlot>;
  std::unique_ptr<ShipRing> outbox_;  // writer -> IO thread (primary)
  std::unique_ptr<ShipRing> inbox_;   // IO thread -> writer (standby)
  // ship_after() stores ship_held_ and ship_hash_ (relaxed) and ship_on_, then bumps
  // ship_round_ (release); the writer loads the round (acquire), then the rest, and reads the
  // round again: changed, it takes the next one.
  std::atomic<std::uint64_t> ship_round_{0};
  std::atomic<bool> ship_on_{false};
  std::atomic<std::uint64_t> ship_held_{0};
  std::array<std::atomic<std::uint64_t>, 4> ship_hash_{};
  std::atomic<std::uint64_t> ship_shipped_{0};
  std::atomic<std::uint64_t> ship_acked_{0};
  std::atomic<std::uint64_t> ship_stored_{0};
  std::atomic<std::uint64_t> ship_dropped_{0};
  std::atomic<std::uint64_t> ship_gaps_{0};
  std::atomic<std::uint64_t> ship_via_log_{0};
  std::atomic<std::uint64_t> head_seq_{0};  // the last record on disk (writer stores, relaxed)
  // The primary's record held last and its hash, written by the writer after the record is
  // synced, read by the IO thread: a sequence lock (held_version_ odd while writing; release
  // after, acquire before and a check after reading).
  std::atomic<std::uint64_t> held_version_{0};
  std::atomic<std::uint64_t> shipped_held_{0};
  std::array<std::atomic<std::uint64_t>, 4> held_hash_{};
  // Restarts handed over by the IO thread (its own count) and taken by the writer (release);
  // while they differ, audit_held() says only what the restart leaves certain.
  std::atomic<std::uint64_t> restarts_given_{0};
  std::atomic<std::uint64_t> restarts_taken_{0};
  std::atomic<std::uint64_t> restart_after_{0};  // the IO thread's, the last restart given
  std::atomic<bool> resend_wanted_{false};       // writer sets (release), IO thread takes
  // The writer's own: where the copy of the primary's chain stands.
  std::uint64_t chain_seq_ = 0;
  std::string chain_hash_;         // hex; empty with chain_seq_ 0 before any restart
  bool awaiting_restart_ = false;  // a resend was asked: lines wait for the primary's restart
  bool first_after_restart_ = false;
  bool refused_ = false;  // the primary's answer did not follow either: stopped
  std::unordered_set<std::string> operations_;
  std::deque<std::string> operations_order_;
  // The writer's own: the reader of its files for shipping.
  std::uint64_t ship_round_seen_ = 0;
  bool shipping_ = false;
  bool ship_restart_due_ = false;
  std::uint64_t ship_done_ = 0;  // the last own seq shipped, or passed over
  std::unique_ptr<std::ifstream> ship_reader_;
  std::uint64_t ship_file_first_ = 0;  // the first seq of the file being read
  std::string ship_line_;
  std::unique_ptr<ShipSlot> ship_slot_;  // the writer's, filled before a push
  std::unique_ptr<ShipSlot> in_slot_;    // the IO thread's, likewise
};

template <class Restart, class Append>
std::size_t AuditLog::drain_shipping(Restart&& restart, Append&& append, std::size_t max) {
  const std::uint64_t round = ship_round_.load(std::memory_order_relaxed);  // ours: IO thread
  std::size_t n = 0;
  while (n < max && outbox_->read_available() > 0) {
    const ShipSlot& slot = outbox_->front();
    if (slot.round == round && ship_on_.load(std::memory_order_relaxed)) {
      if (slot.restart) {
        std::array<std::uint8_t, 32> prev{};
        std::memcpy(prev.data(), slot.line, prev.size());
        if (!restart(slot.seq, prev)) {
          break;
        }
      } else {
        if (!append(slot.seq, std::span<const std::uint8_t>(
                                  reinterpret_cast<const std::uint8_t*>(slot.line), slot.length))) {
          break;
        }
        ++n;
      }
    }
    outbox_->pop();
  }
  if (n != 0) {
    ship_shipped_.store(ship_shipped_.load(std::memory_order_relaxed) + n,
                        std::memory_order_relaxed);
  }
  return n;
}

// ---- Reading and verifying (acdctl, the daemon's `audit show`, tests) ----

// The audit files of `dir`, oldest first (full paths).
std::vector<std::string> audit_files(const std::string& dir);

struct AuditVerifyReport {
  bool ok = true;
  std::size_t files = 0;
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::string last_hash;      // the chain's head: note it elsewhere to detect a cut-off tail
  bool continuation = false;  // the first remaining record follows pruned ones
  std::string first_prev;     // that record's prev (where the remaining chain hangs from)
  // The first broken record, when !ok:
  std::string file;
  std::size_t line = 0;   // 1-based line in `file`
  std::uint64_t seq = 0;  // its seq, if it has one
  std::string why;        // "hash mismatch", "prev mismatch", "bad JSON", "seq gap (...)", ...
};

// Reads every file of `dir` in order and checks each record: valid JSON with the fields of the
// format, seq one more than the record before, prev equal to the record before's hash, hash
// recomputed. Stops at the first broken record. A missing or empty directory is a failure ("no
// audit records in DIR").
AuditVerifyReport verify_audit_log(const std::string& dir);

// The pair: are the primary's records all kept by the standby? Every record of `primary_dir`
// that the primary made itself (no "primary" key) must appear in `standby_dir` as a record whose
// "primary" names its seq, prev and hash, with the same fields, so that the primary's hash
// recomputed from the standby's copy is that hash. The standby's own chain is verified too (a
// copy in a broken chain proves nothing); the primary's is not required to be whole (it may be
// gone: check what is left of it).
struct AuditMatchReport {
  bool ok = true;
  std::uint64_t primary_records = 0;  // the primary's own records looked for
  std::uint64_t matched = 0;
  std::uint64_t missing = 0;  // not on the standby
  std::uint64_t altered = 0;  // its copy or the primary's record itself does not give its hash
  std::uint64_t first_missing_seq = 0;
  std::uint64_t last_missing_seq = 0;
  std::string why;  // a failure to read either side, or the standby's broken chain
};
AuditMatchReport match_audit_logs(const std::string& primary_dir, const std::string& standby_dir);

// `audit show`: records of `dir` (parsed, oldest first) at or after `since_ms` (Unix ms), and of
// those only the last `last`. Lines that do not parse are returned as {"line": N, "file": F,
// "unreadable": TEXT}. At most 100,000 records are returned (the newest).
Result<nlohmann::json> read_audit_records(const std::string& dir,
                                          std::optional<std::int64_t> since_ms,
                                          std::optional<std::size_t> last);

// "2026-11-29T21:17:09.123Z" (also without the milliseconds or the Z, or a bare date
// "2026-11-29") as Unix ms, UTC; nullopt if it is not such a time.
std::optional<std::int64_t> parse_audit_time(std::string_view text);
std::string format_audit_time(std::int64_t unix_ms);

// BLAKE2b-256 of a configuration file's bytes as read now (the embedded default's when `path` is
// empty), as hex; "" when it cannot be read. For the records of starts and reloads.
std::string audit_config_hash(const std::string& path);

// BLAKE2b-256 of `prev` (32 bytes from its hex; zeros if it is not 64 hex digits) || `canonical`,
// as 64 hex digits.
std::string audit_hash(std::string_view prev_hex, std::string_view canonical);

}  // namespace acd::control
