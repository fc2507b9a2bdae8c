// The session layer on its own (no pipeline): its handshake worker sleeps when idle instead of
// polling, and wakes for the next init; every thread acdd's parts start carries its name.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "acd/dataplane/session_layer.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"
#include "acd/dataplane/thread_name.hpp"
#include "secure_peer.hpp"

namespace acd::dataplane {
namespace {

// Waits (10 s watchdog, never a timing assertion) until `done` holds; false if it never did.
template <typename Done>
bool eventually(Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The names of this process's threads, from /proc/self/task/*/comm.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "comm");
    std::string name;
    if (std::getline(in, name)) {
      names.insert(name);
    }
  }
  return names;
}

bool has_thread(const std::string& name) {
  return thread_names().count(name) > 0;
}

// A layer serving one configured client, `peer`.
SecureConfig one_client(const secure::StaticKeyPair& server, const SecurePeer& peer) {
  SecureConfig sc;
  sc.keys = server;
  sc.clients.push_back({peer.name, wire::Role::Switch, peer.keys.public_key, {}});
  return sc;
}

// The idle worker parks on a futex, and an init queued by admit() wakes it: the handshake is
// answered. (Without the wake in admit(), the parked worker never sees the init.)
TEST(SessionLayerWorker, ParksWhenIdleAndWakesForAnInit) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SessionLayer layer(one_client(server, peer));
  layer.start();
  ASSERT_TRUE(eventually([&] { return layer.worker_parked(); }))
      << "an idle worker should sleep, not poll";
  const Bytes init = peer.init();
  std::array<std::uint8_t, wire::kMaxDatagram> scratch{};
  EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, init}, scratch).empty());
  std::array<Datagram, 4> out{};
  std::size_t n = 0;
  ASSERT_TRUE(eventually([&] { return (n = layer.collect(out)) != 0; }))
      << "the parked worker was not woken for the init";
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(layer.read(SecurityCounter::handshakes), 1u);
  // Idle again: it parks again, and stop() ends it while it sleeps.
  ASSERT_TRUE(eventually([&] { return layer.worker_parked(); }));
  layer.stop();
}

// stop() ends a worker that sleeps (the stop request wakes it).
TEST(SessionLayerWorker, StopWakesAParkedWorker) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SessionLayer layer(one_client(server, peer));
  layer.start();
  ASSERT_TRUE(eventually([&] { return layer.worker_parked(); }));
  layer.stop();  // a hang here is the failure (ctest's timeout)
  EXPECT_FALSE(has_thread("acd-handshake"));
}

