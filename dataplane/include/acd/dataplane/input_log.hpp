// The sequenced input log's records: what the local journal keeps, what the hot standby applies,
// and what a later DR follower or history feed will read. One record per sequence number.
//
// A record says everything a second IoStage + Engine needs to reach the same state as the one that
// stamped it: an engine input with the client that asked (by client ID, never by a node-local
// slot), a client's registration (which resets its reply window), or a configuration change.
// Encoding: little-endian, field by field (no struct padding on disk or on the wire), version byte
// first, so a node refuses a record it does not understand instead of misreading it.
//
// Thread-safety: pure functions and plain data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "acd/dataplane/export_position.hpp"
#include "acd/dataplane/port.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/dataplane/wire.hpp"
#include "acd/router/event.hpp"

namespace acd::dataplane {

// 2: a Register record carries the client's role.
inline constexpr std::uint8_t kLogRecordVersion = 2;
// Client IDs in a record: 0 = no client (a tick); an operator command's.
inline constexpr std::uint32_t kNoClientId = 0;
inline constexpr std::uint32_t kControlClientId = 0xFFFF'FFFFu;

enum class RecordKind : std::uint8_t {
  Input = 1,         // an engine input (request, agent event, sign-in result, operator event, tick)
  Register = 2,      // a client registered (new, restarted with a new nonce, or moved address)
  ConfigChange = 3,  // a reload applied on the routing core, with the configuration it applied
  Operation = 4,     // a desktop reported a high-risk customer operation (the audit trail's)
  TokenRevoke = 5,   // an agent's session tokens revoked (its token generation moves on)
  // An agent's stored credential changed on the primary: a desktop's PasswordChange (the new
  // argon2id hash) or an enrolment code spent by a sign-in (the code's hash). Hashes only, never a
  // password: the journal then holds hashes, as the credential file does.
  CredentialChange = 6,
  // Where the primary's history export stood (export_position.hpp): every history record below
  // the position was delivered. Changes nothing in the IO stage or the engine; a node's history
  // thread reads it from the journal, and a standby's export resumes from it after a takeover.
  ExportPosition = 7,
  // A piece of a reload's configuration too large for one record: the pieces, in order at
  // consecutive seqs, then the ConfigChange that carries the last piece and applies the whole.
  ConfigChunk = 12,
};

struct LogRecord {
  RecordKind kind = RecordKind::Input;
  std::uint32_t client_id = kNoClientId;
  // Input
  std::uint64_t request_seq = 0;
  wire::Type request_type = wire::Type::Heartbeat;
  router::Event event;
  // Register
  std::uint64_t nonce = 0;
  Endpoint endpoint;
  wire::Role role = wire::Role::None;  // what the client may send (roles.hpp)
  // ConfigChange (its time in event.time): the configuration, opaque (ConfigTag::log_payload);
  // empty in records written before the log carried it (a follower cannot apply those). Decoding
  // points into the record's bytes.
  std::span<const std::uint8_t> config;
  // ConfigChunk (client kControlClientId): config is the piece at config_offset of a
  // configuration of config_total bytes. ConfigChange: 0 when config is the whole configuration,
  // else the total of which config is the last piece (ConfigChunk records at the seqs right before
  // carry the rest).
  std::uint32_t config_total = 0;
  std::uint32_t config_offset = 0;
  // Operation (and request_seq): the report as the desktop sent it, the agent its desktop had
  // signed in (0: none, a supervisor's desk) and the wall-clock time the primary received it, so
  // that every node's audit trail says the same.
  wire::OperationReport operation{};
  router::AgentNumber agent_number = 0;
  std::int64_t wall_ms = 0;
  // TokenRevoke: agent_number (and wall_ms) above; the client is the operator's (kControlClientId).
  // CredentialChange: agent_number, wall_ms, request_seq (a PasswordChange's, answered Ack when
  // applied; 0 for a spent enrolment code), what changed and the argon2id hash string (at most
  // kCredentialHashBytes - 1 bytes; decoding points into the record's bytes), and the digest of
  // the hash a password change replaced (a record written before carries none: all zero).
  CredentialChangeKind credential = CredentialChangeKind::Password;
  std::string_view credential_hash;
  CredentialDigest credential_replaces{};
  // ExportPosition: the position (seq >= 1; client kNoClientId).
  ExportPosition export_position{};
};

// Bytes of the largest record (an Input with every skill) other than a ConfigChange, which takes
// kMaxLogRecord + its configuration's bytes.
inline constexpr std::size_t kMaxLogRecord = 192;  // a CredentialChange takes 178
// The largest piece of a configuration one ConfigChange or ConfigChunk record carries (the
// replication link carries records up to 1 MiB, the journal's ring 8 MiB); a larger configuration
// is split into pieces of this size (split_reload).
inline constexpr std::size_t kMaxConfigPayload = 512u << 10;
// The largest configuration a reload carries in all its pieces (a million agents with 5 skills
// each take about 38 MB); a reload whose configuration is larger is refused. A node image carries
// it too, and the link carries images up to 256 MiB.
inline constexpr std::size_t kMaxReloadBytes = 128u << 20;

// Writes `r` into `out` (at least kMaxLogRecord bytes, plus r.config's for a ConfigChange);
// returns the bytes used.
std::size_t encode_record(const LogRecord& r, std::span<std::uint8_t> out);
// Reads a record; false (and `r` unspecified) if it is malformed or of an unknown version.
bool decode_record(std::span<const std::uint8_t> bytes, LogRecord& r);

// How many records (ConfigChunk ones, then the ConfigChange) a reload's configuration of `bytes`
// takes: 1 up to kMaxConfigPayload.
inline std::size_t reload_records(std::size_t bytes) {
  return bytes <= kMaxConfigPayload ? 1 : (bytes + kMaxConfigPayload - 1) / kMaxConfigPayload;
}

// A follower's side of a chunked configuration (the IO stage's replay, the history feed): keeps
// the ConfigChunk pieces as they come and hands the whole configuration over at its ConfigChange.
// A piece that does not continue the one before (a gap, another total, a seq not the next) drops
// what was kept. One thread.
class ConfigAssembler {
 public:
  // A ConfigChunk record at `seq`; false (and everything kept dropped) if it continues nothing.
  bool chunk(std::uint64_t seq, const LogRecord& r);
  // A ConfigChange record at `seq`: its whole configuration (the record's own, or the kept pieces
  // and its last one), valid until the next call; empty if pieces are missing (a follower cannot
  // apply it).
  std::span<const std::uint8_t> complete(std::uint64_t seq, const LogRecord& r);
  // Bytes kept (a reload under way).
  std::size_t kept() const { return pieces_.size(); }
  // Frees what complete() returned, once it has been used.
  void release() {
    pieces_ = {};
    total_ = 0;
  }

