// The replication link between a primary and its hot standby: the primary ships its sequenced input
// log (records: a 64-bit sequence number, strictly +1, and opaque payload bytes) over one TCP
// connection; the standby applies the records and acknowledges them in batches, so that the primary
// can release a reply once the record that caused it is acknowledged (output gating). Heartbeats
// detect a dead peer; a standby that is too far behind is caught up with a snapshot; hash checks
// compare the two engines' states at chosen sequence numbers. The frame format is in DESIGN.md,
// section "Replication link".
//
// Sealing: given `LinkKeys` (this node's static X25519 key and the peer's public key), each end
// sends a key message with a fresh ephemeral key, both derive session keys from three X25519
// products (ephemeral-ephemeral and each static with the other's ephemeral), so that only the two
// configured keys can finish, and from then on the byte stream of frames travels as
// XChaCha20-Poly1305 secretstream messages: altered, replayed, reordered or forged messages fail
// authentication. A peer that cannot prove its key is refused before any frame (handshake_refused);
// a message that fails later closes the connection (auth_failed). Without keys the frames travel in
// clear text, as before (lab use).
//
// Thread-safety: each end belongs to the one thread that polls it (the primary's IO thread); no
// method blocks, none allocates in steady state (the send and receive buffers grow only to carry a
// snapshot or a catch-up backlog). The counters may be read by any thread.
// Errors: bad input from the peer closes the connection and is counted by reason (`LinkCounter`);
// nothing from a bad frame is ever delivered. Calls out of order (append before take_hello, a
// sequence number that is not the next) are refused with `false` and counted.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acd/dataplane/audit_sink.hpp"
#include "acd/dataplane/counters.hpp"
#include "acd/dataplane/history_fetch.hpp"
#include "acd/dataplane/secure_keys.hpp"

