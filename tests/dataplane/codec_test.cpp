// The ACDP/1 codec: every message type round-trips, and every malformed datagram or message is
// rejected with the right reason.
#include <gtest/gtest.h>

#include <vector>

#include "acd/dataplane/codec.hpp"

namespace acd::dataplane {
namespace {

using namespace wire;

std::vector<std::uint8_t> datagram_of(Type type, std::uint64_t seq, const void* body,
                                      std::size_t size, std::uint32_t client = 9) {
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, client);
  EXPECT_TRUE(w.add(type, seq, body, size));
  buf.resize(w.finish());
  return buf;
}

struct Collected {
  std::vector<Message> good;
  std::vector<std::pair<std::uint64_t, WireError>> bad;
};

Collected walk(const std::vector<std::uint8_t>& d) {
  Collected c;
  DatagramHeader h;
  EXPECT_EQ(check_header(d, h), HeaderCheck::Ok);
  for_each_message(
      d, h, [&](const Message& m) { c.good.push_back(m); },
      [&](std::uint64_t seq, WireError e) { c.bad.emplace_back(seq, e); });
  return c;
}

// Every message type survives encode and decode unchanged.
TEST(Codec, RoundTripsEveryType) {
  RouteRequest rr{};
  rr.call_id = 77;
  rr.queue = 3;
  rr.priority = 9;
  rr.skill_count = 2;
  rr.skills[0] = {5, 3, 0};
  rr.skills[1] = {6, 10, 0};
  rr.language = 0xFFFF;
  auto d = datagram_of(Type::RouteRequest, 41, &rr, sizeof(rr));
  auto c = walk(d);
  ASSERT_EQ(c.good.size(), 1u);
  EXPECT_EQ(c.good[0].seq, 41u);
  const auto back = c.good[0].as<RouteRequest>();
  EXPECT_EQ(std::memcmp(&back, &rr, sizeof(rr)), 0);

  Register reg{2, 0, 123};
  Heartbeat hb{555, 0};
  RouteResponse resp{};
  resp.result = RouteResult::Queued;
  Offer offer{1, 2, 3, 0};
  OfferResult ofr{1, 1, {}};
  CallEvent ce{1, CallEventKind::Held, {}};
  AgentEvent ae{};
  ae.kind = AgentEventKind::Ready;
  TransferRequest tr{1, TransferKind::ToAgentId, {}, 0, 5001};
  OutboundRequest ob{1, OutboundKind::ByQueue, 0, 0, 2, 0};
  Ack ack{4, 0, {}};
  Error err{4, 1003, {}};
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, 3);
  ASSERT_TRUE(w.add(Type::Register, 1, reg));
  ASSERT_TRUE(w.add(Type::Heartbeat, 2, hb));
  ASSERT_TRUE(w.add(Type::RouteResponse, 3, resp));
  ASSERT_TRUE(w.add(Type::Offer, 4, offer));
  ASSERT_TRUE(w.add(Type::OfferResult, 5, ofr));
  ASSERT_TRUE(w.add(Type::CallEvent, 6, ce));
  ASSERT_TRUE(w.add(Type::AgentEvent, 7, ae));
  ASSERT_TRUE(w.add(Type::TransferRequest, 8, tr));
  ASSERT_TRUE(w.add(Type::OutboundRequest, 9, ob));
  ASSERT_TRUE(w.add(Type::Ack, 10, ack));
  ASSERT_TRUE(w.add(Type::Error, 11, err));
  buf.resize(w.finish());
  c = walk(buf);
  ASSERT_EQ(c.good.size(), 11u);
  EXPECT_TRUE(c.bad.empty());
  const Type expected[] = {
      Type::Register,        Type::Heartbeat, Type::RouteResponse, Type::Offer,
      Type::OfferResult,     Type::CallEvent, Type::AgentEvent,    Type::TransferRequest,
      Type::OutboundRequest, Type::Ack,       Type::Error};
  for (std::size_t i = 0; i < c.good.size(); ++i) {
    EXPECT_EQ(c.good[i].type, expected[i]);
    EXPECT_EQ(c.good[i].seq, i + 1);
  }
  EXPECT_EQ(c.good[7].as<TransferRequest>().agent_number, 5001u);
}

// Datagram headers: too short, wrong magic, version, declared length, message count.
TEST(Codec, RejectsBadHeaders) {
  Heartbeat hb{1, 0};
  const auto good = datagram_of(Type::Heartbeat, 1, &hb, sizeof(hb));
  DatagramHeader h;
  EXPECT_EQ(check_header(std::span<const std::uint8_t>(good.data(), 10), h), HeaderCheck::BadMagic);
  auto bad = good;
  bad[0] ^= 1;
  EXPECT_EQ(check_header(bad, h), HeaderCheck::BadMagic);
  bad = good;
  bad[4] = 2;
  EXPECT_EQ(check_header(bad, h), HeaderCheck::BadVersion);
  bad = good;
  bad.push_back(0);
  EXPECT_EQ(check_header(bad, h), HeaderCheck::BadLength);
  bad = good;
  bad[5] = 0;
  EXPECT_EQ(check_header(bad, h), HeaderCheck::BadLength);
  bad = good;
  bad[5] = 65;
  EXPECT_EQ(check_header(bad, h), HeaderCheck::BadLength);
}