// A forged flood in bursts at the start of every second, and a real client retrying half a second
// after each burst (all on a virtual clock, in processing steps). The cookie-reply allowance
// refills continuously, so the burst cannot spend what the client's retry needs: the client gets a
// cookie at its first try, and its init carrying the cookie makes a session.
TEST(SessionLayerFlood, BurstsInStepWithTheSecondDoNotLockAClientOut) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SecurePeer forger("forger", Endpoint{0x0a000001, 1}, server.public_key);  // not configured
  std::atomic<std::uint64_t> virtual_ns{1'000'000'000};
  SecureConfig sc = one_client(server, peer);
  sc.handshakes_per_second = 0;  // always under load: an init without a cookie gets a cookie
  sc.cookies_per_second = 100;
  sc.clock = [&] { return virtual_ns.load(std::memory_order_relaxed); };
  SessionLayer layer(sc);
  layer.start();
  std::array<std::uint8_t, wire::kMaxDatagram> scratch{};
  std::array<Datagram, 32> out{};
  const auto answered = [&] {
    return layer.read(SecurityCounter::cookies_sent) +
           layer.read(SecurityCounter::cookies_withheld) +
           layer.read(SecurityCounter::handshakes) + layer.dropped(kRingFullDrop);
  };
  // Waits until the worker dealt with `n` more inits, and returns what it sent to `to`.
  const auto settle = [&](std::uint64_t before, std::uint64_t n, const Endpoint& to) {
    std::vector<Bytes> to_peer;
    EXPECT_TRUE(eventually([&] {
      for (std::size_t k = layer.collect(out); k != 0; k = layer.collect(out)) {
        for (std::size_t i = 0; i < k; ++i) {
          if (out[i].peer == to) {
            to_peer.emplace_back(out[i].payload.begin(), out[i].payload.end());
          }
        }
      }
      return answered() >= before + n;
    }));
    return to_peer;
  };
  const Bytes forged = forger.init();  // a right mac1, an unknown key: a cookie or nothing
  constexpr std::uint32_t kBurst = 150;  // more than a second's cookie replies
  bool made = false;
  for (int second = 0; second < 4 && !made; ++second) {
    std::uint64_t before = answered();
    for (std::uint32_t i = 0; i < kBurst; ++i) {  // one init from each of 150 addresses
      const Endpoint from{0x0a000001 + i, static_cast<std::uint16_t>(1000 + i)};
      EXPECT_TRUE(layer.admit(Datagram{from, forged}, scratch).empty());
    }
    settle(before, kBurst, peer.endpoint);
    virtual_ns += 500'000'000;  // the client's retry, half a second later
    before = answered();
    const Bytes init = peer.init();
    EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, init}, scratch).empty());
    for (const Bytes& d : settle(before, 1, peer.endpoint)) {
      const secure::Peeked p = secure::peek(d);
      if (p.handshake && p.kind == secure::Kind::CookieReply) {
        ASSERT_EQ(peer.initiator.consume_cookie(d, steady_ns()), secure::DropReason::None);
        before = answered();
        const Bytes again = peer.init();  // at once, with the cookie
        EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, again}, scratch).empty());
        settle(before, 1, peer.endpoint);
        made = layer.read(SecurityCounter::handshakes) == 1;
      }
    }
    virtual_ns += 500'000'000;  // the next burst, at the next second
  }
  EXPECT_TRUE(made) << "a forged burst at each second locked the client out";
  EXPECT_EQ(layer.read(SecurityCounter::handshakes), 1u);
  EXPECT_GT(layer.read(SecurityCounter::cookies_withheld), 0u) << "the flood was not limited";
  layer.stop();
}

// A client's init that carries its cookie has a lane of its own: cookie-less inits sent from the
// client's own address (forged, or its own retries) that spend that address's allowance, and a
// flood from many addresses that fills the worker's ring while it is away, stop neither. (With one
// lane, the cookie's init is dropped as rate_limited, or as ring_full.)
TEST(SessionLayerFlood, AnInitWithItsCookieHasItsOwnAllowanceAndRing) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SecurePeer forger("forger", Endpoint{0x0a000001, 1}, server.public_key);  // not configured
  SecureConfig sc = one_client(server, peer);
  sc.handshakes_per_second = 0;  // always under load: an init without a cookie gets a cookie
  sc.per_source = {1, 4};        // 4 inits at once from one address, then 1 a second
  sc.handshake_ring = 16;
  sc.cookie_ring = 4;
  SessionLayer layer(sc);
  std::array<std::uint8_t, wire::kMaxDatagram> scratch{};
  std::array<Datagram, 32> out{};
  const auto drain = [&](const Endpoint& to) {
    std::vector<Bytes> to_peer;
    for (std::size_t k = layer.collect(out); k != 0; k = layer.collect(out)) {
      for (std::size_t i = 0; i < k; ++i) {
        if (out[i].peer == to) {
          to_peer.emplace_back(out[i].payload.begin(), out[i].payload.end());
        }
      }
    }
    return to_peer;
  };
  // 1. The client's first init: a cookie reply.
  layer.start();
  EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, peer.init()}, scratch).empty());
  std::vector<Bytes> replies;
  ASSERT_TRUE(eventually([&] {
    for (Bytes& b : drain(peer.endpoint)) {
      replies.push_back(std::move(b));
    }
    return !replies.empty();
  }));
  ASSERT_EQ(secure::peek(replies.front()).kind, secure::Kind::CookieReply);
  ASSERT_EQ(peer.initiator.consume_cookie(replies.front(), steady_ns()), secure::DropReason::None);
  // 2. With the worker away: cookie-less inits from the client's address spend its allowance,
  // and cookie-less inits from 64 other addresses fill the ring.
  layer.stop();
  const Bytes forged = forger.init();
  for (int i = 0; i < 10; ++i) {
    (void)layer.admit(Datagram{peer.endpoint, forged}, scratch);
  }
  for (std::uint32_t i = 0; i < 64; ++i) {
    const Endpoint from{0x0a000001 + i, static_cast<std::uint16_t>(1000 + i)};
    (void)layer.admit(Datagram{from, forged}, scratch);
  }
  ASSERT_GT(layer.dropped(kRateLimitedDrop), 0u) << "the client's address's allowance is spent";
  ASSERT_GT(layer.dropped(kRingFullDrop), 0u) << "the ring is full";
  const std::uint64_t limited = layer.dropped(kRateLimitedDrop);
  const std::uint64_t full = layer.dropped(kRingFullDrop);
  // 3. The client's init with its cookie still passes, and makes a session.
  const Bytes with_cookie = peer.init();
  ASSERT_NE(with_cookie[offsetof(secure::HandshakeInit, mac2)] |
                with_cookie[offsetof(secure::HandshakeInit, mac2) + 1],
            0)
      << "the init carries the cookie";
  EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, with_cookie}, scratch).empty());
  EXPECT_EQ(layer.dropped(kRateLimitedDrop), limited) << "its own allowance";
  EXPECT_EQ(layer.dropped(kRingFullDrop), full) << "its own ring";
  EXPECT_EQ(layer.read(SecurityCounter::cookie_inits), 1u);
  layer.start();
  ASSERT_TRUE(eventually([&] {
    (void)drain(peer.endpoint);
    return layer.read(SecurityCounter::handshakes) == 1;
  })) << "the init with its cookie made no session";
  // The cookie lane has the same per-source limits: a host with a cookie cannot DH at will.
  for (int i = 0; i < 10; ++i) {
    (void)layer.admit(Datagram{peer.endpoint, with_cookie}, scratch);
  }
  EXPECT_GT(layer.dropped(kRateLimitedDrop), limited);
  layer.stop();
}

