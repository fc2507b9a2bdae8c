// acd-loadgen's ACDP/2 clients (bench/loadgen/secure_clients.hpp): identities written and read
// back, a handshake with a Responder, and what a client takes from a node — a sealed takeover
// announcement opens (with its epoch), a clear-text or forged one is dropped and cannot move it;
// a client handshakes again when acd stops answering it, and when its session is old.
#include "secure_clients.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace {

namespace secure = acd::dataplane::secure;
namespace wire = acd::dataplane::wire;
using acd::loadgen::Identity;
using acd::loadgen::SecureClients;
using Bytes = std::vector<std::uint8_t>;

// acd's side of it: knows one client key.
class OneClient final : public secure::ClientDirectory {
 public:
  explicit OneClient(secure::PublicKey key) : key_(key) {}
  std::optional<secure::KnownClient> find(const secure::PublicKey& key) override {
    if (!(key == key_)) {
      return std::nullopt;
    }
    return secure::KnownClient{0, "lg-switch-0", 1, {}, &newest_};
  }

 private:
  secure::PublicKey key_;
  secure::Timestamp newest_{};
};

Bytes heartbeat_datagram(std::uint32_t epoch) {
  Bytes d(wire::kMaxSendDatagram);
  acd::dataplane::DatagramWriter w(d, 100);
  EXPECT_TRUE(w.add(wire::Type::Heartbeat, 0, wire::Heartbeat{0, 0}));
  d.resize(w.finish());
  std::memcpy(d.data() + 12, &epoch, 4);
  return d;
}

TEST(LoadgenSecureClients, OnlySealedAnnouncementsCount) {
  char pattern[] = "/tmp/acd-lg-keys-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::vector<Identity> ids{{100, "lg-switch-0", "switch"}};
  ASSERT_EQ(acd::loadgen::write_identities(dir, ids), "");
  ASSERT_TRUE(std::filesystem::exists(dir + "/clients.toml"));
  const secure::KeyFileResult client_key = secure::load_secret_key_file(dir + "/lg-switch-0.key");
  ASSERT_TRUE(client_key.ok()) << client_key.error;

  const secure::StaticKeyPair server = secure::generate_key_pair();
  Bytes to_node;
  SecureClients clients(server.public_key, [&](std::span<const std::uint8_t> d) {
    to_node.assign(d.begin(), d.end());
  });
  ASSERT_EQ(clients.load(dir, ids), "");
  clients.handshake_missing(1);
  ASSERT_EQ(to_node.size(), sizeof(secure::HandshakeInit));

  OneClient directory(client_key.keys->public_key);
  secure::Responder responder(server, directory);
  Bytes reply(sizeof(secure::HandshakeResponse));
  secure::Responder::Request rq;
  rq.datagram = to_node;
  rq.now_ns = 1;
  rq.session_index = 4242;
  rq.epoch = 1;
  const secure::Responder::Result r = responder.respond(rq, reply);
  ASSERT_EQ(r.outcome, secure::Responder::Outcome::Established);
  Bytes scratch(wire::kMaxDatagram);
  EXPECT_TRUE(clients.receive(reply, scratch, 2).empty());
  ASSERT_EQ(clients.established(), 1u);

  // The node's sealed announcement: opens as client 100's Heartbeat seq 0, epoch 2.
  secure::SessionCipher node(r.keys, secure::Side::Server, secure::Aead::ChaCha20Poly1305);
  const Bytes clear = heartbeat_datagram(2);
  Bytes sealed(clear.size() + secure::kDataOverhead);
  sealed.resize(node.seal(secure::DataHeader{1, 4242, 2},
                          std::span<const std::uint8_t>(clear).subspan(16), sealed));
  const auto opened = clients.receive(sealed, scratch, 3);
  ASSERT_EQ(opened.size(), clear.size());
  wire::DatagramHeader h;
  std::memcpy(&h, opened.data(), sizeof h);
  EXPECT_EQ(h.client_id, 100u);
  EXPECT_EQ(h.epoch, 2u);
  EXPECT_TRUE(std::equal(clear.begin() + 16, clear.end(), opened.begin() + 16));

  // A clear-text announcement of a newer epoch, and a forged sealed one: dropped.
  const std::uint64_t dropped = clients.dropped();
  EXPECT_TRUE(clients.receive(heartbeat_datagram(3), scratch, 4).empty());
  Bytes forged = sealed;
  forged[30] ^= 1;
  EXPECT_TRUE(clients.receive(forged, scratch, 5).empty());
  EXPECT_EQ(clients.dropped(), dropped + 2);
  std::filesystem::remove_all(dir);
}

