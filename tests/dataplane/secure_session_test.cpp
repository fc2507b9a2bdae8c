// The ACDP/2 session layer: keys and key files, the handshake (both sides, refusals, the cookie
// path), sealed data datagrams and the replay window. Clocks are plain numbers given by the test.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "acd/dataplane/codec.hpp"
#include "acd/dataplane/secure_handshake.hpp"
#include "acd/dataplane/secure_keys.hpp"
#include "acd/dataplane/secure_session.hpp"

namespace acd::dataplane::secure {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint64_t kSecond = 1'000'000'000;

// The caller's [[clients]] table: a few entries found by key, each with its newest timestamp.
class TestDirectory final : public ClientDirectory {
 public:
  struct Entry {
    PublicKey key;
    std::string name;
    std::uint8_t role = 0;
    std::vector<Ipv4Network> networks;
    Timestamp newest{};
  };
  TestDirectory() { entries_.reserve(16); }
  Entry& add(const PublicKey& key, std::string name, std::uint8_t role = 1) {
    entries_.push_back(Entry{key, std::move(name), role, {}, {}});
    return entries_.back();
  }
  std::optional<KnownClient> find(const PublicKey& key) override {
    ++lookups;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      Entry& e = entries_[i];
      if (e.key == key) {
        return KnownClient{static_cast<std::uint32_t>(i), e.name, e.role, e.networks, &e.newest};
      }
    }
    return std::nullopt;
  }
  int lookups = 0;

 private:
  std::vector<Entry> entries_;
};

Endpoint endpoint(const char* text) {
  Endpoint e;
  EXPECT_TRUE(parse_endpoint(text, e)) << text;
  return e;
}

// A client and acd, each with its own key pair; acd knows the client as "sbc-1".
struct Pair {
  StaticKeyPair server = generate_key_pair();
  StaticKeyPair client = generate_key_pair();
  TestDirectory directory;
  TestDirectory::Entry& entry = directory.add(client.public_key, "sbc-1", 1);
  Responder responder{server, directory};
  Initiator initiator{client, server.public_key, 77};
  Endpoint source = endpoint("10.1.2.3:5060");
  std::uint64_t wall = 1'800'000'000 * kSecond;
  std::uint64_t now = 1000 * kSecond;

  Bytes init() {
    Bytes out(sizeof(HandshakeInit));
    EXPECT_EQ(initiator.make_init(wall, now, out), out.size());
    wall += 1000;
    return out;
  }
  Responder::Result respond(const Bytes& init_bytes, Bytes& reply, bool under_load = false,
                            Endpoint from = {}) {
    reply.assign(sizeof(HandshakeResponse), 0);
    Responder::Request rq;
    rq.datagram = init_bytes;
    rq.source = from == Endpoint{} ? source : from;
    rq.now_ns = now;
    rq.under_load = under_load;
    rq.session_index = 4242;
    rq.epoch = 3;
    Responder::Result r = responder.respond(rq, reply);
    reply.resize(r.reply_length);
    return r;
  }
};

// A full handshake gives both sides the same two keys, acd's session index to the client, and the
// client's name and role (from the directory, not the wire) to acd.
TEST(SecureHandshake, BothSidesAgreeOnTheKeys) {
  Pair p;
  Bytes reply;
  const Bytes init = p.init();
  const Responder::Result r = p.respond(init, reply);
  ASSERT_EQ(r.outcome, Responder::Outcome::Established) << drop_reason_name(r.reason);
  EXPECT_EQ(r.client.name, "sbc-1");
  EXPECT_EQ(r.client.role, 1);
  EXPECT_EQ(r.peer_index, 77u);
  ASSERT_EQ(reply.size(), sizeof(HandshakeResponse));
  const Initiator::Established e = p.initiator.consume_response(reply);
  ASSERT_EQ(e.reason, DropReason::None) << drop_reason_name(e.reason);
  EXPECT_EQ(e.session_index, 4242u);
  EXPECT_EQ(e.keys.client_to_server, r.keys.client_to_server);
  EXPECT_EQ(e.keys.server_to_client, r.keys.server_to_client);
  EXPECT_NE(e.keys.client_to_server, e.keys.server_to_client);
  // The answer is spent: the same response again matches no pending handshake.
  EXPECT_EQ(p.initiator.consume_response(reply).reason, DropReason::UnexpectedReply);

  // A second handshake of the same pair gives other keys (new ephemerals).
  const Bytes init2 = p.init();
  const Responder::Result r2 = p.respond(init2, reply);
  ASSERT_EQ(r2.outcome, Responder::Outcome::Established);
  EXPECT_NE(r2.keys.client_to_server, r.keys.client_to_server);
}