// An init whose mac1 is wrong (not made for acd's key) is counted bad_mac1 by the IO thread,
// however far behind the worker is, and takes neither room in the worker's ring nor its source's
// allowance: with the worker away, more of them than the ring holds, from the client's own
// address, leave a real init from that address queued and answered. (Checked by the worker only,
// they were counted ring_full once the ring was full, and spent the address's allowance.)
TEST(SessionLayerFlood, AWrongMac1IsCountedOnTheIoThreadAndTakesNoRoom) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SecureConfig sc = one_client(server, peer);
  sc.per_source = {1, 4};  // 4 inits at once from one address
  sc.handshake_ring = 8;
  SessionLayer layer(sc);  // the worker not started: nothing leaves the ring
  std::array<std::uint8_t, wire::kMaxDatagram> scratch{};
  Bytes forged = peer.init();
  forged[offsetof(secure::HandshakeInit, mac1)] ^= 0xff;
  for (int i = 0; i < 20; ++i) {
    (void)layer.admit(Datagram{peer.endpoint, forged}, scratch);
  }
  EXPECT_EQ(layer.dropped(secure::DropReason::BadMac1), 20u);
  EXPECT_EQ(layer.dropped(kRingFullDrop), 0u);
  EXPECT_EQ(layer.dropped(kRateLimitedDrop), 0u);
  const Bytes real = peer.init();
  EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, real}, scratch).empty());
  EXPECT_EQ(layer.dropped(kRingFullDrop), 0u);
  EXPECT_EQ(layer.dropped(kRateLimitedDrop), 0u);
  layer.start();
  std::array<Datagram, 4> out{};
  ASSERT_TRUE(eventually([&] {
    (void)layer.collect(out);
    return layer.read(SecurityCounter::handshakes) == 1;
  })) << "the real init was not answered";
  EXPECT_EQ(layer.dropped(secure::DropReason::BadMac1), 20u) << "counted once, where it was read";
  layer.stop();
}