// Messages: unknown type is skipped, wrong length stops the walk, out-of-range fields are refused,
// and good messages around a bad one still come through.
TEST(Codec, RejectsBadMessages) {
  RouteRequest rr{};
  rr.call_id = 5;
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, 3);
  ASSERT_TRUE(w.add(Type::RouteRequest, 1, rr));
  RouteRequest bad_priority = rr;
  bad_priority.priority = 16;
  ASSERT_TRUE(w.add(Type::RouteRequest, 2, bad_priority));
  Heartbeat hb{};
  ASSERT_TRUE(w.add(static_cast<Type>(99), 3, hb));  // unknown type, plausible length
  ASSERT_TRUE(w.add(Type::RouteRequest, 4, rr));
  buf.resize(w.finish());
  auto c = walk(buf);
  ASSERT_EQ(c.good.size(), 2u);
  EXPECT_EQ(c.good[0].seq, 1u);
  EXPECT_EQ(c.good[1].seq, 4u);
  ASSERT_EQ(c.bad.size(), 2u);
  EXPECT_EQ(c.bad[0], std::make_pair(std::uint64_t{2}, WireError::BadField));
  EXPECT_EQ(c.bad[1], std::make_pair(std::uint64_t{3}, WireError::BadType));

  // A message length that disagrees with its type ends the walk.
  auto d = datagram_of(Type::RouteRequest, 7, &rr, sizeof(rr));
  d[16 + 2] = 48;  // length field of the first message
  c = walk(d);
  EXPECT_TRUE(c.good.empty());
  ASSERT_EQ(c.bad.size(), 1u);
  EXPECT_EQ(c.bad[0].second, WireError::BadLength);

  // Field checks of each request type.
  struct Case {
    Type type;
    std::vector<std::uint8_t> body;
  };
  auto bytes = [](const auto& b) {
    std::vector<std::uint8_t> v(sizeof(b));
    std::memcpy(v.data(), &b, sizeof(b));
    return v;
  };
  RouteRequest zero_call{};
  RouteRequest bad_media = rr;
  bad_media.media = 4;
  RouteRequest bad_skill = rr;
  bad_skill.skill_count = 1;
  bad_skill.skills[0].min_level = 0;
  RouteRequest many_skills = rr;
  many_skills.skill_count = 5;
  CallEvent bad_kind{1, static_cast<CallEventKind>(9), {}};
  AgentEvent bad_agent{};
  bad_agent.kind = static_cast<AgentEventKind>(0);
  TransferRequest bad_transfer{1, static_cast<TransferKind>(4), {}, 0, 0};
  OutboundRequest bad_outbound{1, OutboundKind::ByQueue, 7, 0, 0, 0};
  Register bad_role{0, 0, 0};
  OfferResult bad_offer{1, 2, {}};
  for (const Case& k :
       {Case{Type::RouteRequest, bytes(zero_call)}, Case{Type::RouteRequest, bytes(bad_media)},
        Case{Type::RouteRequest, bytes(bad_skill)}, Case{Type::RouteRequest, bytes(many_skills)},
        Case{Type::CallEvent, bytes(bad_kind)}, Case{Type::AgentEvent, bytes(bad_agent)},
        Case{Type::TransferRequest, bytes(bad_transfer)},
        Case{Type::OutboundRequest, bytes(bad_outbound)}, Case{Type::Register, bytes(bad_role)},
        Case{Type::OfferResult, bytes(bad_offer)}}) {
    const auto dg = datagram_of(k.type, 1, k.body.data(), k.body.size());
    c = walk(dg);
    EXPECT_TRUE(c.good.empty()) << static_cast<int>(k.type);
    ASSERT_EQ(c.bad.size(), 1u);
    EXPECT_EQ(c.bad[0].second, WireError::BadField) << static_cast<int>(k.type);
  }
}

// The writer refuses a message that would overflow the datagram or the 64-message limit.
TEST(Codec, WriterLimits) {
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, 1);
  Heartbeat hb{};
  std::size_t added = 0;
  while (w.add(Type::Heartbeat, added + 1, hb)) {
    ++added;
  }
  EXPECT_EQ(added,
            (kMaxSendDatagram - sizeof(DatagramHeader)) / (sizeof(MessageHeader) + sizeof(hb)));
  EXPECT_LE(w.finish(), kMaxSendDatagram);
}

}  // namespace
}  // namespace acd::dataplane
