// ACDP/1 on the wire: the exact layouts of docs/protocol.md. Every struct here is the byte image of
// the field list in that document (little-endian, no implicit padding; checked below), so the codec
// moves them with memcpy and validates field by field.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace acd::dataplane::wire {

static_assert(std::endian::native == std::endian::little, "ACDP is little-endian; so is the host");

inline constexpr std::uint32_t kMagic = 0x50444341;  // "ACDP"
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kMaxDatagram = 9000;
inline constexpr std::size_t kMaxSendDatagram = 1472;
inline constexpr std::uint8_t kMaxMessages = 64;
inline constexpr std::size_t kPasswordBytes = 64;

enum class Type : std::uint16_t {
  Register = 1,
  Heartbeat = 2,
  RouteRequest = 3,
  RouteResponse = 4,
  Offer = 5,
  OfferResult = 6,
  CallEvent = 7,
  AgentEvent = 8,
  TransferRequest = 9,
  OutboundRequest = 10,
  Ack = 11,
  Error = 12,
  OperationReport = 13,  // a desktop reports a high-risk customer operation, for the audit trail
  SessionToken = 14,     // acd -> desktop after a sign-in: the day's token (ACDP/2 only)
  PasswordChange = 15,   // desktop -> acd: its signed-in agent's new password (ACDP/2 only)
  SiteSummary = 16,      // peer site -> acd: availability of one of its queues
  SiteRouteRequest = 17,  // peer site -> acd: a call another site overflowed here
  RingNoAnswer = 18,      // switch -> acd: the agent's phone refused the call or rang out
};
inline constexpr std::uint16_t kMaxType = 18;

// Wire error codes; the engine's Status values (0..999) are used as they are.
enum class WireError : std::uint16_t {
  BadMagic = 1000,
  BadVersion = 1001,
  BadLength = 1002,
  BadType = 1003,
  BadField = 1004,
  NotRegistered = 1005,
  AuthFailed = 1006,
  Overloaded = 1007,
  SignInUnavailable = 1008,  // this node checks no passwords (no credential verifier)
  NotPrimary = 1009,         // this node is a standby: Error.detail names the primary
  // Refused by role (docs/protocol.md "Who may send what"); nothing of the message is applied.
  NotPermitted = 1010,  // the client's role may not send this message (or this kind of it)
  NotYourAgent = 1011,  // it names an agent other than the one this client signed in
  NotYourCall = 1012,   // the call is not this client's (routed by it, or at its agent)
  SignInFirst = 1013,   // an agent desktop acts only once it has signed its agent in
  // The password could not be checked: the directory is down and [signin.ldap] fallback refuses.
  DirectoryUnavailable = 1014,
  // A sign-in with a session token was refused (expired, revoked, forged, not an ACDP/2 desktop
  // session, or tokens are off): the desktop asks for the password and signs in with it.
  TokenRefused = 1015,
  // A PasswordChange's new password breaks the password policy (docs/security.md "Password
  // policy"); nothing changed.
  PasswordPolicy = 1016,
  // A PasswordChange was refused: the old password is wrong, a back-off is running, or the
  // message did not come over an ACDP/2 session of the desktop that signed the agent in.
  PasswordChangeRefused = 1017,
  // The password cannot be changed by this node: a directory (LDAP) owns it, no credential file
  // is in use, or the new one could not be stored. Nothing changed; an administrator sets it.
  PasswordChangeUnavailable = 1018,
  // Unasked (reply_to 0), to a desktop that had signed an agent in: the agent signed in with its
  // session token at another desktop and was moved there (docs/protocol.md "Desk move"). This
  // desktop no longer acts for it.
  AgentMoved = 1021,
  // A RingNoAnswer names an agent the call is not offered to now (acd's own ring timeout took it
  // back first, or it was answered, transferred or queued): nothing changed.
  NotRingingThere = 1027,
};

// What a client is, which decides what it may send. Today from its Register (ACDP/1); with
// ACDP/2 from its configured [[clients]] entry.
enum class Role : std::uint32_t {
  None = 0,  // not registered
  Switch = 1,
  Desktop = 2,
  Supervisor = 3,
  Site = 4,  // a peer site: its summaries and the calls it overflows here
};
inline constexpr std::uint32_t kMaxRole = 4;