// On a virtual clock: when the node answers nothing for a second while a datagram waits (acd
// restarted and forgot the sessions) the client sends a new init, and so does one whose session
// reached --rekey-after; an answer in time, or a fresh session, sends nothing.
TEST(LoadgenSecureClients, RenewsWhenUnansweredOrOld) {
  constexpr std::uint64_t kS = 1'000'000'000;
  char pattern[] = "/tmp/acd-lg-keys-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::vector<Identity> ids{{100, "lg-switch-0", "switch"}};
  ASSERT_EQ(acd::loadgen::write_identities(dir, ids), "");
  const secure::KeyFileResult client_key = secure::load_secret_key_file(dir + "/lg-switch-0.key");
  ASSERT_TRUE(client_key.ok()) << client_key.error;
  const secure::StaticKeyPair server = secure::generate_key_pair();
  Bytes to_node;
  int inits = 0;
  SecureClients clients(server.public_key, [&](std::span<const std::uint8_t> d) {
    to_node.assign(d.begin(), d.end());
    ++inits;
  });
  ASSERT_EQ(clients.load(dir, ids), "");
  OneClient directory(client_key.keys->public_key);
  secure::Responder responder(server, directory);
  std::uint32_t next_index = 7;
  Bytes scratch(wire::kMaxDatagram);
  secure::SessionKeys keys;
  auto answer = [&](std::uint64_t now) {
    Bytes reply(sizeof(secure::HandshakeResponse));
    secure::Responder::Request rq;
    rq.datagram = to_node;
    rq.now_ns = now;
    rq.session_index = next_index++;
    const secure::Responder::Result r = responder.respond(rq, reply);
    ASSERT_EQ(r.outcome, secure::Responder::Outcome::Established);
    keys = r.keys;
    EXPECT_TRUE(clients.receive(reply, scratch, now).empty());
  };
  clients.handshake_missing(10 * kS);
  answer(10 * kS);
  ASSERT_EQ(clients.established(), 1u);
  ASSERT_EQ(inits, 1);

  const Bytes request = heartbeat_datagram(0);
  Bytes sealed(wire::kMaxDatagram);
  const std::uint64_t rekey = 600 * kS;
  // Sent at 12 s and answered at once: nothing to renew, however long after.
  ASSERT_GT(clients.seal(100, request, sealed, 12 * kS), 0u);
  secure::SessionCipher node(keys, secure::Side::Server, secure::Aead::ChaCha20Poly1305);
  Bytes reply(request.size() + secure::kDataOverhead);
  reply.resize(node.seal(secure::DataHeader{1, 7, 0},
                         std::span<const std::uint8_t>(request).subspan(16), reply));
  ASSERT_FALSE(clients.receive(reply, scratch, 12 * kS).empty());
  clients.renew(100 * kS, rekey);
  EXPECT_EQ(inits, 1) << "an answered client renewed its session";

  // Sent at 101 s, never answered: still waiting at 101.9 s, a new init at 102 s, none again
  // before another second.
  ASSERT_GT(clients.seal(100, request, sealed, 101 * kS), 0u);
  clients.renew(101 * kS + 900'000'000, rekey);
  EXPECT_EQ(inits, 1);
  clients.renew(102 * kS, rekey);
  EXPECT_EQ(inits, 2) << "an unanswered client did not handshake again";
  clients.renew(102 * kS + 500'000'000, rekey);
  EXPECT_EQ(inits, 2);
  answer(102 * kS + 600'000'000);
  EXPECT_EQ(clients.renewals(), 1u);
  EXPECT_EQ(clients.renewed(), 1u);
  EXPECT_EQ(clients.established(), 1u) << "a renewal is not a new client";
  clients.renew(110 * kS, rekey);
  EXPECT_EQ(inits, 2) << "the new session's wait starts with its next datagram";

  // A wait that started after the caller read its clock (it sealed after reading it) has
  // lasted no time: no renewal. (Before, `now - since` wrapped round to 2^64 - a few ns: every
  // client renewed at once while acd answered all along.)
  ASSERT_GT(clients.seal(100, request, sealed, 105 * kS + 10), 0u);
  clients.renew(105 * kS, rekey);
  EXPECT_EQ(inits, 2) << "a wait that began after `now` counted as a silence";
  ASSERT_GT(clients.seal(100, request, sealed, 105 * kS + 20), 0u);  // still waiting
  clients.renew(106 * kS + 10, rekey);
  EXPECT_EQ(inits, 3) << "a second of silence from the wait's start sent no init";
  answer(106 * kS + 20);

  // Old: --rekey-after after the session was made (at 106 s + 20 ns).
  clients.renew(106 * kS + 20 + rekey - 1, rekey);
  EXPECT_EQ(inits, 3);
  clients.renew(106 * kS + 20 + rekey, rekey);
  EXPECT_EQ(inits, 4) << "an old session was not renewed";
  std::filesystem::remove_all(dir);
}

}  // namespace
