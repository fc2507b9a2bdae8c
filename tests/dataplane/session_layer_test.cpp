// The session layer on its own (no pipeline): its handshake worker sleeps when idle instead of
// polling, and wakes for the next init; every thread acdd's parts start carries its name.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
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
