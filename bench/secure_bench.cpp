// ACDP/2's cost: sealing and opening data datagrams (ns per datagram, both AEADs, by size),
// acd's side of the handshake (ns per init answered, refused by mac1, answered with a cookie), and
// the whole pipeline in clear text and over ACDP/2 with the same requests (BM_Pipeline).
//
//   build/bench/secure_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include <chrono>
#include <optional>
#include <thread>

#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/session_layer.hpp"

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

// The whole pipeline on one core over the in-memory port (decode, reply cache, sequencer, engine
// queueing every call, reply encode), in clear text (arg 0) and over ACDP/2 (open each datagram,
// seal each reply; arg 1: ChaCha20-Poly1305, arg 2: AES-256-GCM) with the same requests: 32
// datagrams of `messages` route requests per poll. Making the client's datagrams (and sealing them)
// and reading the replies are outside the timing; the server's opens and seals are inside. Run with
// --benchmark_repetitions for medians.
void BM_Pipeline(benchmark::State& state) {
  const bool secure = state.range(0) != 0;
  const Aead aead = state.range(0) == 2 ? Aead::Aes256Gcm : Aead::ChaCha20Poly1305;
  if (!aead_available(aead)) {
    state.SkipWithError("AES-256-GCM needs AES-NI");
    return;
  }
  const auto messages = static_cast<int>(state.range(1));
  router::EngineConfig config;
  config.skill_count = 1;
  config.max_calls = 1 << 20;
  router::QueueConfig q;
  q.skills = {router::SkillRequirement{0, 1, 0}};
  config.queues.push_back(q);
  router::Engine engine(config);
  MemoryPort port;
  SteadyClock clock;
  DataplaneConfig dp;
  dp.max_calls = config.max_calls;
  IoStage io(port, clock, nullptr, {}, dp);
  Worker worker(engine, io);
  const Endpoint peer{0x0100007f, 4000, 0};

  const StaticKeyPair client = generate_key_pair();
  std::optional<SessionLayer> layer;
  std::optional<SessionCipher> cipher;
  std::uint32_t index = 0;
  if (secure) {
    SecureConfig sc;
    sc.keys = generate_key_pair();
    sc.clients.push_back({"bench-switch", wire::Role::Switch, client.public_key, {}});
    sc.aead = aead;
    layer.emplace(sc);
    layer->start();
    io.set_security(&*layer);
    Initiator initiator(client, sc.keys.public_key, 1);
    Bytes init(sizeof(HandshakeInit));
    initiator.make_init(1, 1, init);
    port.inject(peer, init);
    for (int i = 0; i < 5000 && !cipher; ++i) {
      worker.poll();
      for (auto& sent : port.take_sent()) {
        Initiator::Established e = initiator.consume_response(sent.payload);
        if (e.reason == DropReason::None) {
          cipher.emplace(e.keys, Side::Client, aead);
          index = e.session_index;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!cipher) {
      state.SkipWithError("no session");
      return;
    }
  }
  Bytes sealed(wire::kMaxDatagram);
  auto send = [&](Bytes& d) {
    if (secure) {
      wire::DatagramHeader h;
      std::memcpy(&h, d.data(), sizeof h);
      sealed.resize(wire::kMaxDatagram);
      sealed.resize(cipher->seal(DataHeader{h.count, index, 0},
                                 std::span<const std::uint8_t>(d).subspan(sizeof h), sealed));
      port.inject(peer, sealed);
    } else {
      port.inject(peer, d);
    }
  };
  {
    Bytes buf(wire::kMaxSendDatagram);
    DatagramWriter reg(buf, 7);
    reg.add(wire::Type::Register, 1, wire::Register{1, 0, 1});
    buf.resize(reg.finish());
    send(buf);
    worker.poll();
    port.take_sent();
  }
  std::uint64_t call = 1;
  std::uint64_t seq = 2;
  std::uint64_t handled = 0;
  Bytes d(wire::kMaxSendDatagram);
  for (auto _ : state) {
    state.PauseTiming();
    if (call > config.max_calls - 64 * 32) {
      state.SkipWithError("call pool exhausted");
      break;
    }
    for (int k = 0; k < 32; ++k) {
      d.assign(wire::kMaxSendDatagram, 0);
      DatagramWriter w(d, 7);
      for (int i = 0; i < messages; ++i) {
        wire::RouteRequest rr{};
        rr.call_id = call++;
        w.add(wire::Type::RouteRequest, seq++, rr);
      }
      d.resize(w.finish());
      send(d);
    }
    state.ResumeTiming();
    worker.poll();
    state.PauseTiming();
    port.take_sent();
    handled += 32 * static_cast<std::uint64_t>(messages);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(handled));
  state.counters["ns_per_request"] = benchmark::Counter(
      static_cast<double>(handled), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Pipeline)->ArgsProduct({{0, 1, 2}, {1, 24}})->Iterations(400)->UseRealTime();

}  // namespace
}  // namespace acd::dataplane::secure

BENCHMARK_MAIN();