struct DatagramHeader {
  std::uint32_t magic;
  std::uint8_t version;
  std::uint8_t count;
  std::uint16_t length;
  std::uint32_t client_id;
  // From acd: the epoch of the node that sent it (HA: every reply and decision carries it; a
  // single node sends its epoch too, 0 without etcd). From a client: 0.
  std::uint32_t epoch;
};

struct MessageHeader {
  Type type;
  std::uint16_t length;
  std::uint32_t reserved;
  std::uint64_t seq;
};

struct Register {
  std::uint32_t role;  // 1 switch, 2 agent desktop, 3 supervisor, 4 peer site
  std::uint32_t reserved;
  std::uint64_t nonce;
};

struct Heartbeat {
  std::uint64_t sent_ns;
  std::uint64_t reserved;
};

struct SkillNeed {
  std::uint16_t skill;
  std::uint8_t min_level;
  std::uint8_t reserved;
};

struct RouteRequest {
  std::uint64_t call_id;
  std::uint32_t queue;
  std::uint8_t media;
  std::uint8_t priority;
  std::uint8_t tier;
  std::uint8_t verification;
  std::uint16_t language;
  std::uint8_t skill_count;
  std::uint8_t reserved;
  SkillNeed skills[4];
  std::uint32_t reserved2;
};

enum class RouteResult : std::uint8_t { Agent = 1, Queued = 2, Overflow = 3, Rejected = 4 };

struct RouteResponse {
  std::uint64_t reply_to;
  std::uint64_t call_id;
  RouteResult result;
  std::uint8_t action;
  std::uint16_t status;
  std::uint32_t agent;
  std::uint64_t agent_number;
  std::uint32_t queue;
  std::uint32_t position;
  std::uint32_t ewt_ms;
  std::uint32_t target;
};

struct Offer {
  std::uint64_t call_id;
  std::uint32_t agent;
  std::uint32_t queue;
  std::uint64_t reserved;
};

struct OfferResult {
  std::uint64_t call_id;
  std::uint8_t accepted;
  std::uint8_t reserved[7];
};

enum class CallEventKind : std::uint8_t {
  Answered = 1,
  Held = 2,
  Retrieved = 3,
  Released = 4,
  Abandoned = 5
};

struct CallEvent {
  std::uint64_t call_id;
  CallEventKind kind;
  std::uint8_t reserved[7];
};

enum class AgentEventKind : std::uint8_t {
  SignIn = 1,
  SignOut = 2,
  Ready = 3,
  NotReady = 4,
  WrapUpDone = 5,
  ForceReady = 6,
  ForceLogout = 7,
};

// AgentEvent.flags of a sign-in: the password field holds a TokenProof, not a password.
inline constexpr std::uint8_t kSignInWithToken = 0x01;

struct AgentEvent {
  std::uint32_t agent;
  AgentEventKind kind;
  std::uint8_t flags;  // SignIn: kSignInWithToken or 0; other kinds: 0 (ignored)
  std::uint16_t reason;
  std::uint64_t agent_number;
  std::uint64_t device;
  char password[kPasswordBytes];
  std::uint64_t reserved2;
};

enum class TransferKind : std::uint8_t { ToQueue = 1, ToAgent = 2, ToAgentId = 3 };

struct TransferRequest {
  std::uint64_t call_id;
  TransferKind kind;
  std::uint8_t reserved[3];
  std::uint32_t target;
  std::uint64_t agent_number;
};

enum class OutboundKind : std::uint8_t { ByQueue = 1, ByAgentId = 2 };

struct OutboundRequest {
  std::uint64_t call_id;
  OutboundKind kind;
  std::uint8_t media;
  std::uint16_t reserved;
  std::uint32_t queue;
  std::uint64_t agent_number;
};

// A session token (session_token.hpp): what a desktop keeps and presents in place of the password
// (at the start of AgentEvent.password, the rest zeros, with kSignInWithToken).
inline constexpr std::size_t kTokenMacBytes = 32;
struct TokenProof {
  std::uint64_t expires;  // Unix seconds (UTC): the end of the day it was minted in
  std::uint32_t generation;
  std::uint32_t reserved;  // zero
  std::uint8_t mac[kTokenMacBytes];
};