namespace acd::dataplane {

// The frame format (little-endian): [u32 length][u8 type][u8 version][u16 flags][body];
// `length` counts the whole frame, header included.
namespace repl {
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 8;
inline constexpr std::size_t kMaxFrameBytes = 1u << 20;
inline constexpr std::size_t kRecordHeaderBytes = 12;  // u64 seq, u32 payload length
inline constexpr std::size_t kMaxRecordPayload = kMaxFrameBytes - kHeaderBytes - kRecordHeaderBytes;
inline constexpr std::size_t kSnapshotChunkBytes = 256u << 10;
inline constexpr std::size_t kMaxSnapshotBytes = 256u << 20;
// The primary drops a standby whose unsent bytes pass this (it reconnects and catches up).
inline constexpr std::size_t kMaxUnsentBytes = kMaxSnapshotBytes + (64u << 20);
// Reserved in the frame header; refused. (Authentication is a layer beneath the frames.)
inline constexpr std::uint16_t kFlagAuthenticated = 1;
// Sealed links: each end first sends a key message, [u32 kKeyMagic][u8 kKeyVersion][u8 role
// (1 standby, 2 primary)][u16 zero][32-byte ephemeral public key], then its secretstream header
// (24 bytes), then sealed messages [u32 ciphertext length][ciphertext], the first one empty (it
// proves the key), the others carrying the frame bytes (at most kMaxSealedPlain each).
inline constexpr std::uint32_t kKeyMagic = 0x4c444341;  // "ACDL"
inline constexpr std::uint8_t kKeyVersion = 1;
inline constexpr std::size_t kKeyMessageBytes = 40;
// Small enough that a large transfer (a snapshot) opens as it streams in, not a MiB at a time.
inline constexpr std::size_t kMaxSealedPlain = 64u << 10;

enum class FrameType : std::uint8_t {
  Hello = 1,          // standby -> primary: u64 applied seq (first frame of a connection)
  Welcome = 2,        // primary -> standby: u64 epoch (answer to Hello)
  Heartbeat = 3,      // both: u64 (primary: epoch; standby: applied seq)
  Records = 4,        // primary -> standby: one or more {u64 seq, u32 length, payload}
  SnapshotBegin = 5,  // primary -> standby: u64 seq, u64 total bytes
  SnapshotChunk = 6,  // primary -> standby: u64 offset, bytes
  HashCheck = 7,      // primary -> standby: u64 seq, u64 primary's state hash
  Ack = 8,            // standby -> primary: u64 applied seq
  HashReport = 9,     // standby -> primary: u64 seq, u64 standby's state hash
  // The audit stream, beside the log: the primary's own audit records, one or more
  // {u64 audit seq, u32 length, the record's JSON line}, seq strictly rising (gaps allowed).
  AuditRecords = 10,  // primary -> standby
  // standby -> primary: u64, the highest primary audit seq the standby holds on disk. The first
  // one of a connection (right after Hello) says where the primary resumes; then acknowledgements.
  AuditAck = 11,
  // primary -> DR follower (a link with announce_head): u64 the primary's newest logged seq,
  // u64 its wall clock (ns since 1970) when the frame was queued. Lets the follower say how far
  // behind it is (records, seconds) and, after a failover, how much it may lack.
  Head = 12,
  // standby -> primary: u64 seq, 32 bytes hash: the primary's audit record the standby holds
  // last and its hash (zeros: none, or unknown). The first audit frame of a connection (where the
  // primary resumes), and again when the standby finds a gap or a broken chain (resend from here).
  AuditFrom = 15,
  // primary -> standby: u64 after, 32 bytes prev: the audit records that follow come after the
  // primary's record `after`, whose hash is `prev` (the answer to AuditFrom; `after` differs from
  // the standby's position when the primary's chain is another one, or lacks the records).
  AuditRestart = 16,
  // The history records before a standby's image (history_fetch.hpp). standby -> primary: a
  // request, opaque bytes (1..64: the history thread's position), sent once per connection until
  // answered. primary -> standby: the answer, beginning with the request's bytes (an answer to
  // another request is dropped). Only a standby whose history crossed a gap with the deriver
  // state of its primary's image asks, so its primary is of a version that knows the types.
  HistoryFetch = 17,
  HistoryRows = 18,
};
inline constexpr std::uint8_t kMaxFrameType = 18;

// The primary appends audit records only while fewer unsent bytes than this wait for the
// standby: the audit stream yields to the log it shares the connection with.
inline constexpr std::size_t kAuditMaxUnsentBytes = 256u << 10;
}  // namespace repl

#define ACD_REPLICATION_COUNTERS(X)                                                        \
  X(bytes_sent, "bytes written to the replication connection")                             \
  X(bytes_received, "bytes read from the replication connection")                          \
  X(frames_received, "well-formed frames received")                                        \
  X(records_sent, "records buffered for the standby (primary)")                            \
  X(records_applied, "records delivered to the standby's engine (standby)")                \
  X(snapshots, "snapshots sent (primary) or installed (standby)")                          \
  X(acks_sent, "acknowledgements sent (standby)")                                          \
  X(acks_received, "acknowledgements received (primary)")                                  \
  X(heartbeats_sent, "heartbeats sent")                                                    \
  X(heartbeats_received, "heartbeats received")                                            \
  X(connections, "connections established (a standby's hello accepted, or connected)")     \
  X(reconnects, "connections established after the first")                                 \
  X(peer_dead, "peers declared dead: nothing heard for dead_after")                        \
  X(peer_closed, "connections the peer closed or reset")                                   \
  X(standby_replaced, "standby connections replaced by a newer standby's hello")           \
  X(refused_connections, "connections refused: too many waiting for their hello")          \
  X(hello_timeouts, "connections closed: no hello within dead_after")                      \
  X(connect_failed, "connection attempts to the primary that failed")                      \
  X(bad_length, "connections closed: a frame length out of range")                         \
  X(bad_version, "connections closed: unknown frame version")                              \
  X(bad_flags, "connections closed: unknown or unsupported frame flags")                   \
  X(bad_type, "connections closed: unknown frame type, or one not expected here")          \
  X(bad_body, "connections closed: a frame body that does not fit its type")               \
  X(bad_sequence, "connections closed: records out of order, misplaced snapshot or ack")   \
  X(send_failed, "connections closed: send() failed")                                      \
  X(too_slow, "standbys dropped: more than kMaxUnsentBytes waited to be sent")             \
  X(append_refused, "records or snapshots refused: no standby ready, or not the next seq") \
  X(handshake_refused, "connections closed: the peer did not prove the configured key")    \
  X(auth_failed, "connections closed: a sealed message failed authentication")             \
  X(hash_checks, "hash checks compared")                                                   \
  X(hash_mismatches, "hash checks that differed")                                          \
  X(audit_records_sent, "audit records buffered for the standby (primary)")                \
  X(audit_records_received, "audit records delivered to the audit log (standby)")          \
  X(audit_acks_sent, "audit acknowledgements sent, the first of a connection included")    \
  X(audit_acks_received, "audit acknowledgements received (primary)")

enum class LinkCounter : std::uint32_t {
#define ACD_X(name, help) name,
  ACD_REPLICATION_COUNTERS(ACD_X)
#undef ACD_X
      kCount
};
inline constexpr std::size_t kLinkCounterCount = static_cast<std::size_t>(LinkCounter::kCount);
std::string_view link_counter_name(LinkCounter c);
std::string_view link_counter_help(LinkCounter c);

// One end's counters: written by the polling thread (relaxed load + store, one writer), read by
// anyone with relaxed loads.
struct alignas(64) LinkCounters {
  std::array<std::atomic<std::uint64_t>, kLinkCounterCount> values{};
  void bump(LinkCounter c, std::uint64_t n = 1) {
    auto& v = values[static_cast<std::size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t read(LinkCounter c) const {
    return values[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
};

struct LinkTiming {
  std::chrono::microseconds heartbeat{10'000};   // send one when nothing was sent for this long
  std::chrono::microseconds dead_after{50'000};  // the peer is dead after this long unheard
  // A standby told that it is behind (LinkPrimary::announce_catch_up) waits this long for the
  // first of what catches it up instead of dead_after: the primary captures and encodes a node
  // image on its routing thread, sending nothing meanwhile (a second at a million agents).
  std::chrono::microseconds catch_up_wait{30'000'000};
};

using LinkClock = std::chrono::steady_clock;

// What seals a link: this node's static key and the public key of the one peer it accepts.
struct LinkKeys {
  secure::SecretKey own;
  secure::PublicKey peer;
};

namespace repl_detail {
// A non-blocking TCP connection with its receive buffer (fixed) and send buffer (grows only for a
// catch-up). Defined in replication_link.cpp.
struct Connection;
}  // namespace repl_detail

// Primary side. Listens on one address and serves one standby at a time: new connections wait for
// their Hello (at most a few at once); a valid Hello makes the connection the standby, replacing
// the previous one (a restarted standby need not wait for its old connection to be declared dead).
class LinkPrimary {
 public:
  // `address` is "a.b.c.d:port" (port 0: the kernel chooses). `timing.heartbeat` must be positive
  // and below `timing.dead_after`. With `keys`, only a standby holding the secret of `keys->peer`
  // is served, over a sealed stream; without, in clear text. Null, with `why` set, on a bad address
  // or timing or a socket error.
  static std::unique_ptr<LinkPrimary> listen(const std::string& address, LinkTiming timing,
                                             std::uint64_t epoch, std::string& why,
                                             std::optional<LinkKeys> keys = std::nullopt);
  ~LinkPrimary();
  LinkPrimary(const LinkPrimary&) = delete;
  LinkPrimary& operator=(const LinkPrimary&) = delete;

  std::uint16_t port() const { return port_; }
  // A DR follower's link: every heartbeat interval a Head frame tells the follower the newest
  // seq logged here and when (a hot standby's link sends none: older standbys refuse the type).
  void set_announce_head(bool on) { announce_head_ = on; }
  // The newest seq logged here, for the Head frames (records may wait for an image meanwhile).
  void set_head(std::uint64_t seq) { head_ = seq; }
  // Tells the standby, now (a Head frame), that the log goes up to `head`, beyond what it has:
  // it then waits LinkTiming::catch_up_wait, not dead_after, for the image or records that catch
  // it up. Called when an image is decided on, before this thread goes quiet to capture it.
  // Nothing without an answered standby.
  void announce_catch_up(std::uint64_t head);
  // The primary's epoch changed (it won the next one routing alone): welcomes and heartbeats carry
  // the new one; a connected standby hears it with the next flush.
  void set_epoch(std::uint64_t epoch);

  // Once per cycle, `now` from a steady clock: accepts connections, reads the standby's frames
  // (hello, acks, heartbeats, hash reports), sends a heartbeat when nothing was sent for
  // `heartbeat`, and closes a standby unheard for `dead_after` (peer() becomes Dead).
  void poll(LinkClock::time_point now);

  // None: no standby yet. CatchingUp: connected, its hello not answered or the backlog sent in
  // answer to it not yet acknowledged. Synchronous: it has acknowledged its catch-up backlog; from
  // now on acked_seq() follows the live log. Dead: the last standby died or closed, none since.
  enum class PeerState { None, CatchingUp, Synchronous, Dead };
  PeerState peer() const { return state_; }
  // Why the last standby was dropped (peer_dead: unheard for dead_after; bad_sequence, ...).
  LinkCounter last_drop() const { return last_drop_; }

  // The sequence number the standby has applied, once per connection. The caller answers, before
  // its next flush(), with the records after it (append) if it still has them, or with a snapshot
  // (send_snapshot) and the records after that. Until then append() refuses records.
  std::optional<std::uint64_t> take_hello();

  // A snapshot of the state at `seq`, cut into chunks; the records that follow start at seq + 1.
  // False (nothing sent, counted) before take_hello() or when larger than kMaxSnapshotBytes.
  bool send_snapshot(std::uint64_t seq, std::span<const std::uint8_t> image);
  // Buffers one record (added to the Records frame being built). False (counted) when no standby
  // has been answered, when `seq` is not the previous one + 1, or when the payload is larger than
  // kMaxRecordPayload: the caller keeps its log, and a standby asks for what it lacks on hello.
  bool append(std::uint64_t seq, std::span<const std::uint8_t> payload);
  // Asks the standby to compare its state hash at `seq` (the last record appended) with ours.
  bool send_hash(std::uint64_t seq, std::uint64_t state_hash);
  // One send() of everything buffered; what the socket does not take is kept for the next flush.
  // Call once per cycle after the appends. No syscall when nothing is buffered.
  void flush();

  // The highest seq the current standby has applied (its hello, then its acks); 0 before any.
  std::uint64_t acked_seq() const { return acked_; }
  // True while a standby is served and records appended to it are not all acknowledged: an idle
  // caller then has nothing to do until the standby's socket is readable, and may sleep on it at
  // once instead of polling (the acknowledgement wakes it).
  bool awaiting_ack() const { return standby_ != nullptr && last_seq_ > acked_; }
  // A sequence number where the standby's state hash differed from ours, each reported once.
  std::optional<std::uint64_t> hash_mismatch_seq();

  // The audit stream. Once per connection whose standby keeps an audit log: the highest primary
  // audit seq it holds; the caller ships its own records after it (append_audit). Until then, and
  // with a standby that never says, append_audit refuses.
  // Also after the standby's AuditFrom asks again (a gap): audit_resume_hash() is the hash it
  // said it holds at that seq (zeros: none, or a standby that only sent AuditAck).
  std::optional<std::uint64_t> take_audit_resume();
  const std::array<std::uint8_t, 32>& audit_resume_hash() const { return audit_resume_hash_; }
  // Tells the standby where the records that follow start: after our record `after`, of hash
  // `prev` (the answer to a resume). False (counted append_refused) when the stream is not open.
  bool restart_audit(std::uint64_t after, const std::array<std::uint8_t, 32>& prev);
  // Buffers one audit record (its JSON line) in the AuditRecords frame being built. False
  // (counted append_refused) before take_audit_resume() on this connection, when `seq` is not
  // above the last one appended, or `line` is empty or larger than kMaxRecordPayload.
  bool append_audit(std::uint64_t seq, std::span<const std::uint8_t> line);
  // True when the audit stream is resumed on this connection and fewer than
  // kAuditMaxUnsentBytes wait unsent: append now, or keep the record for a later cycle.
  bool audit_room() const;
  bool audit_open() const { return standby_ != nullptr && audit_open_; }
  // The last audit seq appended on this connection (the resume point before any), and the
  // highest the standby acknowledged holding.
  std::uint64_t audit_sent() const { return audit_sent_; }
  std::uint64_t audit_acked() const { return audit_acked_; }

  // The history fetch (history_fetch.hpp): the standby's latest request on this connection, if
  // one came since the last call (copied into `out`).
  bool take_history_request(std::vector<std::uint8_t>& out);
  // Room for an answer: a standby is served and fewer than kAuditMaxUnsentBytes wait unsent (the
  // log goes first).
  bool history_room() const;
  // Buffers one answer (HistoryRows). False without a standby, or an empty or oversized body.
  bool send_history(std::span<const std::uint8_t> answer);

  const LinkCounters& counters() const { return counters_; }
  // The standby's socket (-1: none yet), for an idle caller to sleep on until it is readable (an
  // acknowledgement arrives). Owned by the link; valid until the next poll.
  int standby_socket() const;
  // Time from the flush that carried a record (as of the poll before it) to the poll that read the
  // acknowledgement covering it.
  const LatencyHistogram& ack_latency() const { return ack_latency_; }

 private:
  LinkPrimary(int listen_fd, std::uint16_t port, LinkTiming timing, std::uint64_t epoch,
              std::optional<LinkKeys> keys);
  void accept_new(LinkClock::time_point now);
  void read_candidates(LinkClock::time_point now);
  void promote(std::size_t candidate, std::uint64_t applied, LinkClock::time_point now);
  void read_standby(LinkClock::time_point now);
  bool handle_frame(std::uint8_t type, std::span<const std::uint8_t> body,
                    LinkClock::time_point now);
  void drop_standby(LinkCounter reason);
  void put_frame(repl::FrameType type, std::span<const std::uint8_t> body);
  void check_synchronous();
  void reset_audit();

  static constexpr std::size_t kMaxCandidates = 4;
  static constexpr std::size_t kFlushMarks = 256;
  struct Candidate;
  struct FlushMark {
    std::uint64_t seq = 0;
    LinkClock::time_point at{};
  };
  struct PendingHash {
    std::uint64_t seq = 0;
    std::uint64_t hash = 0;
  };

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  LinkTiming timing_;
  std::uint64_t epoch_ = 0;
  std::optional<LinkKeys> keys_;
  std::unique_ptr<repl_detail::Connection> standby_;
  std::array<std::unique_ptr<Candidate>, kMaxCandidates> candidates_;
  PeerState state_ = PeerState::None;
  LinkCounter last_drop_ = LinkCounter::kCount;  // none yet
  bool hello_pending_ = false;  // a hello not yet taken
  bool answered_ = false;       // take_hello() done on this connection
  std::optional<std::uint64_t> catch_up_target_;
  bool target_due_ = false;  // set the catch-up target at the next flush
  std::uint64_t hello_seq_ = 0;
  std::uint64_t last_seq_ = 0;  // the last seq buffered for the standby
  std::uint64_t acked_ = 0;
  std::size_t records_frame_ = SIZE_MAX;  // offset of the open Records frame in the send buffer
  std::uint64_t records_frame_seq_ = 0;
  LinkClock::time_point now_{};
  // accept4 allocates a socket even when nobody is connecting: tried once a millisecond, not on
  // every poll cycle of the routing loop.
  LinkClock::time_point next_accept_{};
  std::array<FlushMark, kFlushMarks> marks_{};
  std::size_t marks_head_ = 0;
  std::size_t marks_count_ = 0;
  std::array<PendingHash, 64> hashes_{};
  std::size_t hashes_head_ = 0;
  std::size_t hashes_count_ = 0;
  std::optional<std::uint64_t> mismatch_;
  // The audit stream of the current connection.
  bool audit_heard_ = false;    // its first AuditAck arrived
  bool audit_pending_ = false;  // ... and was not taken yet
  bool audit_open_ = false;     // take_audit_resume() done
  std::uint64_t audit_sent_ = 0;
  std::uint64_t audit_acked_ = 0;
  std::array<std::uint8_t, 32> audit_resume_hash_{};
  std::size_t audit_frame_ = SIZE_MAX;  // offset of the open AuditRecords frame
  std::vector<std::uint8_t> history_request_;  // the standby's last history request, not taken
  bool history_request_due_ = false;
  bool ever_connected_ = false;
  bool announce_head_ = false;
  std::uint64_t head_ = 0;
  LinkClock::time_point last_head_{};
  LinkCounters counters_;
  LatencyHistogram ack_latency_;
};

// Standby side. Connects to the primary, retrying every `heartbeat` while not connected, says
// hello with the seq it has applied, delivers what arrives, acknowledges once per poll that applied
// something, and sends heartbeats when idle.
class LinkStandby {
 public:
  // With `keys`, only a primary holding the secret of `keys->peer` is followed, over a sealed
  // stream; without, in clear text. Null, with `why` set, on a bad address or timing. Connecting
  // happens in poll().
  static std::unique_ptr<LinkStandby> create(const std::string& primary_address, LinkTiming timing,
                                             std::string& why,
                                             std::optional<LinkKeys> keys = std::nullopt);
  ~LinkStandby();
  LinkStandby(const LinkStandby&) = delete;
  LinkStandby& operator=(const LinkStandby&) = delete;

  // Once per cycle. Reads what arrived and calls, in stream order:
  //   on_snapshot(std::uint64_t seq, std::span<const std::uint8_t> image) once a whole snapshot
  //     has arrived (the state to install; records continue at seq + 1);
  //   on_record(std::uint64_t seq, std::span<const std::uint8_t> payload) per record, seq always
  //     applied_seq() + 1;
  //   on_hash(std::uint64_t seq, std::uint64_t primary_hash) -> std::uint64_t: our state hash at
  //     seq (the link reports it to the primary).
  // The spans are valid during the call only. A record or snapshot counts as applied when its
  // callback returns. Then one send: the ack, hash reports, a heartbeat if idle.
  template <class OnSnapshot, class OnRecord, class OnHash>
  void poll(LinkClock::time_point now, OnSnapshot&& on_snapshot, OnRecord&& on_record,
            OnHash&& on_hash);

  // The seq whose effects the local state already holds (e.g. restored from a journal); sent in
  // the next hello. Records then continue at seq + 1.
  void set_applied(std::uint64_t seq) { applied_ = seq; }
  std::uint64_t applied_seq() const { return applied_; }
  // Acknowledgements never go beyond `seq` (the standby's journal's durable_seq), so that a
  // record the primary's client heard of is on the standby's disk too, not only in its memory.
  // Unset: records are acknowledged as applied.
  void set_durable_through(std::uint64_t seq) { durable_ = seq; }
  std::uint64_t acked_seq() const { return acked_sent_; }
  // Where the primary's audit records go (null: nowhere, and the primary is never asked for
  // them). Set before the first poll; the sink outlives the link.
  void set_audit_sink(AuditStreamSink* sink) { audit_sink_ = sink; }
  // Where the history thread's requests for the primary's records come from and their answers go
  // (history_fetch.hpp; null: none). Set before the first poll; the channel outlives the link.
  void set_history_fetch(HistoryFetchChannel* channel) { history_fetch_ = channel; }
  // Connected, welcomed by the primary, and heard from within dead_after.
  bool primary_alive() const;
  // From the primary's welcome and heartbeats; 0 before the first.
  std::uint64_t primary_epoch() const { return epoch_; }
  // From the last Head frame (a DR follower's link, or a catch-up announced; 0, 0 before any): the
  // primary's newest seq and its wall clock (ns since 1970) when it said so. Kept after the
  // connection ends.
  std::uint64_t primary_head_seq() const { return head_seq_; }
  std::uint64_t primary_head_wall_ns() const { return head_wall_ns_; }
  const LinkCounters& counters() const { return counters_; }
  // The connection's socket (-1: none), for an idle caller to sleep on until it is readable (a
  // record or heartbeat arrives). Owned by the link; valid until the next poll.
  int socket_fd() const;

 private:
  LinkStandby(std::uint32_t address, std::uint16_t port, LinkTiming timing,
              std::optional<LinkKeys> keys);
  enum class EventKind { None, Snapshot, Record, HashCheck };
  struct Event {
    EventKind kind = EventKind::None;
    std::uint64_t seq = 0;
    std::uint64_t value = 0;
    std::span<const std::uint8_t> bytes;
  };
  bool begin_poll(LinkClock::time_point now);  // true when connected
  bool receive();                              // true when new bytes arrived
  bool next_event(Event& e);
  void answer_hash(std::uint64_t seq, std::uint64_t theirs, std::uint64_t ours);
  void end_poll(LinkClock::time_point now);
  void disconnect(LinkCounter reason, LinkClock::time_point now);
  bool protocol_error(LinkCounter reason);
  void put_frame(repl::FrameType type, std::span<const std::uint8_t> body);
  void send_audit_from(const AuditPosition& position);

  std::uint32_t address_ = 0;  // network byte order
  std::uint16_t port_ = 0;     // network byte order
  LinkTiming timing_;
  std::optional<LinkKeys> keys_;
  std::unique_ptr<repl_detail::Connection> conn_;
  bool connecting_ = false;
  LinkClock::time_point connect_started_{};
  LinkClock::time_point next_attempt_{};
  bool welcomed_ = false;
  std::uint64_t epoch_ = 0;
  std::uint64_t head_seq_ = 0;
  std::uint64_t head_wall_ns_ = 0;
  // This connection: a Head other than applied_ came before any image or records (the primary is
  // preparing what catches us up: silence is allowed for catch_up_wait), and whether any came.
  bool awaiting_catch_up_ = false;
  bool caught_up_data_ = false;
  std::uint64_t applied_ = 0;
  std::uint64_t durable_ = ~std::uint64_t{0};
  std::uint64_t acked_sent_ = 0;
  bool ack_due_ = false;
  // The Records frame being delivered: [record_pos_, record_end_) of the receive buffer.
  std::size_t record_pos_ = 0;
  std::size_t record_end_ = 0;
  bool in_snapshot_ = false;
  std::uint64_t snapshot_seq_ = 0;
  std::uint64_t snapshot_total_ = 0;
  std::vector<std::uint8_t> snapshot_;
  AuditStreamSink* audit_sink_ = nullptr;
  HistoryFetchChannel* history_fetch_ = nullptr;
  std::unique_ptr<HistoryFetch> history_asked_;  // the request taken, not answered yet
  bool history_sent_ = false;                    // ... and sent on this connection
  std::uint64_t audit_last_ = 0;       // the last audit seq delivered, or told, on this connection
  std::uint64_t audit_acked_sent_ = 0;
  bool audit_from_due_ = false;  // this connection's AuditFrom is not sent yet
  bool audit_resent_ = false;    // a resend asked, its AuditRestart not yet here
  bool ever_connected_ = false;
  LinkClock::time_point now_{};
  LinkCounters counters_;
};

template <class OnSnapshot, class OnRecord, class OnHash>
void LinkStandby::poll(LinkClock::time_point now, OnSnapshot&& on_snapshot, OnRecord&& on_record,
                       OnHash&& on_hash) {
  if (begin_poll(now)) {
    // A few reads per poll, so a large backlog does not starve the caller's other work.
    for (int round = 0; round < 8 && receive(); ++round) {
      Event e;
      while (next_event(e)) {
        switch (e.kind) {
          case EventKind::Snapshot:
            on_snapshot(e.seq, e.bytes);
            applied_ = e.seq;
            ack_due_ = true;
            counters_.bump(LinkCounter::snapshots);
            break;
          case EventKind::Record:
            on_record(e.seq, e.bytes);
            applied_ = e.seq;
            ack_due_ = true;
            counters_.bump(LinkCounter::records_applied);
            break;
          case EventKind::HashCheck:
            answer_hash(e.seq, e.value, on_hash(e.seq, e.value));
            break;
          case EventKind::None:
            break;
        }
      }
    }
  }
  end_poll(now);
}

}  // namespace acd::dataplane