// A static key no [[clients]] entry has is refused, and no response is made.
TEST(SecureHandshake, UnknownClientIsRefused) {
  Pair p;
  const StaticKeyPair stranger = generate_key_pair();
  Initiator other(stranger, p.server.public_key, 5);
  Bytes init(sizeof(HandshakeInit));
  ASSERT_EQ(other.make_init(p.wall, p.now, init), init.size());
  Bytes reply;
  const Responder::Result r = p.respond(init, reply);
  EXPECT_EQ(r.outcome, Responder::Outcome::Dropped);
  EXPECT_EQ(r.reason, DropReason::UnknownClient);
  EXPECT_EQ(reply.size(), 0u);
}

// An init made for another server's key fails mac1, before any DH or directory lookup.
TEST(SecureHandshake, InitForAnotherServerFailsMac1WithoutLookup) {
  Pair p;
  const StaticKeyPair other_server = generate_key_pair();
  Initiator lost(p.client, other_server.public_key, 5);
  Bytes init(sizeof(HandshakeInit));
  ASSERT_EQ(lost.make_init(p.wall, p.now, init), init.size());
  Bytes reply;
  EXPECT_EQ(p.respond(init, reply).reason, DropReason::BadMac1);
  EXPECT_EQ(p.directory.lookups, 0);
}

// Any byte of the init changed is refused (mac2's bytes: under load, where mac2 counts); the
// refusals change nothing, so the untouched init is accepted afterwards.
TEST(SecureHandshake, TamperedInitIsRefused) {
  Pair p;
  Bytes reply;
  // Get a cookie so that mac2 is valid under load.
  ASSERT_EQ(p.respond(p.init(), reply, true).outcome, Responder::Outcome::CookieSent);
  ASSERT_EQ(p.initiator.consume_cookie(reply, p.now), DropReason::None);
  const Bytes init = p.init();
  for (std::size_t i = 0; i < init.size(); ++i) {
    Bytes bad = init;
    bad[i] ^= 0x01;
    const bool under_load = i >= offsetof(HandshakeInit, mac2);
    const Responder::Result r = p.respond(bad, reply, under_load);
    EXPECT_NE(r.outcome, Responder::Outcome::Established) << "byte " << i;
  }
  EXPECT_EQ(p.entry.newest.ns, 0u);
  EXPECT_EQ(p.respond(init, reply, true).outcome, Responder::Outcome::Established);
}

// Any byte of the response changed is refused by the client; the untouched one then succeeds.
TEST(SecureHandshake, TamperedResponseIsRefused) {
  Pair p;
  Bytes reply;
  ASSERT_EQ(p.respond(p.init(), reply).outcome, Responder::Outcome::Established);
  for (std::size_t i = 0; i < reply.size(); ++i) {
    Bytes bad = reply;
    bad[i] ^= 0x80;
    EXPECT_NE(p.initiator.consume_response(bad).reason, DropReason::None) << "byte " << i;
  }
  EXPECT_EQ(p.initiator.consume_response(reply).reason, DropReason::None);
}

// The same init twice, or an older one after a newer, is a replay: refused, and the client's
// newest timestamp stays the newest.
TEST(SecureHandshake, ReplayedInitIsRefused) {
  Pair p;
  Bytes reply;
  const Bytes older = p.init();
  const Bytes init = p.init();
  ASSERT_EQ(p.respond(init, reply).outcome, Responder::Outcome::Established);
  const Timestamp newest = p.entry.newest;
  EXPECT_EQ(p.respond(init, reply).reason, DropReason::ReplayedHandshake);
  EXPECT_EQ(p.respond(older, reply).reason, DropReason::ReplayedHandshake);
  EXPECT_EQ(p.entry.newest.ns, newest.ns);
  // Two inits within one nanosecond of the wall clock still rise (the counter).
  p.wall -= 1000;
  const Bytes same_ns = p.init();
  EXPECT_EQ(p.respond(same_ns, reply).outcome, Responder::Outcome::Established);
  EXPECT_EQ(p.entry.newest.counter, 1u);
}

