// libFuzzer target: arbitrary bytes into the ACDP/2 session layer — acd's Responder (inits, with
// and without load), a session's open(), the client's handling of responses and cookie replies.
// Nothing may crash, read out of bounds or be accepted without the keys.
//
// Keys are fixed (derived from constants), so an input reproduces on its own. Input: one byte
// choosing the path, then the datagram. Paths 0–3 take the bytes as they are; 4 and 5 XOR them
// over a valid init and recompute its mac1 (which the fuzzer could never guess), so the key
// schedule, the directory, the network and timestamp checks are reached; 6 does the same over a
// valid data datagram. 7 and 8 go through what acdd's IO thread runs on every datagram, the
// SessionLayer's admit() (peek, mac1, the per-source allowances, the two rings) and collect():
// 7 the bytes as they are, 8 XORed over a valid init with its mac1 recomputed; the source address
// comes from the input, so the per-source limiter sees many. The layer's handshake worker is
// never started, so no session can exist and admit() must hand nothing to the decoder.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/session_layer.hpp"

namespace {

using namespace acd::dataplane;
using namespace acd::dataplane::secure;

StaticKeyPair fixed_pair(std::uint8_t seed) {
  std::uint8_t secret[kKeyBytes];
  std::memset(secret, seed, sizeof secret);
  StaticKeyPair p{SecretKey(secret), {}};
  p.public_key = public_key_of(p.secret);
  return p;
}

class FuzzDirectory final : public ClientDirectory {
 public:
  explicit FuzzDirectory(const PublicKey& key) : key_(key) {}
  std::optional<KnownClient> find(const PublicKey& key) override {
    if (!(key == key_)) {
      return std::nullopt;
    }
    return KnownClient{0, "fuzz", 1, networks_, &newest_};
  }
  Timestamp newest_{};
  Ipv4Network networks_[1] = {{0x0000000a, 8}};  // 10.0.0.0/8

 private:
  PublicKey key_;
};

struct World {
  StaticKeyPair server = fixed_pair(1);
  StaticKeyPair client = fixed_pair(2);
  FuzzDirectory directory{client.public_key};
  Responder responder{server, directory};
  std::uint8_t valid_init[sizeof(HandshakeInit)] = {};
  std::uint8_t mac1_key[kKeyBytes] = {};
  std::vector<std::uint8_t> valid_data;
  SessionKeys keys;
  std::optional<SessionLayer> layer;
  World() {
    if (!ensure_sodium()) {
      std::abort();
    }
    Initiator init(client, server.public_key, 7);
    init.make_init(1000, 1, valid_init);
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, kKeyBytes);
    crypto_generichash_update(&st, reinterpret_cast<const std::uint8_t*>("acdp2 mac1"), 10);
    crypto_generichash_update(&st, server.public_key.bytes.data(), kKeyBytes);
    crypto_generichash_final(&st, mac1_key, kKeyBytes);
    keys.client_to_server.fill(3);
    keys.server_to_client.fill(4);
    SessionCipher c(keys, Side::Client, Aead::ChaCha20Poly1305);
    std::uint8_t text[64] = {};
    valid_data.resize(sizeof text + kDataOverhead);
    c.seal(DataHeader{1, 9, 0}, text, valid_data);
    SecureConfig sc;
    sc.keys = server;
    sc.clients.push_back({"fuzz", wire::Role::Switch, client.public_key, {}});
    sc.handshake_ring = 64;
    sc.cookie_ring = 16;
    layer.emplace(sc);  // never started: inits stay in the rings, then ring_full
  }
};

