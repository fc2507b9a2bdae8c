// The ACDP/2 handshake: the key schedule, the Initiator (client) and the Responder (acd), the
// stateless cookie.
#include "acd/dataplane/secure_handshake.hpp"

#include <arpa/inet.h>
#include <sodium.h>

#include <cstring>
#include <initializer_list>
#include <string_view>

namespace acd::dataplane::secure {
namespace {

using Key = std::array<std::uint8_t, kKeyBytes>;

constexpr std::string_view kLabelMac1 = "acdp2 mac1";
constexpr std::string_view kLabelCookie = "acdp2 cookie";
constexpr std::string_view kLabelInit = "acdp2 init";
constexpr std::string_view kLabelKeys = "acdp2 keys";
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "acdp2dk_";
constexpr std::uint8_t kZeroNonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};

struct Bytes {
  const void* data;
  std::size_t size;
};
Bytes bytes(std::string_view s) {
  return {s.data(), s.size()};
}
template <std::size_t N>
Bytes bytes(const std::array<std::uint8_t, N>& a) {
  return {a.data(), N};
}
template <std::size_t N>
Bytes bytes(const std::uint8_t (&a)[N]) {
  return {a, N};
}

// H(parts...): BLAKE2b-256 of the concatenation.
Key hash(std::initializer_list<Bytes> parts) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, kKeyBytes);
  for (const Bytes& b : parts) {
    crypto_generichash_update(&state, static_cast<const std::uint8_t*>(b.data), b.size);
  }
  Key out;
  crypto_generichash_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof state);
  return out;
}

// A 16-byte keyed BLAKE2b (mac1, mac2, cookie).
std::array<std::uint8_t, kMacBytes> mac(const std::uint8_t* key, std::size_t key_size,
                                        const void* message, std::size_t size) {
  std::array<std::uint8_t, kMacBytes> out;
  crypto_generichash(out.data(), out.size(), static_cast<const std::uint8_t*>(message), size, key,
                     key_size);
  return out;
}

// DH(secret, public); false for a low-order public key (an all-zero result).
bool dh(Key& out, const std::uint8_t* secret, const std::uint8_t* public_key) {
  return crypto_scalarmult(out.data(), secret, public_key) == 0;
}

void wipe(Key& k) {
  sodium_memzero(k.data(), k.size());
}

// The session keys from k2: master = H(k2 || "acdp2 keys"); two subkeys of it.
SessionKeys split(const Key& k2) {
  Key master = hash({bytes(k2), bytes(kLabelKeys)});
  SessionKeys keys;
  crypto_kdf_derive_from_key(keys.client_to_server.data(), kKeyBytes, 1, kKdfContext,
                             master.data());
  crypto_kdf_derive_from_key(keys.server_to_client.data(), kKeyBytes, 2, kKdfContext,
                             master.data());
  wipe(master);
  return keys;
}

bool header_ok(std::span<const std::uint8_t> datagram, Kind kind, std::size_t size, Header& h) {
  if (datagram.size() != size) {
    return false;
  }
  std::memcpy(&h, datagram.data(), sizeof h);
  return h.magic == wire::kMagic && h.version == kVersion &&
         h.kind == static_cast<std::uint8_t>(kind) && h.length == size;
}

bool newer(const Timestamp& a, const Timestamp& b) {
  return a.ns != b.ns ? a.ns > b.ns : a.counter > b.counter;
}

}  // namespace

bool Ipv4Network::contains(std::uint32_t address_be) const {
  if (prefix == 0) {
    return true;
  }
  const std::uint32_t mask = prefix >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> prefix);
  return (ntohl(address_be) & mask) == (ntohl(address) & mask);
}

// ---- Initiator ------------------------------------------------------------------------------