// A client outside its configured networks is refused; inside, accepted.
TEST(SecureHandshake, SourceOutsideTheClientsNetworksIsRefused) {
  Pair p;
  Endpoint net = endpoint("10.1.0.0:0");
  p.entry.networks = {Ipv4Network{net.address, 16}};
  Bytes reply;
  EXPECT_EQ(p.respond(p.init(), reply, false, endpoint("10.2.0.1:5060")).reason,
            DropReason::WrongNetwork);
  EXPECT_EQ(p.respond(p.init(), reply, false, endpoint("10.1.200.9:5060")).outcome,
            Responder::Outcome::Established);
}

// Under load an init without mac2 gets a CookieReply (no state kept); the retry with the cookie
// in mac2 is accepted.
TEST(SecureCookie, UnderLoadTheRetryWithTheCookieSucceeds) {
  Pair p;
  Bytes reply;
  const Responder::Result first = p.respond(p.init(), reply, true);
  ASSERT_EQ(first.outcome, Responder::Outcome::CookieSent);
  EXPECT_EQ(first.reason, DropReason::NeedCookie);
  ASSERT_EQ(reply.size(), sizeof(CookieReply));
  EXPECT_EQ(p.directory.lookups, 0);  // no DH, no lookup before the cookie
  ASSERT_EQ(p.initiator.consume_cookie(reply, p.now), DropReason::None);
  const Responder::Result second = p.respond(p.init(), reply, true);
  ASSERT_EQ(second.outcome, Responder::Outcome::Established) << drop_reason_name(second.reason);
  EXPECT_EQ(p.initiator.consume_response(reply).reason, DropReason::None);
}

// A cookie is bound to the source address: sent from another address (or port), it fails.
TEST(SecureCookie, CookieFromAnotherSourceFails) {
  Pair p;
  Bytes reply;
  ASSERT_EQ(p.respond(p.init(), reply, true).outcome, Responder::Outcome::CookieSent);
  ASSERT_EQ(p.initiator.consume_cookie(reply, p.now), DropReason::None);
  EXPECT_EQ(p.respond(p.init(), reply, true, endpoint("10.1.2.4:5060")).outcome,
            Responder::Outcome::CookieSent);
  EXPECT_EQ(p.respond(p.init(), reply, true, endpoint("10.1.2.3:5061")).outcome,
            Responder::Outcome::CookieSent);
  EXPECT_EQ(p.respond(p.init(), reply, true).outcome, Responder::Outcome::Established);
}

// The cookie secret rotates every 120 s and the previous one is still accepted: a cookie survives
// one rotation, not two.
TEST(SecureCookie, CookieDiesAfterTwoRotations) {
  Pair p;
  Bytes reply;
  ASSERT_EQ(p.respond(p.init(), reply, true).outcome, Responder::Outcome::CookieSent);
  ASSERT_EQ(p.initiator.consume_cookie(reply, p.now), DropReason::None);
  const std::uint64_t got = p.now;
  p.now = got + 119 * kSecond;  // the client still uses it
  const Bytes init = p.init();
  p.now = got + 125 * kSecond;  // one rotation since
  EXPECT_EQ(p.respond(init, reply, true).outcome, Responder::Outcome::Established);
  p.now = got + 119 * kSecond;
  const Bytes late = p.init();
  p.now = got + 245 * kSecond;  // two rotations since
  EXPECT_EQ(p.respond(late, reply, true).outcome, Responder::Outcome::CookieSent);
}

// A cookie reply that was changed, or answers another init, is not taken.
TEST(SecureCookie, ForgedCookieReplyIsRefused) {
  Pair p;
  Bytes reply;
  ASSERT_EQ(p.respond(p.init(), reply, true).outcome, Responder::Outcome::CookieSent);
  for (std::size_t i = sizeof(Header); i < reply.size(); ++i) {
    Bytes bad = reply;
    bad[i] ^= 0x04;
    EXPECT_EQ(p.initiator.consume_cookie(bad, p.now), DropReason::BadTag) << "byte " << i;
  }
  p.init();  // a new init: the reply was for the previous one (its mac1 is the AD)
  EXPECT_EQ(p.initiator.consume_cookie(reply, p.now), DropReason::BadTag);
}

