// ACDP/2's cost: sealing and opening data datagrams (ns per datagram, both AEADs, by size) and
// acd's side of the handshake (ns per init answered, refused by mac1, answered with a cookie).
//
//   build/bench/secure_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "acd/dataplane/secure_handshake.hpp"

namespace acd::dataplane::secure {
namespace {

using Bytes = std::vector<std::uint8_t>;

// One client whose newest timestamp is forgotten at each lookup, so that one init can be answered
// again and again: the benchmark times the Responder, not the making of inits.
class ForgetfulDirectory final : public ClientDirectory {
 public:
  explicit ForgetfulDirectory(const PublicKey& key) : key_(key) {}
  std::optional<KnownClient> find(const PublicKey& key) override {
    if (!(key == key_)) {
      return std::nullopt;
    }
    newest_ = Timestamp{};
    return KnownClient{0, "bench", 1, {}, &newest_};
  }

 private:
  PublicKey key_;
  Timestamp newest_{};
};

struct Handshaken {
  StaticKeyPair server = generate_key_pair();
  StaticKeyPair client = generate_key_pair();
  ForgetfulDirectory directory{client.public_key};
  Responder responder{server, directory};
  Initiator initiator{client, server.public_key, 1};
  Bytes init = Bytes(sizeof(HandshakeInit));
  Bytes reply = Bytes(sizeof(HandshakeResponse));
  Responder::Request request() {
    Responder::Request rq;
    rq.datagram = init;
    rq.source = Endpoint{0x0100000a, 5060, 0};
    rq.now_ns = 1;
    rq.session_index = 9;
    return rq;
  }
  Handshaken() { initiator.make_init(1, 1, init); }
};

// A client seals a datagram of `size` plaintext bytes, the server opens it: the cost of one
// datagram's protection, end to end. The window moves forward by one each time (the common case).
void BM_SealOpen(benchmark::State& state) {
  const auto aead = static_cast<Aead>(state.range(0));
  const auto size = static_cast<std::size_t>(state.range(1));
  if (!aead_available(aead)) {
    state.SkipWithError("AES-256-GCM needs AES-NI");
    return;
  }
  Handshaken h;
  const Responder::Result r = h.responder.respond(h.request(), h.reply);
  const Initiator::Established e = h.initiator.consume_response(h.reply);
  if (r.outcome != Responder::Outcome::Established || e.reason != DropReason::None) {
    state.SkipWithError("handshake failed");
    return;
  }
  SessionCipher client(e.keys, Side::Client, aead);
  SessionCipher server(r.keys, Side::Server, aead);
  Bytes text(size, 0x5a);
  Bytes datagram(size + kDataOverhead);
  Bytes opened(size + kDataOverhead);
  std::uint64_t refused = 0;
  for (auto _ : state) {
    client.seal(DataHeader{1, 9, 0}, text, datagram);
    const Opened o = server.open(datagram, opened);
    refused += o.reason != DropReason::None;
    benchmark::DoNotOptimize(o.plaintext.data());
  }
  state.counters["refused"] = static_cast<double>(refused);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.SetLabel(aead == Aead::ChaCha20Poly1305 ? "chacha20-poly1305" : "aes-256-gcm");
}
BENCHMARK(BM_SealOpen)->ArgsProduct({{0, 1}, {64, 256, 1400}});

// acd answers a valid init: mac1, 4 X25519 (2 to read the init, 2 for the response), the AEADs
// and hashes of the key schedule.
void BM_HandshakeResponder(benchmark::State& state) {
  Handshaken h;
  std::uint64_t failed = 0;
  for (auto _ : state) {
    const Responder::Result r = h.responder.respond(h.request(), h.reply);
    failed += r.outcome != Responder::Outcome::Established;
  }
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_HandshakeResponder);

// acd refuses garbage with a wrong mac1: one keyed hash, no DH (what a flood of junk costs).
void BM_HandshakeBadMac1(benchmark::State& state) {
  Handshaken h;
  h.init[offsetof(HandshakeInit, mac1)] ^= 1;
  std::uint64_t refused = 0;
  for (auto _ : state) {
    refused += h.responder.respond(h.request(), h.reply).reason == DropReason::BadMac1;
  }
  state.counters["refused"] = static_cast<double>(refused);
}
BENCHMARK(BM_HandshakeBadMac1);

// Under load, a valid-mac1 init without mac2 gets a CookieReply: hashes and one XChaCha20, no DH.
void BM_HandshakeCookieReply(benchmark::State& state) {
  Handshaken h;
  std::uint64_t cookies = 0;
  for (auto _ : state) {
    Responder::Request rq = h.request();
    rq.under_load = true;
    cookies += h.responder.respond(rq, h.reply).outcome == Responder::Outcome::CookieSent;
  }
  state.counters["cookies"] = static_cast<double>(cookies);
}
BENCHMARK(BM_HandshakeCookieReply);

// The client's side: making an init (2 X25519, 1 base-point multiplication).
void BM_HandshakeMakeInit(benchmark::State& state) {
  Handshaken h;
  std::uint64_t wall = 2;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.initiator.make_init(wall++, 1, h.init));
  }
}
BENCHMARK(BM_HandshakeMakeInit);

}  // namespace
}  // namespace acd::dataplane::secure

BENCHMARK_MAIN();