// acd -> desktop, right after the Ack of an accepted sign-in over an ACDP/2 desktop session when
// tokens are on. Not cached: a retransmitted sign-in gets its cached Ack and a token minted again.
struct SessionToken {
  std::uint64_t reply_to;  // the sign-in's seq
  std::uint64_t agent_number;
  TokenProof proof;
};

// desktop -> acd, inside an ACDP/2 session only: the signed-in agent replaces its password (or the
// initial password or enrolment code it signed in with). Both passwords are NUL-padded; a
// password uses the whole field only when it is 64 bytes long. Answered Ack (changed, on both
// nodes of a pair) or Error PasswordPolicy / PasswordChangeRefused / PasswordChangeUnavailable.
struct PasswordChange {
  std::uint64_t agent_number;  // the agent this desktop signed in
  std::uint64_t reserved;      // zero
  char old_password[kPasswordBytes];
  char new_password[kPasswordBytes];
};

// Ack.flags of an accepted sign-in: the agent signed in with an initial password or an enrolment
// code and is to set a new password (acdctl agent passwd; docs/protocol.md).
inline constexpr std::uint16_t kAckMustChangePassword = 0x0001;

struct Ack {
  std::uint64_t reply_to;
  std::uint16_t status;
  std::uint16_t flags;  // an accepted sign-in's: kAckMustChangePassword or 0; otherwise 0
  // The Ack of an accepted sign-in: the agent's index, which the desktop names in its later
  // AgentEvents. Otherwise reserved (zero).
  std::uint32_t agent;
};

struct Error {
  std::uint64_t reply_to;
  std::uint16_t reason;
  // NotPrimary: the primary's IPv4 address and UDP port (4 + 2 bytes, network order, as Endpoint
  // holds them) if this node knows it, else zeros. Overloaded: bytes 0..3 a u32 (little-endian),
  // the milliseconds after which to send the request again, 0 for no hint (then back off as
  // docs/protocol.md says); bytes 4..5 zeros. Otherwise reserved (zeros).
  std::uint8_t detail[6];
};

// High-risk customer operations an agent's desktop reports for the audit trail [GB/T 32315
// 4.1.2 c]. 1..6 are named here; 100..65535 are the bank's own codes (its procedures name them);
// 0 and 7..99 are refused (BadField).
enum class OperationKind : std::uint16_t {
  ContactDetailsChange = 1,  // address, telephone or e-mail of record
  CredentialReset = 2,       // password, PIN or security question
  CardBlockChange = 3,       // a card blocked, unblocked or replaced
  LargeTransfer = 4,         // a transfer above the bank's threshold
  LimitChange = 5,           // a transaction or credit limit
  AccountClosure = 6,
};
inline constexpr std::uint16_t kMaxNamedOperation = 6;
inline constexpr std::uint16_t kFirstBankOperation = 100;
enum class OperationOutcome : std::uint8_t { Completed = 1, Refused = 2, Failed = 3, Cancelled = 4 };

struct OperationReport {
  std::uint16_t kind;  // OperationKind, or a bank code >= kFirstBankOperation
  OperationOutcome outcome;
  std::uint8_t reserved;
  std::uint32_t reserved2;
  // The customer's reference (account, card or customer number) hashed by the desktop with the
  // bank's salt: records about one customer can be tied together, and no record holds the
  // reference itself.
  std::uint8_t customer_hash[32];
  std::uint64_t ticket;  // the desktop's own ID for the operation (its work ticket); 0: none
};

// peer site -> acd, a few times a second per queue (docs/protocol.md "Sites"). Logged as an
// engine input; the engine keeps the latest per (site, queue). Answered Ack like any input.
inline constexpr std::uint8_t kSiteAcceptsOverflow = 0x01;
struct SiteSummary {
  std::uint8_t site;  // the sender's site number, 0..63
  std::uint8_t flags;  // kSiteAcceptsOverflow: the sender takes overflow for this queue now
  std::uint16_t sl_permille;  // today's service level, 0..1000
  std::uint32_t queue_key;    // FNV-1a (32 bits) of the queue's name
  std::uint64_t summary_seq;  // not 0; a newer summary has a larger one
  std::uint32_t ready_agents;
  std::uint32_t ewt_ms;  // for a call arriving now; 0xFFFFFFFF unknown (nobody staffs it)
  std::uint16_t load_permille;  // share of the queue's signed-in agents busy, 0..1000
  std::uint16_t reserved;
  std::uint32_t reserved2;
};