// Every prefix of each handshake message is refused as Malformed, with its length field as sent
// or made to match; nothing crashes.
TEST(SecureHandshake, TruncatedMessagesAreMalformed) {
  Pair p;
  Bytes reply;
  const Bytes init = p.init();
  for (std::size_t n = 0; n < init.size(); ++n) {
    for (bool fix_length : {false, true}) {
      Bytes cut(init.begin(), init.begin() + static_cast<std::ptrdiff_t>(n));
      if (fix_length && n >= 8) {
        const auto len = static_cast<std::uint16_t>(n);
        std::memcpy(cut.data() + 6, &len, 2);
      }
      EXPECT_EQ(p.respond(cut, reply, fix_length).reason, DropReason::Malformed) << n;
      EXPECT_EQ(p.initiator.consume_response(cut).reason, DropReason::Malformed) << n;
      EXPECT_EQ(p.initiator.consume_cookie(cut, p.now), DropReason::Malformed) << n;
    }
  }
}

// ---- Data datagrams ----------------------------------------------------------------------------

class SecureData : public ::testing::TestWithParam<Aead> {
 protected:
  void SetUp() override {
    if (!aead_available(GetParam())) {
      GTEST_SKIP() << "AES-256-GCM needs AES-NI";
    }
    Pair p;
    Bytes reply;
    const Responder::Result r = p.respond(p.init(), reply);
    ASSERT_EQ(r.outcome, Responder::Outcome::Established);
    const Initiator::Established e = p.initiator.consume_response(reply);
    ASSERT_EQ(e.reason, DropReason::None);
    client_ = std::make_unique<SessionCipher>(e.keys, Side::Client, GetParam());
    server_ = std::make_unique<SessionCipher>(r.keys, Side::Server, GetParam());
  }
  Bytes seal(SessionCipher& from, const Bytes& text, std::uint8_t count = 1) {
    Bytes out(text.size() + kDataOverhead);
    EXPECT_EQ(from.seal(DataHeader{count, 4242, 0}, text, out), out.size());
    return out;
  }
  Opened open(SessionCipher& to, const Bytes& datagram) {
    buffer_.assign(std::max<std::size_t>(datagram.size(), kDataOverhead), 0);
    return to.open(datagram, buffer_);
  }
  std::unique_ptr<SessionCipher> client_;
  std::unique_ptr<SessionCipher> server_;
  Bytes buffer_;
};

Bytes text_of(std::size_t n, std::uint8_t seed = 1) {
  Bytes t(n);
  for (std::size_t i = 0; i < n; ++i) {
    t[i] = static_cast<std::uint8_t>(seed + i * 7);
  }
  return t;
}

// What one side seals the other opens to the same bytes, both ways, with the header as sent.
TEST_P(SecureData, RoundTripBothWays) {
  for (std::size_t n : {0u, 8u, 64u, 256u, 1400u}) {
    const Bytes text = text_of(n, static_cast<std::uint8_t>(n));
    const Bytes up = seal(*client_, text, 3);
    const Opened o = open(*server_, up);
    ASSERT_EQ(o.reason, DropReason::None) << drop_reason_name(o.reason);
    EXPECT_EQ(Bytes(o.plaintext.begin(), o.plaintext.end()), text);
    EXPECT_EQ(o.header.count, 3);
    EXPECT_EQ(o.header.index, 4242u);
    const Bytes down = seal(*server_, text);
    const Opened d = open(*client_, down);
    ASSERT_EQ(d.reason, DropReason::None);
    EXPECT_EQ(Bytes(d.plaintext.begin(), d.plaintext.end()), text);
    // A side cannot open what it sealed itself (each direction has its own key).
    EXPECT_EQ(open(*client_, seal(*client_, text)).reason, DropReason::BadTag);
  }
}

// Decryption in place: the plaintext lands where the ciphertext was.
TEST_P(SecureData, OpensInPlace) {
  const Bytes text = text_of(200);
  Bytes d = seal(*client_, text);
  const Opened o =
      server_->open(d, std::span<std::uint8_t>(d).subspan(sizeof(Header) + kCounterBytes));
  ASSERT_EQ(o.reason, DropReason::None);
  EXPECT_EQ(Bytes(o.plaintext.begin(), o.plaintext.end()), text);
}

