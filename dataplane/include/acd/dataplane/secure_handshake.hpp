// The ACDP/2 handshake (docs/protocol.md, "ACDP/2: handshake and authenticated datagrams"): one
// round trip, Noise-IK-like, from libsodium primitives. The client's Initiator makes a
// HandshakeInit and turns acd's HandshakeResponse into SessionKeys; acd's Responder checks the
// init, identifies the client by its static key, and answers with a response and the keys, or
// (under load) with a stateless CookieReply.
//
// Neither class allocates per message or throws; each belongs to one thread (acd: the handshake
// worker). Times are given by the caller: the Responder's clock only rotates the cookie secret,
// the Initiator's wall clock stamps its inits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "acd/dataplane/port.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"

namespace acd::dataplane::secure {

// The client side of one handshake at a time.
class Initiator {
 public:
  // `own` is the client's key pair, `responder` acd's public key, `sender_index` the number this
  // client gives its handshake (echoed in acd's answer).
  Initiator(const StaticKeyPair& own, const PublicKey& responder, std::uint32_t sender_index);
  ~Initiator();
  Initiator(const Initiator&) = delete;
  Initiator& operator=(const Initiator&) = delete;

  // Writes a new HandshakeInit (fresh ephemeral key, a timestamp newer than every earlier one of
  // this Initiator) into `out` and returns its length, sizeof(HandshakeInit); 0 if `out` is too
  // small. `wall_ns` is the wall clock (ns since 1970); `now_ns` a monotonic clock that ages the
  // cookie: a cookie younger than Responder::kCookieLifetimeNs is put in mac2. Forgets the
  // previous init (an answer to it is then UnexpectedReply).
  std::size_t make_init(std::uint64_t wall_ns, std::uint64_t now_ns, std::span<std::uint8_t> out);

  // Takes the cookie of a CookieReply to the last init (make_init again to use it). None, or
  // Malformed, UnexpectedReply (not for the last init), BadTag (does not decrypt).
  DropReason consume_cookie(std::span<const std::uint8_t> reply, std::uint64_t now_ns);

  struct Established {
    DropReason reason = DropReason::None;
    SessionKeys keys;                 // when reason == None
    std::uint32_t session_index = 0;  // acd's index: every data datagram's header.index
  };
  // Checks acd's response to the last init: Malformed, UnexpectedReply (no init pending, or not
  // its answer), BadMac1, BadHandshake (does not decrypt, bad key). On success the init is spent.
  Established consume_response(std::span<const std::uint8_t> response);

 private:
  SecretKey own_secret_;
  PublicKey own_public_;
  PublicKey responder_;
  std::uint32_t sender_index_;
  std::array<std::uint8_t, kKeyBytes> mac1_key_responder_{};  // H("acdp2 mac1" || S_s)
  std::array<std::uint8_t, kKeyBytes> mac1_key_own_{};        // H("acdp2 mac1" || S_c)
  std::array<std::uint8_t, kKeyBytes> cookie_key_{};          // H("acdp2 cookie" || S_s)
  std::array<std::uint8_t, kKeyBytes> static_static_{};       // DH(s_c, S_s), the same every time
  Timestamp last_timestamp_{};
  std::array<std::uint8_t, kCookieBytes> cookie_{};
  std::optional<std::uint64_t> cookie_received_ns_;
  // The init in flight: its ephemeral secret, k1, its mac1 (the cookie's AD).
  bool pending_ = false;
  std::array<std::uint8_t, kKeyBytes> ephemeral_secret_{};
  std::array<std::uint8_t, kKeyBytes> ephemeral_public_{};
  std::array<std::uint8_t, kKeyBytes> k1_{};
  std::array<std::uint8_t, kMacBytes> last_mac1_{};
};

// An IPv4 network a client may connect from; address and mask in network byte order, as in
// Endpoint.
struct Ipv4Network {
  std::uint32_t address = 0;
  std::uint8_t prefix = 0;  // 0..32
  bool contains(std::uint32_t address_be) const;
};

// What the caller knows of a client, found by its static public key ([[clients]] of acd.toml).
struct KnownClient {
  std::uint32_t client = 0;  // the caller's index of the entry
  std::string_view name;     // the entry's name (the role and name come from here, never the wire)
  std::uint8_t role = 0;     // the caller's role code
  std::span<const Ipv4Network> networks;  // source networks allowed; empty = anywhere
  // The newest handshake timestamp accepted from this client: owned by the caller, kept across
  // handshakes (and sessions), updated by the Responder when it accepts an init. Not null.
  Timestamp* newest_timestamp = nullptr;
};

// The caller's table of clients. Called on the Responder's thread, once per init that passed
// mac1 (and mac2 when under load) and decrypted.
class ClientDirectory {
 public:
  virtual ~ClientDirectory() = default;
  virtual std::optional<KnownClient> find(const PublicKey& static_key) = 0;
};

// acd's side: answers inits. One thread (the handshake worker); nothing is allocated.
class Responder {
 public:
  static constexpr std::uint64_t kCookieRotationNs = 120'000'000'000;  // the cookie secret's life
  // A client keeps a cookie this long (one rotation: the Responder accepts the current and the
  // previous secret, so a cookie is good for at least this long).
  static constexpr std::uint64_t kCookieLifetimeNs = kCookieRotationNs;