World& world() {
  static World w;
  return w;
}

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  World& w = world();
  const std::uint8_t path = data[0] % 9;
  std::vector<std::uint8_t> bytes(data + 1, data + size);  // exactly sized: ASan sees any overread
  std::uint8_t reply[sizeof(HandshakeResponse)];
  Responder::Request rq;
  rq.source = Endpoint{0x0300000a, 5060, 0};  // 10.0.0.3 (network order)
  rq.now_ns = 5;
  rq.session_index = 1;
  check(peek(bytes).reason != DropReason::None || bytes.size() >= sizeof(Header));
  switch (path) {
    case 0:
    case 1: {
      rq.datagram = bytes;
      rq.under_load = path == 1;
      const Responder::Result r = w.responder.respond(rq, reply);
      check(r.outcome != Responder::Outcome::Established);  // no keys, no session
      check(r.reply_length <= sizeof reply);
      break;
    }
    case 2: {
      SessionCipher s(w.keys, Side::Server, Aead::ChaCha20Poly1305);
      std::vector<std::uint8_t> out(bytes.size());
      check(s.open(bytes, out).reason != DropReason::None);
      break;
    }
    case 3: {
      Initiator init(w.client, w.server.public_key, 7);
      std::uint8_t buf[sizeof(HandshakeInit)];
      init.make_init(2000, 1, buf);
      check(init.consume_cookie(bytes, 1) != DropReason::None);
      check(init.consume_response(bytes).reason != DropReason::None);
      break;
    }
    case 4:
    case 5: {
      std::vector<std::uint8_t> init(w.valid_init, w.valid_init + sizeof w.valid_init);
      for (std::size_t i = 0; i < bytes.size() && i < init.size(); ++i) {
        init[i] ^= bytes[i];
      }
      if (bytes.size() > init.size()) {
        init.resize(bytes.size() % 256 + 16);  // also lengths the XOR alone cannot make
      }
      if (init.size() >= offsetof(HandshakeInit, mac1) + kMacBytes) {
        crypto_generichash(init.data() + offsetof(HandshakeInit, mac1), kMacBytes, init.data(),
                           offsetof(HandshakeInit, mac1), w.mac1_key, kKeyBytes);
      }
      w.directory.newest_ = Timestamp{};
      rq.datagram = init;
      rq.under_load = path == 5;
      const Responder::Result r = w.responder.respond(rq, reply);
      // Only the valid init itself may be accepted: every byte before mac1 is covered by an AEAD
      // (mac2 counts only under load, and the fuzzer holds no cookie).
      if (r.outcome == Responder::Outcome::Established) {
        for (std::size_t i = 0; i < bytes.size() && i < offsetof(HandshakeInit, mac1); ++i) {
          check(bytes[i] == 0);
        }
      }
      break;
    }
    case 7:
    case 8: {
      std::vector<std::uint8_t> d = bytes;
      if (path == 8) {
        d.assign(w.valid_init, w.valid_init + sizeof w.valid_init);
        for (std::size_t i = 0; i < bytes.size() && i < d.size(); ++i) {
          d[i] ^= bytes[i];
        }
        if (bytes.size() > d.size()) {
          d.resize(bytes.size() % 256 + 16);
        }
        if (d.size() >= offsetof(HandshakeInit, mac1) + kMacBytes) {
          crypto_generichash(d.data() + offsetof(HandshakeInit, mac1), kMacBytes, d.data(),
                             offsetof(HandshakeInit, mac1), w.mac1_key, kKeyBytes);
        }
      }
      const std::uint8_t host = bytes.empty() ? 0 : bytes.back();
      const Datagram datagram{Endpoint{0x0000000a | (std::uint32_t{host} << 24), 5060, 0}, d};
      std::vector<std::uint8_t> scratch(wire::kMaxDatagram);
      check(w.layer->admit(datagram, scratch).empty());  // no session: nothing for the decoder
      Datagram made[4];
      check(w.layer->collect(made) == 0);  // no worker: nothing made
      break;
    }
    default: {
      std::vector<std::uint8_t> d = w.valid_data;
      for (std::size_t i = 0; i < bytes.size() && i < d.size(); ++i) {
        d[i] ^= bytes[i];
      }
      SessionCipher s(w.keys, Side::Server, Aead::ChaCha20Poly1305);
      std::vector<std::uint8_t> out(d.size());
      const Opened o = s.open(d, out);
      if (o.reason == DropReason::None) {
        for (std::size_t i = 0; i < bytes.size() && i < d.size(); ++i) {
          check(bytes[i] == 0);  // only the untouched datagram opens
        }
      }
      break;
    }
  }
  return 0;
}
