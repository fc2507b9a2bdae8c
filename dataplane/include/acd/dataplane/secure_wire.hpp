// ACDP/2 on the wire: the byte layouts of docs/protocol.md, section "ACDP/2: handshake and
// authenticated datagrams", and the reasons an ACDP/2 datagram is dropped. Every struct is the
// byte image of its table in that document (little-endian, no implicit padding; sizes and offsets
// checked below), so the session layer moves them with memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "acd/dataplane/wire.hpp"

namespace acd::dataplane::secure {

inline constexpr std::uint8_t kVersion = 2;

// The header's byte 5: the message count of a data datagram (1..64, as in ACDP/1), or one of the
// handshake kinds (0x81..0x83), which no count can be.
enum class Kind : std::uint8_t {
  HandshakeInit = 0x81,
  HandshakeResponse = 0x82,
  CookieReply = 0x83,
};

inline constexpr std::size_t kKeyBytes = 32;          // X25519 keys, AEAD keys, chaining keys
inline constexpr std::size_t kTagBytes = 16;          // Poly1305 / GCM tag
inline constexpr std::size_t kMacBytes = 16;          // mac1, mac2: keyed BLAKE2b-128
inline constexpr std::size_t kCookieBytes = 16;       // keyed BLAKE2b-128 of the source address
inline constexpr std::size_t kCookieNonceBytes = 24;  // XChaCha20-Poly1305

// The 16-byte header every ACDP/2 datagram starts with (the shape of ACDP/1's).
struct Header {
  std::uint32_t magic;   // wire::kMagic
  std::uint8_t version;  // 2
  std::uint8_t kind;     // data: message count 1..64; handshake: a Kind
  std::uint16_t length;  // whole datagram, as in ACDP/1
  std::uint32_t index;   // see each message
  std::uint32_t epoch;   // from acd: its HA epoch; from a client: 0
};
static_assert(sizeof(Header) == 16);

// Plaintext of the encrypted timestamp: strictly increasing per client across its handshakes.
struct Timestamp {
  std::uint64_t ns;        // the client's wall clock, ns since 1970
  std::uint32_t counter;   // breaks ties between handshakes made within one ns
  std::uint32_t reserved;  // 0
};
static_assert(sizeof(Timestamp) == 16);

// client → acd. header.index = the client's sender index (echoed in the answer).
struct HandshakeInit {
  Header header;
  std::uint8_t ephemeral[kKeyBytes];                                // E_c
  std::uint8_t encrypted_static[kKeyBytes + kTagBytes];             // S_c under k0
  std::uint8_t encrypted_timestamp[sizeof(Timestamp) + kTagBytes];  // Timestamp under k1
  std::uint8_t mac1[kMacBytes];  // keyed H(H("acdp2 mac1" || S_s)) over bytes [0, 128)
  std::uint8_t mac2[kMacBytes];  // keyed H(cookie) over bytes [0, 144), or zeros
};
static_assert(sizeof(HandshakeInit) == 160);
static_assert(offsetof(HandshakeInit, mac1) == 128 && offsetof(HandshakeInit, mac2) == 144);

// acd → client. header.index = acd's session index for this client (the `index` of every data
// datagram of the session, both ways); header.epoch = acd's epoch.
struct HandshakeResponse {
  Header header;
  std::uint32_t receiver_index;       // the init's sender index
  std::uint32_t reserved;             // 0
  std::uint8_t ephemeral[kKeyBytes];  // E_s
  std::uint8_t empty_tag[kTagBytes];  // AEAD of nothing under k2, AD = bytes [0, 56)
  std::uint8_t mac1[kMacBytes];       // keyed H(H("acdp2 mac1" || S_c)) over bytes [0, 72)
};
static_assert(sizeof(HandshakeResponse) == 88);
static_assert(offsetof(HandshakeResponse, mac1) == 72);

// acd → client, instead of a response while acd is under load. header.index = the init's sender
// index. acd keeps no state for it.
struct CookieReply {
  Header header;
  std::uint8_t nonce[kCookieNonceBytes];
  std::uint8_t encrypted_cookie[kCookieBytes +
                                kTagBytes];  // key H("acdp2 cookie" || S_s), AD = the init's mac1
};
static_assert(sizeof(CookieReply) == 72);

// A data datagram: Header (AAD), the counter, the messages' ciphertext, the tag.
inline constexpr std::size_t kCounterBytes = 8;
inline constexpr std::size_t kDataOverhead = sizeof(Header) + kCounterBytes + kTagBytes;  // 40
static_assert(kDataOverhead == 40);

// Why an ACDP/2 datagram was dropped, declared once: enumerator, metric label, help text
// (acd_security_dropped_total{reason="..."}).
#define ACD_SECURITY_DROP_REASONS(X)                                                             \
  X(Malformed, "malformed", "not a well-formed ACDP/2 datagram: length, version, kind or field") \
  X(BadMac1, "bad_mac1",                                                                         \
    "handshake message whose mac1 is wrong: not made for this key (no DH spent)")                \
  X(NeedCookie, "need_cookie",                                                                   \
    "handshake init without a valid mac2 while under load: answered with a cookie")              \
  X(BadHandshake, "bad_handshake",                                                               \
    "handshake message that does not decrypt or carries a bad public key")                       \
  X(UnknownClient, "unknown_client", "handshake from a static key no [[clients]] entry has")     \
  X(WrongNetwork, "wrong_network",                                                               \
    "handshake from a source address outside the client's networks")                             \
  X(ReplayedHandshake, "replayed_handshake",                                                     \
    "handshake init whose timestamp is not newer than the last accepted")                        \
  X(UnexpectedReply, "unexpected_reply",                                                         \
    "handshake answer that matches no handshake this side started")                              \
  X(BadTag, "bad_tag", "data datagram whose authentication tag fails: forged or damaged")        \
  X(Replayed, "replayed", "data datagram whose counter was already accepted")                    \
  X(Stale, "stale", "data datagram whose counter is below the replay window")                    \
  X(UnknownSession, "unknown_session", "data datagram for a session index nobody holds")

enum class DropReason : std::uint8_t {
  None,  // not dropped
#define ACD_X(name, label, help) name,
  ACD_SECURITY_DROP_REASONS(ACD_X)
#undef ACD_X
      kCount
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount) - 1;

// The metric label ("bad_tag") and its help text; "none" for DropReason::None.
std::string_view drop_reason_name(DropReason r);
std::string_view drop_reason_help(DropReason r);

}  // namespace acd::dataplane::secure