// Any bit flipped anywhere is refused: in the ciphertext or tag as BadTag; in the header or
// counter as BadTag or Malformed. The refusals do not move the window: the original then opens.
TEST_P(SecureData, FlippedBitIsRefused) {
  const Bytes d = seal(*client_, text_of(64));
  for (std::size_t bit = 0; bit < d.size() * 8; ++bit) {
    Bytes bad = d;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const DropReason r = open(*server_, bad).reason;
    if (bit / 8 >= sizeof(Header) + kCounterBytes) {
      EXPECT_EQ(r, DropReason::BadTag) << "bit " << bit;
    } else {
      EXPECT_NE(r, DropReason::None) << "bit " << bit;
    }
  }
  EXPECT_EQ(open(*server_, d).reason, DropReason::None);
}

// A datagram accepted once is Replayed the second time.
TEST_P(SecureData, ReplayIsRefused) {
  const Bytes d = seal(*client_, text_of(32));
  EXPECT_EQ(open(*server_, d).reason, DropReason::None);
  EXPECT_EQ(open(*server_, d).reason, DropReason::Replayed);
}

// Datagrams arriving out of order within the window are each accepted once; one further back
// than the window is Stale.
TEST_P(SecureData, OutOfOrderWithinWindowOnceAndFarOldIsStale) {
  std::vector<Bytes> sent;
  for (int i = 0; i < 3000; ++i) {
    sent.push_back(seal(*client_, text_of(16)));
  }
  EXPECT_EQ(open(*server_, sent[2999]).reason, DropReason::None);
  for (int i = 2998; i >= 2999 - 2047; i -= 97) {
    EXPECT_EQ(open(*server_, sent[static_cast<std::size_t>(i)]).reason, DropReason::None) << i;
    EXPECT_EQ(open(*server_, sent[static_cast<std::size_t>(i)]).reason, DropReason::Replayed) << i;
  }
  EXPECT_EQ(open(*server_, sent[0]).reason, DropReason::Stale);
  EXPECT_EQ(open(*server_, sent[2999 - 2048]).reason, DropReason::Stale);
}

// Every prefix of a datagram, with its length field as sent or made to match, is refused without
// a crash.
TEST_P(SecureData, TruncatedDatagramsAreRefused) {
  const Bytes d = seal(*client_, text_of(96));
  for (std::size_t n = 0; n < d.size(); ++n) {
    for (bool fix_length : {false, true}) {
      Bytes cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
      if (fix_length && n >= 8) {
        const auto len = static_cast<std::uint16_t>(n);
        std::memcpy(cut.data() + 6, &len, 2);
      }
      const DropReason r = open(*server_, cut).reason;
      EXPECT_TRUE(r == DropReason::Malformed || r == DropReason::BadTag)
          << n << " " << drop_reason_name(r);
    }
  }
  EXPECT_EQ(open(*server_, d).reason, DropReason::None);
}

// A sign-in's password is nowhere in the sealed datagram (nor any 4-byte piece of it).
TEST_P(SecureData, PasswordNeverAppearsOnTheWire) {
  const std::string password = "correct-horse-battery-staple-42";
  Bytes text(wire::kMaxSendDatagram);
  DatagramWriter w(text, 9);
  wire::AgentEvent ev{};
  ev.agent = 1;
  ev.kind = wire::AgentEventKind::SignIn;
  std::memcpy(ev.password, password.data(), password.size());
  ASSERT_TRUE(w.add(wire::Type::AgentEvent, 1, ev));
  const std::size_t length = w.finish();
  const std::span<const std::uint8_t> messages =
      std::span<const std::uint8_t>(text).first(length).subspan(sizeof(wire::DatagramHeader));
  ASSERT_NE(std::search(messages.begin(), messages.end(), password.begin(), password.end()),
            messages.end());  // the clear text does hold it
  const Bytes sealed = seal(*client_, Bytes(messages.begin(), messages.end()));
  for (std::size_t i = 0; i + 4 <= password.size(); ++i) {
    const auto piece = std::string_view(password).substr(i, 4);
    EXPECT_EQ(std::search(sealed.begin(), sealed.end(), piece.begin(), piece.end()), sealed.end())
        << piece;
  }
  const Opened o = open(*server_, sealed);
  ASSERT_EQ(o.reason, DropReason::None);
  EXPECT_TRUE(std::equal(o.plaintext.begin(), o.plaintext.end(), messages.begin(), messages.end()));
}

