// A test's ACDP/2 client: its static key pair, its handshake, its session, and the sealing and
// opening of ACDP/1 datagrams under it. Shared by the tests that drive the pipeline with ACDP/2
// over any port (in memory, DPDK's virtual devices).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/session_layer.hpp"

namespace acd::dataplane {

using Bytes = std::vector<std::uint8_t>;

inline std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

struct Reply {
  wire::Type type;
  std::uint64_t seq;
  Bytes body;
  template <typename Body>
  Body as() const {
    Body b;
    std::memcpy(&b, body.data(), sizeof(b));
    return b;
  }
};

// One ACDP/2 client: its key pair, its handshake, its session.
struct SecurePeer {
  SecurePeer(std::string n, Endpoint e, const secure::PublicKey& server)
      : name(std::move(n)),
        endpoint(e),
        keys(secure::generate_key_pair()),
        initiator(keys, server, 7) {}
  std::string name;
  Endpoint endpoint;
  secure::StaticKeyPair keys;
  secure::Initiator initiator;
  std::optional<secure::SessionCipher> cipher;
  std::uint32_t index = 0;
  std::uint64_t seq = 0;
  std::uint64_t wall = 1'800'000'000'000'000'000;

  Bytes init() {
    Bytes out(sizeof(secure::HandshakeInit));
    EXPECT_EQ(initiator.make_init(wall += 1000, steady_ns(), out), out.size());
    return out;
  }
  // An ACDP/1 datagram of one message (the client ID on it is the client's own choice: 999).
  template <typename Body>
  Bytes clear(wire::Type type, const Body& body, std::uint64_t use_seq = 0) {
    Bytes buf(wire::kMaxSendDatagram);
    DatagramWriter w(buf, 999);
    EXPECT_TRUE(w.add(type, use_seq != 0 ? use_seq : ++seq, body));
    buf.resize(w.finish());
    return buf;
  }
  Bytes seal(const Bytes& acdp1) {
    wire::DatagramHeader h;
    std::memcpy(&h, acdp1.data(), sizeof h);
    Bytes out(acdp1.size() + secure::kDataOverhead);
    const std::size_t n = cipher->seal(
        secure::DataHeader{h.count, index, 0},
        std::span<const std::uint8_t>(acdp1).subspan(sizeof(wire::DatagramHeader)), out);
    EXPECT_GT(n, 0u);
    out.resize(n);
    return out;
  }
  template <typename Body>
  Bytes one(wire::Type type, const Body& body, std::uint64_t use_seq = 0) {
    return seal(clear(type, body, use_seq));
  }
  // The messages of a datagram acd sent; false if it does not open with this session.
  bool open(const Bytes& d, std::vector<Reply>& out) {
    Bytes plain(d.size());
    const secure::Opened o = cipher->open(d, plain);
    if (o.reason != secure::DropReason::None) {
      return false;
    }
    Bytes acdp1(sizeof(wire::DatagramHeader));
    const wire::DatagramHeader h{
        wire::kMagic,
        wire::kVersion,
        o.header.count,
        static_cast<std::uint16_t>(sizeof(wire::DatagramHeader) + o.plaintext.size()),
        index,
        o.header.epoch};
    std::memcpy(acdp1.data(), &h, sizeof h);
    acdp1.insert(acdp1.end(), o.plaintext.begin(), o.plaintext.end());
    wire::DatagramHeader parsed;
    EXPECT_EQ(check_header(acdp1, parsed), HeaderCheck::Ok);
    for_each_message(
        acdp1, parsed,
        [&](const Message& m) {
          out.push_back(
              {m.type, m.seq,
               Bytes(m.body, m.body + wire::body_size(static_cast<std::uint16_t>(m.type)))});
        },
        [](std::uint64_t, wire::WireError e) {
          ADD_FAILURE() << "acd sent a bad message " << int(e);
        });
    return true;
  }
};

}  // namespace acd::dataplane
