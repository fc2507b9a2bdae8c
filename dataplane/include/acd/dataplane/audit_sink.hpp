// What the IO stage tells the audit trail about agents [GB/T 32315 4.1.2 b]: a sign-in accepted
// or refused by the verifier, a sign-out or a forced logout asked by a desktop. The control plane
// provides the sink (control/audit_log.hpp); the dataplane only reports.
//
// Thread: on_agent_event() is called on the IO thread, which in run-to-completion mode is the
// routing core's thread. An implementation must not block, allocate, throw or do I/O: it copies
// the event into a bounded queue and returns (dropping and counting when the queue is full).
// The event holds no password and no hash: the stage never passes one.
//
// on_client_event() reports what happened to an ACDP client [GB/T 32315 4.1.2 c]: a registration
// that changed (a new client, nonce, address or role), a handshake refused after its mac1 passed
// (bad_handshake, unknown_client, wrong_network, replayed_handshake: called on the handshake
// worker's thread), a message refused by the role check (IO thread). The same rules as
// on_agent_event: no blocking, no allocation. Forged traffic can make these at a high rate: the
// sink bounds what it writes and counts the rest.
//
// on_operation() reports a high-risk customer operation a desktop declared (an OperationReport).
// Unlike the agent events it is derived from the sequenced log, so a hot standby that applies the
// log reports the same operation, with the same time and log sequence number, to its own sink.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "acd/dataplane/wire.hpp"
#include "acd/router/types.hpp"

namespace acd::dataplane {

struct AgentAuditEvent {
  enum class What : std::uint8_t {
    SignIn,         // the password was right; the sign-in goes to the engine
    SignInRefused,  // wrong password, no such agent, no verifier, or the agent is locked out
    SignOut,        // the desktop asked to sign its agent out
    ForceLogout,    // a desktop (a supervisor's) asked to log an agent out
  };
  What what = What::SignIn;
  router::AgentNumber agent = 0;  // the agent's ID (0 when the message named no known agent)
  std::uint32_t client_id = 0;    // the desktop's ACDP client ID
  std::uint64_t device = 0;
};

struct ClientAuditEvent {
  enum class What : std::uint8_t {
    Registered,        // a Register that changed the client's registration
    HandshakeRefused,  // an ACDP/2 handshake init refused after its mac1 passed
    MessageRefused,    // a message the client's role or standing may not send
  };
  What what = What::Registered;
  std::uint32_t client_id = 0;         // the client's logical ID (0: the handshake named no client)
  std::uint32_t address = 0;           // the source's IPv4 address, network byte order
  std::uint16_t port = 0;              // the source's UDP port, host byte order
  wire::Role role = wire::Role::None;  // Registered: the role it registered with
  std::uint8_t message_type = 0;       // MessageRefused: the message's wire::Type
  // HandshakeRefused: the drop reason's label ("unknown_client"); MessageRefused: the refusal's
  // ("not_your_agent"). Static storage; empty for Registered.
  std::string_view reason;
  std::uint64_t seq = 0;  // MessageRefused: the message's seq
};

struct OperationAuditEvent {
  wire::OperationReport report{};  // kind, outcome, the salted customer hash, the desktop's ticket
  router::AgentNumber agent = 0;   // the agent the desktop had signed in (0: none)
  std::uint32_t client_id = 0;     // the desktop's ACDP client ID
  std::uint64_t log_seq = 0;       // its record in the sequenced log (0: no log)
  std::int64_t wall_ms = 0;        // Unix time in ms when the primary received it
};

class AgentAuditSink {
 public:
  virtual ~AgentAuditSink() = default;
  virtual void on_agent_event(const AgentAuditEvent& event) noexcept = 0;
  virtual void on_operation(const OperationAuditEvent& /*event*/) noexcept {}
  virtual void on_client_event(const ClientAuditEvent& /*event*/) noexcept {}
};

// Where a hot standby's replication link delivers the primary's audit records (the link's
// AuditRecords frames, dataplane/DESIGN.md "Replication link"): each one the primary's whole
// record, a JSON line with its `seq` and `hash`. The control plane's audit log appends them to
// its own chain (control/audit_log.hpp).
//
// Thread: both methods are called on the IO thread (the standby's loop): they must not block,
// allocate or do I/O. on_audit_line copies the line into a bounded queue, or drops and counts it
// when the queue is full (the sink records the loss in its own log). audit_held() is the highest
// primary record seq the sink holds on disk: the link tells it to the primary when it connects
// (the primary ships what follows) and acknowledges up to it afterwards.
//
// The primary's chain is checked by the sink, not the link: each line must follow the one before
// (seq one more, prev its hash). Where the primary restarts its stream (the answer to the
// standby's AuditFrom) the link says so with on_audit_restart: the lines that follow come after
// the primary's record `after`, whose hash is `prev`. A sink that finds a gap or a broken chain
// asks for the records again with take_audit_resend (the link sends AuditFrom at its next poll).
struct AuditPosition {
  std::uint64_t seq = 0;                // the primary's record held last (0: none)
  std::array<std::uint8_t, 32> hash{};  // its hash (zeros with seq 0, or unknown)
};

class AuditStreamSink {
 public:
  virtual ~AuditStreamSink() = default;
  virtual void on_audit_line(std::uint64_t primary_seq,
                             std::span<const std::uint8_t> line) noexcept = 0;
  virtual std::uint64_t audit_held() const noexcept = 0;
  // The primary's record held last, with its hash: what a connection's AuditFrom says. Nullopt
  // while a restart still waits to be taken (the link asks again at its next poll).
  virtual std::optional<AuditPosition> audit_position() const noexcept {
    return AuditPosition{audit_held(), {}};
  }
  virtual void on_audit_restart(std::uint64_t /*after*/,
                                const std::array<std::uint8_t, 32>& /*prev*/) noexcept {}
  // Once per request: the sink wants the primary's records after this position again.
  virtual std::optional<AuditPosition> take_audit_resend() noexcept { return std::nullopt; }
};

}  // namespace acd::dataplane
