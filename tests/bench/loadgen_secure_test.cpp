// acd-loadgen's ACDP/2 clients (bench/loadgen/secure_clients.hpp): identities written and read
// back, a handshake with a Responder, and what a client takes from a node — a sealed takeover
// announcement opens (with its epoch), a clear-text or forged one is dropped and cannot move it.
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

}  // namespace