// The socket filter's range follows the sessions: none before the first handshake, then from
// the oldest live session's index to the newest's, set by collect() before the response it returns
// leaves, and the filter's drops are reported under their own reason.
TEST(SessionLayerFilter, RangeCoversTheLiveSessionsBeforeTheResponseLeaves) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SessionLayer layer(one_client(server, peer));
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  std::uint64_t kernel_drops = 7;
  layer.set_index_filter({[&](std::uint32_t first, std::uint32_t end) { ranges.emplace_back(first, end); },
                          [&] { return kernel_drops; }});
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].first, ranges[0].second) << "no session yet: an empty range";
  EXPECT_EQ(layer.dropped(kFilteredDrop), 7u);
  EXPECT_EQ(security_drop_label(kFilteredDrop), "filtered");
  layer.start();
  std::array<std::uint8_t, wire::kMaxDatagram> scratch{};
  std::array<Datagram, 4> out{};
  // Two handshakes of the one client: both sessions live (the current and the newer one).
  std::vector<std::uint32_t> indices;
  for (int round = 0; round < 2; ++round) {
    const Bytes init = peer.init();
    EXPECT_TRUE(layer.admit(Datagram{peer.endpoint, init}, scratch).empty());
    std::size_t n = 0;
    const std::size_t ranges_before = ranges.size();
    ASSERT_TRUE(eventually([&] { return (n = layer.collect(out)) != 0; }));
    ASSERT_EQ(n, 1u);
    ASSERT_EQ(ranges.size(), ranges_before + 1) << "collect() that installed must set the range";
    secure::Header h;
    std::memcpy(&h, out[0].payload.data(), sizeof h);
    ASSERT_EQ(h.kind, static_cast<std::uint8_t>(secure::Kind::HandshakeResponse));
    indices.push_back(h.index);
    const auto [first, end] = ranges.back();
    EXPECT_EQ(first, indices.front()) << "from the oldest live session";
    EXPECT_EQ(end, h.index + 1) << "to the newest, included";
    if (round == 0) {  // the client takes the session and uses it: it becomes the current one
      const secure::Initiator::Established e = peer.initiator.consume_response(
          Bytes(out[0].payload.begin(), out[0].payload.end()));
      ASSERT_EQ(e.reason, secure::DropReason::None);
      peer.cipher.emplace(e.keys, secure::Side::Client, secure::Aead::ChaCha20Poly1305);
      peer.index = e.session_index;
      const Bytes data = peer.one(wire::Type::Register, wire::Register{1, 0, 1});
      EXPECT_FALSE(layer.admit(Datagram{peer.endpoint, data}, scratch).empty());
    }
  }
  EXPECT_EQ(indices[1], indices[0] + 1);
  kernel_drops = 9;
  EXPECT_EQ(layer.dropped(kFilteredDrop), 9u);
  layer.stop();
}

// Names longer than Linux keeps are cut to 15 bytes; a numbered name ends with its number.
TEST(ThreadName, CutToFifteenBytesAndNumbered) {
  std::string seen;
  std::thread([&] {
    name_this_thread("acd-a-name-far-too-long-for-linux");
    seen = this_thread_name();
  }).join();
  EXPECT_EQ(seen, std::string("acd-a-name-far-too-long-for-linux").substr(0, kMaxThreadName));
  std::thread([&] {
    name_this_thread("acd-verify-", 12);
    seen = this_thread_name();
  }).join();
  EXPECT_EQ(seen, "acd-verify-12");
}

// The threads of the session layer, the sign-in verifier pool and the credential writer show
// their names in /proc (top -H, ps -L, perf).
TEST(ThreadName, DataplaneThreadsAreNamed) {
  const secure::StaticKeyPair server = secure::generate_key_pair();
  SecurePeer peer("sbc-1", Endpoint{0x7f000001, 4000}, server.public_key);
  SessionLayer layer(one_client(server, peer));
  layer.start();
  InMemoryCredentials credentials;
  VerifierPoolConfig pool;
  pool.threads = 2;
  AsyncVerifier verifier(credentials, pool);
  class NoSink final : public CredentialSink {
    ApplyOutcome apply_credential(router::AgentNumber, CredentialChangeKind, std::string_view,
                                  const CredentialDigest&) override {
      return ApplyOutcome::Stored;
    }
    void restore_enrolment(router::AgentNumber, std::string_view) override {}
  } sink;
  CredentialWriter writer(sink, 8);
  EXPECT_TRUE(eventually([] {
    const auto names = thread_names();
    return names.count("acd-handshake") == 1 && names.count("acd-verify-0") == 1 &&
           names.count("acd-verify-1") == 1 && names.count("acd-cred-write") == 1;
  })) << "threads: " << [] {
    std::string all;
    for (const std::string& n : thread_names()) {
      all += n + " ";
    }
    return all;
  }();
}

}  // namespace
}  // namespace acd::dataplane