Initiator::Initiator(const StaticKeyPair& own, const PublicKey& responder,
                     std::uint32_t sender_index)
    : own_secret_(own.secret),
      own_public_(own.public_key),
      responder_(responder),
      sender_index_(sender_index) {
  ensure_sodium();
  mac1_key_responder_ = hash({bytes(kLabelMac1), bytes(responder_.bytes)});
  mac1_key_own_ = hash({bytes(kLabelMac1), bytes(own_public_.bytes)});
  cookie_key_ = hash({bytes(kLabelCookie), bytes(responder_.bytes)});
  if (!dh(static_static_, own_secret_.data(), responder_.bytes.data())) {
    static_static_.fill(0);  // a low-order responder key: acd will not answer; nothing to protect
  }
}

Initiator::~Initiator() {
  wipe(static_static_);
  wipe(ephemeral_secret_);
  wipe(k1_);
  sodium_memzero(cookie_.data(), cookie_.size());
}

std::size_t Initiator::make_init(std::uint64_t wall_ns, std::uint64_t now_ns,
                                 std::span<std::uint8_t> out) {
  HandshakeInit init{};
  if (out.size() < sizeof init) {
    return 0;
  }
  pending_ = false;
  init.header = Header{wire::kMagic,
                       kVersion,
                       static_cast<std::uint8_t>(Kind::HandshakeInit),
                       static_cast<std::uint16_t>(sizeof init),
                       sender_index_,
                       0};
  randombytes_buf(ephemeral_secret_.data(), ephemeral_secret_.size());
  crypto_scalarmult_base(ephemeral_public_.data(), ephemeral_secret_.data());
  std::memcpy(init.ephemeral, ephemeral_public_.data(), kKeyBytes);

  Key es{};
  dh(es, ephemeral_secret_.data(), responder_.bytes.data());
  Key k0 = hash({bytes(kLabelInit), bytes(ephemeral_public_), bytes(responder_.bytes), bytes(es)});
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      init.encrypted_static, init.encrypted_static + kKeyBytes, nullptr, own_public_.bytes.data(),
      kKeyBytes, reinterpret_cast<const std::uint8_t*>(&init),
      offsetof(HandshakeInit, encrypted_static), nullptr, kZeroNonce, k0.data());
  k1_ = hash({bytes(k0), bytes(own_public_.bytes), bytes(static_static_)});
  wipe(es);
  wipe(k0);

  Timestamp ts{};
  if (wall_ns > last_timestamp_.ns) {
    ts.ns = wall_ns;
  } else {
    ts.ns = last_timestamp_.ns;
    ts.counter = last_timestamp_.counter + 1;
  }
  last_timestamp_ = ts;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      init.encrypted_timestamp, init.encrypted_timestamp + sizeof ts, nullptr,
      reinterpret_cast<const std::uint8_t*>(&ts), sizeof ts,
      reinterpret_cast<const std::uint8_t*>(&init), offsetof(HandshakeInit, encrypted_timestamp),
      nullptr, kZeroNonce, k1_.data());

  const auto m1 = mac(mac1_key_responder_.data(), kKeyBytes, &init, offsetof(HandshakeInit, mac1));
  std::memcpy(init.mac1, m1.data(), kMacBytes);
  last_mac1_ = m1;
  if (cookie_received_ns_ && now_ns - *cookie_received_ns_ < Responder::kCookieLifetimeNs) {
    const auto m2 = mac(cookie_.data(), kCookieBytes, &init, offsetof(HandshakeInit, mac2));
    std::memcpy(init.mac2, m2.data(), kMacBytes);
  }
  std::memcpy(out.data(), &init, sizeof init);
  pending_ = true;
  return sizeof init;
}