 private:
  std::vector<std::uint8_t> pieces_;
  std::uint32_t total_ = 0;
  std::uint64_t last_seq_ = 0;
};

// A whole node image at one sequence number: the engine's snapshot and the IO stage's session
// (clients and their roles, reply cache, call owners, the agents calls are at, desktops). What the journal stores as a snapshot and what a
// standby that joins late receives first.
struct NodeImage {
  std::uint64_t seq = 0;  // every record <= seq is in it
  std::vector<std::uint8_t> engine;
  std::vector<std::uint8_t> session;
  // The configuration the engine ran under, as the last reload's ConfigChange carried it
  // (ConfigTag::log_payload); empty: the node's starting configuration.
  std::vector<std::uint8_t> config;
  // The history deriver's state after `seq` (history_state.hpp), when the node's history thread
  // gave it in time; empty otherwise. An image carrying it is written as version 4, one without it
  // as version 3 (so a node of the version before reads it).
  std::vector<std::uint8_t> history;
};
std::vector<std::uint8_t> encode_image(const NodeImage& image);
bool decode_image(std::span<const std::uint8_t> bytes, NodeImage& image);

// Little-endian byte writer and reader for the formats above (and the session image).
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
  }
  std::vector<std::uint8_t>& out_;
};

// Reads until the bytes run out; then every read returns 0 and ok() is false for good.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(get(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  std::span<const std::uint8_t> bytes(std::size_t n) {
    if (!ok_ || in_.size() - at_ < n) {
      ok_ = false;
      return {};
    }
    const auto b = in_.subspan(at_, n);
    at_ += n;
    return b;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return at_ == in_.size(); }

 private:
  std::uint64_t get(int n) {
    if (!ok_ || in_.size() - at_ < static_cast<std::size_t>(n)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v |= static_cast<std::uint64_t>(in_[at_ + static_cast<std::size_t>(i)]) << (8 * i);
    }
    at_ += static_cast<std::size_t>(n);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

// Where the sequenced log goes (the journal, the standby) and what holds replies back until it is
// safe: IoStage calls it on its own thread only.
class LogShipper {
 public:
  virtual ~LogShipper() = default;
  // Room for one more record now? IoStage asks before it stamps an input, so that a full journal
  // ring or link buffer refuses the request (Overloaded) instead of leaving a gap in the log.
  virtual bool has_room() const = 0;
  // One record, in sequence order (seq = previous + 1).
  virtual void append(std::uint64_t seq, std::span<const std::uint8_t> record) = 0;
  // Once per poll cycle: push the cycle's records out, read acknowledgements.
  virtual void poll() = 0;
  // The highest sequence number whose replies may leave: acknowledged by the standby and/or
  // durable in the journal, as configured. Replies caused by later records wait.
  virtual std::uint64_t released_through() const = 0;
  // Asked once per poll cycle: does the shipper need a node image (a journal snapshot is due, a
  // standby joins)? The stage then captures one and hands it over with on_image.
  virtual bool wants_image() { return false; }
  virtual void on_image(NodeImage /*image*/) {}
  // The engine's state hash right after record `seq` (IoStage::want_hash), for the standby to
  // compare with its own.
  virtual void on_hash(std::uint64_t /*seq*/, std::uint64_t /*hash*/) {}
};

}  // namespace acd::dataplane