  // `own` is acd's static key pair; `clients` outlives the Responder.
  Responder(const StaticKeyPair& own, ClientDirectory& clients);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  struct Request {
    std::span<const std::uint8_t> datagram;  // a HandshakeInit (peek() said so)
    Endpoint source;                         // where it came from (the cookie is bound to it)
    std::uint64_t now_ns = 0;                // monotonic clock: rotates the cookie secret
    bool under_load = false;                 // demand a valid mac2 (cookie) first
    // Under load without a valid mac2: false drops the init unanswered (NeedCookie, no reply)
    // instead of sending a CookieReply (the caller's cookie budget is spent).
    bool may_send_cookie = true;
    std::uint32_t session_index = 0;  // the index to give the session if one is made
    std::uint32_t epoch = 0;          // carried in the response's header
  };
  enum class Outcome : std::uint8_t { Established, CookieSent, Dropped };
  struct Result {
    Outcome outcome = Outcome::Dropped;
    // Dropped: why. CookieSent: NeedCookie (count it). Established: None.
    DropReason reason = DropReason::Malformed;
    std::size_t reply_length = 0;  // bytes of `reply` to send back to the source (0 if Dropped)
    // Established, and Dropped for WrongNetwork or ReplayedHandshake (the client the init
    // named: its static key decrypted and is configured):
    KnownClient client;
    // Established only:
    SessionKeys keys;
    std::uint32_t peer_index = 0;  // the client's sender index
  };

  // Handles one init. Order of checks: size and header (Malformed), mac1 — one keyed hash, no DH
  // (BadMac1) —, mac2 when under_load (CookieSent, a CookieReply in `reply`; or Dropped with
  // NeedCookie and no reply when !may_send_cookie), decryption of the
  // static key (BadHandshake), the directory (UnknownClient), the client's networks
  // (WrongNetwork), the timestamp (BadHandshake, ReplayedHandshake if not newer than the last
  // accepted). On Established the response is in `reply` and the client's newest timestamp is
  // updated; nothing else changes on any outcome. `reply` needs sizeof(HandshakeResponse) bytes
  // (else Malformed, nothing sent).
  Result respond(const Request& request, std::span<std::uint8_t> reply);

  // Whether `init` (a HandshakeInit's bytes) carries a right mac1: the first check respond()
  // makes, one keyed hash. Reads only what the constructor set: any thread may call it beside
  // respond() (the IO thread does, so that an init made without acd's public key is counted
  // BadMac1 and never takes room in the worker's ring).
  bool mac1_ok(std::span<const std::uint8_t> init) const;

 private:
  void rotate_cookie_secret(std::uint64_t now_ns);
  std::array<std::uint8_t, kCookieBytes> cookie_for(
      const std::array<std::uint8_t, kKeyBytes>& secret, const Endpoint& source) const;
  SecretKey own_secret_;
  PublicKey own_public_;
  ClientDirectory& clients_;
  std::array<std::uint8_t, kKeyBytes> mac1_key_{};    // H("acdp2 mac1" || S_s)
  std::array<std::uint8_t, kKeyBytes> cookie_key_{};  // H("acdp2 cookie" || S_s)
  std::array<std::uint8_t, kKeyBytes> cookie_secret_{};
  std::array<std::uint8_t, kKeyBytes> previous_cookie_secret_{};
  std::optional<std::uint64_t> cookie_secret_born_ns_;  // none before the first cookie check
};

}  // namespace acd::dataplane::secure