// seal refuses what it cannot send: no room, no count, too many messages, too long.
TEST_P(SecureData, SealRefusesBadArguments) {
  const Bytes text = text_of(64);
  Bytes out(text.size() + kDataOverhead - 1);
  EXPECT_EQ(client_->seal(DataHeader{1, 1, 0}, text, out), 0u);
  out.resize(text.size() + kDataOverhead);
  EXPECT_EQ(client_->seal(DataHeader{0, 1, 0}, text, out), 0u);
  EXPECT_EQ(client_->seal(DataHeader{65, 1, 0}, text, out), 0u);
  const Bytes huge = text_of(wire::kMaxDatagram);
  Bytes big(huge.size() + kDataOverhead);
  EXPECT_EQ(client_->seal(DataHeader{1, 1, 0}, huge, big), 0u);
  EXPECT_EQ(client_->next_send_counter(), 0u);  // nothing was sealed
}

INSTANTIATE_TEST_SUITE_P(Aeads, SecureData,
                         ::testing::Values(Aead::ChaCha20Poly1305, Aead::Aes256Gcm),
                         [](const ::testing::TestParamInfo<Aead>& param_info) {
                           return param_info.param == Aead::ChaCha20Poly1305 ? "ChaCha20Poly1305"
                                                                             : "Aes256Gcm";
                         });

// The window's edges: kWindow counters back from the highest are accepted, one more is Stale.
TEST(ReplayWindow, Edges) {
  ReplayWindow w;
  EXPECT_EQ(w.accept(0), DropReason::None);
  EXPECT_EQ(w.accept(0), DropReason::Replayed);
  EXPECT_EQ(w.accept(5000), DropReason::None);
  EXPECT_EQ(w.check(5000 - ReplayWindow::kWindow + 1), DropReason::None);
  EXPECT_EQ(w.check(5000 - ReplayWindow::kWindow), DropReason::Stale);
  EXPECT_EQ(w.accept(4999), DropReason::None);
  EXPECT_EQ(w.accept(4999), DropReason::Replayed);
  // Jump by a bit more than a word at a time: cleared words must not keep old bits.
  for (std::uint64_t c = 5000 + 65; c < 20000; c += 65) {
    ASSERT_EQ(w.accept(c), DropReason::None) << c;
    ASSERT_EQ(w.check(c - 64), DropReason::None) << c;  // never seen, still in the window
  }
}

// A window full of accepted counters slides by less than its width: the words it reuses are
// cleared, so every counter new to it is accepted once.
TEST(ReplayWindow, SlidingReusesWordsCleared) {
  ReplayWindow w;
  for (std::uint64_t c = 0; c < ReplayWindow::kWindow; ++c) {
    ASSERT_EQ(w.accept(c), DropReason::None) << c;
  }
  const std::uint64_t top = ReplayWindow::kWindow + 1000;
  ASSERT_EQ(w.accept(top), DropReason::None);
  for (std::uint64_t c = ReplayWindow::kWindow; c < top; ++c) {
    ASSERT_EQ(w.accept(c), DropReason::None) << c;
    ASSERT_EQ(w.accept(c), DropReason::Replayed) << c;
  }
  for (std::uint64_t c = top - ReplayWindow::kWindow + 1; c < ReplayWindow::kWindow; ++c) {
    ASSERT_EQ(w.check(c), DropReason::Replayed) << c;  // accepted before the slide, still in it
  }
}

// A counter at the limit is refused; a jump beyond the window (to just below the limit) forgets
// everything before it.
TEST(ReplayWindow, LimitIsRefusedAndFarJumpForgets) {
  ReplayWindow w;
  EXPECT_EQ(w.accept(20000), DropReason::None);
  EXPECT_EQ(w.accept(ReplayWindow::kLimit), DropReason::Malformed);
  EXPECT_EQ(w.accept(ReplayWindow::kLimit - 1), DropReason::None);
  EXPECT_EQ(w.check(20000), DropReason::Stale);
}