DropReason Initiator::consume_cookie(std::span<const std::uint8_t> reply, std::uint64_t now_ns) {
  Header h;
  if (!header_ok(reply, Kind::CookieReply, sizeof(CookieReply), h)) {
    return DropReason::Malformed;
  }
  if (!pending_ || h.index != sender_index_) {
    return DropReason::UnexpectedReply;
  }
  CookieReply r;
  std::memcpy(&r, reply.data(), sizeof r);
  std::array<std::uint8_t, kCookieBytes> cookie;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
          cookie.data(), nullptr, r.encrypted_cookie, kCookieBytes,
          r.encrypted_cookie + kCookieBytes, last_mac1_.data(), last_mac1_.size(), r.nonce,
          cookie_key_.data()) != 0) {
    return DropReason::BadTag;
  }
  cookie_ = cookie;
  cookie_received_ns_ = now_ns;
  sodium_memzero(cookie.data(), cookie.size());
  return DropReason::None;
}

Initiator::Established Initiator::consume_response(std::span<const std::uint8_t> response) {
  Established e;
  Header h;
  if (!header_ok(response, Kind::HandshakeResponse, sizeof(HandshakeResponse), h)) {
    e.reason = DropReason::Malformed;
    return e;
  }
  HandshakeResponse r;
  std::memcpy(&r, response.data(), sizeof r);
  if (!pending_ || r.receiver_index != sender_index_) {
    e.reason = DropReason::UnexpectedReply;
    return e;
  }
  const auto m1 = mac(mac1_key_own_.data(), kKeyBytes, &r, offsetof(HandshakeResponse, mac1));
  if (sodium_memcmp(m1.data(), r.mac1, kMacBytes) != 0) {
    e.reason = DropReason::BadMac1;
    return e;
  }
  Key ee{};
  Key se{};
  Key k2{};
  bool ok =
      dh(ee, ephemeral_secret_.data(), r.ephemeral) && dh(se, own_secret_.data(), r.ephemeral);
  if (ok) {
    k2 = hash({bytes(k1_), bytes(r.ephemeral), bytes(ee), bytes(se)});
    std::uint8_t nothing[1] = {};  // the AEAD's empty plaintext (the API wants a pointer)
    ok = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
             nothing, nullptr, nothing, 0, r.empty_tag, reinterpret_cast<const std::uint8_t*>(&r),
             offsetof(HandshakeResponse, empty_tag), kZeroNonce, k2.data()) == 0;
  }
  wipe(ee);
  wipe(se);
  if (!ok) {
    wipe(k2);
    e.reason = DropReason::BadHandshake;
    return e;
  }
  e.keys = split(k2);
  wipe(k2);
  e.session_index = h.index;
  pending_ = false;
  wipe(ephemeral_secret_);
  wipe(k1_);
  return e;
}

// ---- Responder ------------------------------------------------------------------------------

Responder::Responder(const StaticKeyPair& own, ClientDirectory& clients)
    : own_secret_(own.secret), own_public_(own.public_key), clients_(clients) {
  ensure_sodium();
  mac1_key_ = hash({bytes(kLabelMac1), bytes(own_public_.bytes)});
  cookie_key_ = hash({bytes(kLabelCookie), bytes(own_public_.bytes)});
}

bool Responder::mac1_ok(std::span<const std::uint8_t> init) const {
  if (init.size() != sizeof(HandshakeInit)) {
    return false;
  }
  const auto m1 = mac(mac1_key_.data(), kKeyBytes, init.data(), offsetof(HandshakeInit, mac1));
  return sodium_memcmp(m1.data(), init.data() + offsetof(HandshakeInit, mac1), kMacBytes) == 0;
}

Responder::~Responder() {
  wipe(cookie_secret_);
  wipe(previous_cookie_secret_);
}

void Responder::rotate_cookie_secret(std::uint64_t now_ns) {
  if (!cookie_secret_born_ns_ || now_ns < *cookie_secret_born_ns_ ||
      now_ns - *cookie_secret_born_ns_ >= 2 * kCookieRotationNs) {
    // First use, a clock that went back, or two rotations missed: no cookie given so far stays
    // good.
    randombytes_buf(cookie_secret_.data(), cookie_secret_.size());
    randombytes_buf(previous_cookie_secret_.data(), previous_cookie_secret_.size());
    cookie_secret_born_ns_ = now_ns;
  } else if (now_ns - *cookie_secret_born_ns_ >= kCookieRotationNs) {
    previous_cookie_secret_ = cookie_secret_;
    randombytes_buf(cookie_secret_.data(), cookie_secret_.size());
    *cookie_secret_born_ns_ += kCookieRotationNs;
  }
}