// peer site -> acd: a RouteRequest for a call another site overflowed here, with the sites it has
// passed through. Answered RouteResponse like a RouteRequest; the sender owns the call.
inline constexpr std::uint8_t kMaxSiteHops = 64;
struct SiteRouteRequest {
  RouteRequest request;
  std::uint8_t hops;  // sites the call passed through, 1..64
  std::uint8_t reserved[7];
  std::uint64_t visited;  // their site numbers, bit n = site n
};

// switch -> acd: the phone of the agent a RouteResponse named did not take the call (busy,
// rejected, unreachable, or the switch's own ring timer). Handled as ring-no-answer: the call goes
// back to its place (or to another agent at once) and the agent to not ready "no answer". Only
// the client that routed the call may send it; answered Ack, or Error NotRingingThere when the
// call is not offered to that agent any more.
enum class NoAnswerCause : std::uint16_t {
  NoAnswer = 1,     // rang until the switch's timer ran out
  Busy = 2,         // the phone was busy
  Rejected = 3,     // the agent (or the phone) declined it
  Unreachable = 4,  // no phone registered, or it could not be reached
};
inline constexpr std::uint16_t kMaxNoAnswerCause = 4;

struct RingNoAnswer {
  std::uint64_t call_id;
  std::uint32_t agent;  // the agent index of the RouteResponse that offered the call
  NoAnswerCause cause;
  std::uint16_t reserved;
};

static_assert(sizeof(DatagramHeader) == 16);
static_assert(sizeof(MessageHeader) == 16);
static_assert(sizeof(Register) == 16);
static_assert(sizeof(Heartbeat) == 16);
static_assert(sizeof(RouteRequest) == 40);
static_assert(sizeof(RouteResponse) == 48);
static_assert(sizeof(Offer) == 24);
static_assert(sizeof(OfferResult) == 16);
static_assert(sizeof(CallEvent) == 16);
static_assert(sizeof(AgentEvent) == 96);
static_assert(sizeof(TransferRequest) == 24);
static_assert(sizeof(OutboundRequest) == 24);
static_assert(sizeof(Ack) == 16);
static_assert(sizeof(Error) == 16);
static_assert(sizeof(OperationReport) == 48);
static_assert(sizeof(TokenProof) == 48);
static_assert(sizeof(TokenProof) <= kPasswordBytes);
static_assert(sizeof(SessionToken) == 64);
static_assert(sizeof(PasswordChange) == 144);
static_assert(sizeof(SiteSummary) == 32);
static_assert(sizeof(SiteRouteRequest) == 56);
static_assert(sizeof(RingNoAnswer) == 16);
static_assert(std::has_unique_object_representations_v<RouteResponse>);

// Body size of each message type; 0 for an unknown type.
constexpr std::size_t body_size(std::uint16_t type) {
  switch (static_cast<Type>(type)) {
    case Type::Register:
      return sizeof(Register);
    case Type::Heartbeat:
      return sizeof(Heartbeat);
    case Type::RouteRequest:
      return sizeof(RouteRequest);
    case Type::RouteResponse:
      return sizeof(RouteResponse);
    case Type::Offer:
      return sizeof(Offer);
    case Type::OfferResult:
      return sizeof(OfferResult);
    case Type::CallEvent:
      return sizeof(CallEvent);
    case Type::AgentEvent:
      return sizeof(AgentEvent);
    case Type::TransferRequest:
      return sizeof(TransferRequest);
    case Type::OutboundRequest:
      return sizeof(OutboundRequest);
    case Type::Ack:
      return sizeof(Ack);
    case Type::Error:
      return sizeof(Error);
    case Type::OperationReport:
      return sizeof(OperationReport);
    case Type::SessionToken:
      return sizeof(SessionToken);
    case Type::PasswordChange:
      return sizeof(PasswordChange);
    case Type::SiteSummary:
      return sizeof(SiteSummary);
    case Type::SiteRouteRequest:
      return sizeof(SiteRouteRequest);
    case Type::RingNoAnswer:
      return sizeof(RingNoAnswer);
  }
  return 0;
}

}  // namespace acd::dataplane::wire