// peek tells handshake messages from data datagrams by the header alone.
TEST(SecurePeek, TellsKinds) {
  Pair p;
  const Bytes init = p.init();
  const Peeked pi = peek(init);
  EXPECT_EQ(pi.reason, DropReason::None);
  EXPECT_TRUE(pi.handshake);
  EXPECT_EQ(pi.kind, Kind::HandshakeInit);
  EXPECT_EQ(pi.index, 77u);
  Bytes acdp1(64, 0);
  const wire::DatagramHeader v1{wire::kMagic, 1, 1, 64, 5, 0};
  std::memcpy(acdp1.data(), &v1, sizeof v1);
  EXPECT_EQ(peek(acdp1).reason, DropReason::Malformed);  // ACDP/1 is not ACDP/2
  Bytes data = acdp1;
  data[4] = kVersion;
  EXPECT_EQ(peek(data).reason, DropReason::None);  // the same header as version 2: a data datagram
  EXPECT_FALSE(peek(data).handshake);
  data[5] = 0;
  EXPECT_EQ(peek(data).reason, DropReason::Malformed);  // no messages
  data[5] = 65;
  EXPECT_EQ(peek(data).reason, DropReason::Malformed);  // more than 64
  EXPECT_EQ(peek(Bytes(3, 0)).reason, DropReason::Malformed);
}

// ---- Keys --------------------------------------------------------------------------------------

// Public keys go to base64 and back; anything but 32 bytes of base64 is refused.
TEST(SecureKeys, Base64RoundTripAndRefusals) {
  const StaticKeyPair k = generate_key_pair();
  EXPECT_EQ(public_key_of(k.secret), k.public_key);
  const std::string text = to_base64(k.public_key);
  EXPECT_EQ(text.size(), 44u);
  const auto back = public_key_from_base64("  " + text + "\n");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, k.public_key);
  EXPECT_FALSE(public_key_from_base64(""));
  EXPECT_FALSE(public_key_from_base64(text.substr(0, 40)));
  EXPECT_FALSE(public_key_from_base64(text + "AAAA"));
  EXPECT_FALSE(public_key_from_base64("!" + text.substr(1)));
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("acd_key_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

// A written key file is 0600 and loads back to the same key pair; 0640 and raw bytes load too.
TEST_F(KeyFile, WriteThenLoad) {
  const StaticKeyPair k = generate_key_pair();
  const std::string f = path("acdd.key");
  ASSERT_EQ(write_secret_key_file(f, k.secret), "");
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  KeyFileResult r = load_secret_key_file(f);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.keys->public_key, k.public_key);
  ::chmod(f.c_str(), 0640);
  EXPECT_TRUE(load_secret_key_file(f).ok());
  // An existing file is not replaced.
  EXPECT_NE(write_secret_key_file(f, generate_key_pair().secret), "");
  EXPECT_EQ(load_secret_key_file(f).keys->public_key, k.public_key);

  const std::string raw = path("raw.key");
  {
    std::ofstream out(raw, std::ios::binary);
    out.write(reinterpret_cast<const char*>(k.secret.data()), kKeyBytes);
  }
  ::chmod(raw.c_str(), 0600);
  r = load_secret_key_file(raw);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.keys->public_key, k.public_key);
}

// A key file others may read or change, a directory, a missing file or a file that holds no key
// is refused with a message naming the file and the fix.
TEST_F(KeyFile, RefusesLooseModesAndBadContent) {
  const std::string f = path("acdd.key");
  ASSERT_EQ(write_secret_key_file(f, generate_key_pair().secret), "");
  for (const mode_t bad : {0644, 0604, 0660, 0620, 0602, 0601}) {
    ::chmod(f.c_str(), bad);
    const KeyFileResult r = load_secret_key_file(f);
    EXPECT_FALSE(r.ok()) << std::oct << bad;
    EXPECT_NE(r.error.find(f), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("chmod 0600"), std::string::npos) << r.error;
  }
  EXPECT_FALSE(load_secret_key_file(path("missing.key")).ok());
  EXPECT_FALSE(load_secret_key_file(dir_.string()).ok());
  const std::string junk = path("junk.key");
  {
    std::ofstream out(junk);
    out << "not a key at all\n";
  }
  ::chmod(junk.c_str(), 0600);
  const KeyFileResult r = load_secret_key_file(junk);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("not a key"), std::string::npos) << r.error;
}

// Drop reasons have metric labels and help.
TEST(SecureDropReasons, NamesAndHelp) {
  EXPECT_EQ(drop_reason_name(DropReason::BadTag), "bad_tag");
  EXPECT_EQ(drop_reason_name(DropReason::UnknownSession), "unknown_session");
  for (std::size_t i = 1; i <= kDropReasonCount; ++i) {
    EXPECT_FALSE(drop_reason_help(static_cast<DropReason>(i)).empty());
    EXPECT_NE(drop_reason_name(static_cast<DropReason>(i)), "unknown");
  }
}

}  // namespace
}  // namespace acd::dataplane::secure