std::array<std::uint8_t, kCookieBytes> Responder::cookie_for(const Key& secret,
                                                             const Endpoint& source) const {
  std::uint8_t address[6];
  std::memcpy(address, &source.address, 4);
  std::memcpy(address + 4, &source.port, 2);
  return mac(secret.data(), secret.size(), address, sizeof address);
}

Responder::Result Responder::respond(const Request& request, std::span<std::uint8_t> reply) {
  Result result;
  Header h;
  if (!header_ok(request.datagram, Kind::HandshakeInit, sizeof(HandshakeInit), h) ||
      reply.size() < sizeof(HandshakeResponse)) {
    result.reason = DropReason::Malformed;
    return result;
  }
  HandshakeInit init;
  std::memcpy(&init, request.datagram.data(), sizeof init);

  // mac1: one keyed hash decides whether this was made for our key at all.
  const auto m1 = mac(mac1_key_.data(), kKeyBytes, &init, offsetof(HandshakeInit, mac1));
  if (sodium_memcmp(m1.data(), init.mac1, kMacBytes) != 0) {
    result.reason = DropReason::BadMac1;
    return result;
  }

  if (request.under_load) {
    rotate_cookie_secret(request.now_ns);
    bool cookie_ok = false;
    for (const Key* secret : {&cookie_secret_, &previous_cookie_secret_}) {
      auto cookie = cookie_for(*secret, request.source);
      const auto m2 = mac(cookie.data(), kCookieBytes, &init, offsetof(HandshakeInit, mac2));
      sodium_memzero(cookie.data(), cookie.size());
      cookie_ok = cookie_ok || sodium_memcmp(m2.data(), init.mac2, kMacBytes) == 0;
    }
    if (!cookie_ok && !request.may_send_cookie) {
      result.reason = DropReason::NeedCookie;  // no reply: the caller's budget is spent
      return result;
    }
    if (!cookie_ok) {
      CookieReply r{};
      r.header = Header{wire::kMagic,
                        kVersion,
                        static_cast<std::uint8_t>(Kind::CookieReply),
                        static_cast<std::uint16_t>(sizeof r),
                        h.index,
                        0};
      randombytes_buf(r.nonce, sizeof r.nonce);
      auto cookie = cookie_for(cookie_secret_, request.source);
      crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
          r.encrypted_cookie, r.encrypted_cookie + kCookieBytes, nullptr, cookie.data(),
          kCookieBytes, init.mac1, kMacBytes, nullptr, r.nonce, cookie_key_.data());
      sodium_memzero(cookie.data(), cookie.size());
      std::memcpy(reply.data(), &r, sizeof r);
      result.outcome = Outcome::CookieSent;
      result.reason = DropReason::NeedCookie;
      result.reply_length = sizeof r;
      return result;
    }
  }

  // The client's static key, under k0 = H("acdp2 init" || E_c || S_s || DH(s_s, E_c)).
  Key es{};
  if (!dh(es, own_secret_.data(), init.ephemeral)) {
    result.reason = DropReason::BadHandshake;
    return result;
  }
  Key k0 = hash({bytes(kLabelInit), bytes(init.ephemeral), bytes(own_public_.bytes), bytes(es)});
  wipe(es);
  PublicKey client_key;
  const bool static_ok =
      crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          client_key.bytes.data(), nullptr, init.encrypted_static, kKeyBytes,
          init.encrypted_static + kKeyBytes, reinterpret_cast<const std::uint8_t*>(&init),
          offsetof(HandshakeInit, encrypted_static), kZeroNonce, k0.data()) == 0;
  if (!static_ok) {
    wipe(k0);
    result.reason = DropReason::BadHandshake;
    return result;
  }
  const std::optional<KnownClient> client = clients_.find(client_key);
  if (!client || client->newest_timestamp == nullptr) {
    wipe(k0);
    result.reason = DropReason::UnknownClient;
    return result;
  }
  if (!client->networks.empty()) {
    bool inside = false;
    for (const Ipv4Network& n : client->networks) {
      inside = inside || n.contains(request.source.address);
    }
    if (!inside) {
      wipe(k0);
      result.reason = DropReason::WrongNetwork;
      result.client = *client;
      return result;
    }
  }

  // The timestamp, under k1 = H(k0 || S_c || DH(s_s, S_c)): proves the client holds s_c.
  Key ss{};
  Key k1{};
  Timestamp ts{};
  bool ok = dh(ss, own_secret_.data(), client_key.bytes.data());
  if (ok) {
    k1 = hash({bytes(k0), bytes(client_key.bytes), bytes(ss)});
    ok = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
             reinterpret_cast<std::uint8_t*>(&ts), nullptr, init.encrypted_timestamp, sizeof ts,
             init.encrypted_timestamp + sizeof ts, reinterpret_cast<const std::uint8_t*>(&init),
             offsetof(HandshakeInit, encrypted_timestamp), kZeroNonce, k1.data()) == 0;
  }
  wipe(k0);
  wipe(ss);
  if (!ok) {
    wipe(k1);
    result.reason = DropReason::BadHandshake;
    return result;
  }
  if (!newer(ts, *client->newest_timestamp)) {
    wipe(k1);
    result.reason = DropReason::ReplayedHandshake;
    result.client = *client;
    return result;
  }

  // The response: E_s, an empty AEAD under k2 = H(k1 || E_s || DH(e_s, E_c) || DH(e_s, S_c)).
  HandshakeResponse r{};
  r.header = Header{wire::kMagic,
                    kVersion,
                    static_cast<std::uint8_t>(Kind::HandshakeResponse),
                    static_cast<std::uint16_t>(sizeof r),
                    request.session_index,
                    request.epoch};
  r.receiver_index = h.index;
  Key e_secret{};
  randombytes_buf(e_secret.data(), e_secret.size());
  crypto_scalarmult_base(r.ephemeral, e_secret.data());
  Key ee{};
  Key se{};
  ok = dh(ee, e_secret.data(), init.ephemeral) && dh(se, e_secret.data(), client_key.bytes.data());
  wipe(e_secret);
  Key k2 = hash({bytes(k1), bytes(r.ephemeral), bytes(ee), bytes(se)});
  wipe(k1);
  wipe(ee);
  wipe(se);
  if (!ok) {
    wipe(k2);
    result.reason = DropReason::BadHandshake;
    return result;
  }
  std::uint8_t nothing[1] = {};  // the AEAD's empty plaintext (the API wants a pointer)
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      nothing, r.empty_tag, nullptr, nothing, 0, reinterpret_cast<const std::uint8_t*>(&r),
      offsetof(HandshakeResponse, empty_tag), nullptr, kZeroNonce, k2.data());
  const Key client_mac1_key = hash({bytes(kLabelMac1), bytes(client_key.bytes)});
  const auto rm1 = mac(client_mac1_key.data(), kKeyBytes, &r, offsetof(HandshakeResponse, mac1));
  std::memcpy(r.mac1, rm1.data(), kMacBytes);
  std::memcpy(reply.data(), &r, sizeof r);

  *client->newest_timestamp = ts;
  result.outcome = Outcome::Established;
  result.reason = DropReason::None;
  result.reply_length = sizeof r;
  result.client = *client;
  result.keys = split(k2);
  result.peer_index = h.index;
  wipe(k2);
  return result;
}

}  // namespace acd::dataplane::secure
