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

// Field-by-field equality of each message body (reserved bytes aside).
void expect_same(const Register& a, const Register& b) {
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.nonce, b.nonce);
}
void expect_same(const Heartbeat& a, const Heartbeat& b) {
  EXPECT_EQ(a.sent_ns, b.sent_ns);
}
void expect_same(const RouteRequest& a, const RouteRequest& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.media, b.media);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.verification, b.verification);
  EXPECT_EQ(a.language, b.language);
  EXPECT_EQ(a.skill_count, b.skill_count);
  for (std::size_t i = 0; i < std::size(a.skills); ++i) {
    EXPECT_EQ(a.skills[i].skill, b.skills[i].skill) << i;
    EXPECT_EQ(a.skills[i].min_level, b.skills[i].min_level) << i;
  }
}
void expect_same(const RouteResponse& a, const RouteResponse& b) {
  EXPECT_EQ(a.reply_to, b.reply_to);
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.result, b.result);
  EXPECT_EQ(a.action, b.action);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.agent_number, b.agent_number);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.position, b.position);
  EXPECT_EQ(a.ewt_ms, b.ewt_ms);
  EXPECT_EQ(a.target, b.target);
}
void expect_same(const Offer& a, const Offer& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.queue, b.queue);
}
void expect_same(const OfferResult& a, const OfferResult& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.accepted, b.accepted);
}
void expect_same(const CallEvent& a, const CallEvent& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.kind, b.kind);
}
void expect_same(const AgentEvent& a, const AgentEvent& b) {
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.agent_number, b.agent_number);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(std::memcmp(a.password, b.password, sizeof(a.password)), 0);
}
void expect_same(const TransferRequest& a, const TransferRequest& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.agent_number, b.agent_number);
}
void expect_same(const OutboundRequest& a, const OutboundRequest& b) {
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.media, b.media);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.agent_number, b.agent_number);
}
void expect_same(const Ack& a, const Ack& b) {
  EXPECT_EQ(a.reply_to, b.reply_to);
  EXPECT_EQ(a.status, b.status);
}
void expect_same(const Error& a, const Error& b) {
  EXPECT_EQ(a.reply_to, b.reply_to);
  EXPECT_EQ(a.reason, b.reason);
}

// Every message type survives encode and decode unchanged, every field of its body included (each
// set to a distinct value, up to the body's last byte).
TEST(Codec, RoundTripsEveryType) {
  const Register reg{2, 0, 0x0123'4567'89AB'CDEFull};
  const Heartbeat hb{0x1122'3344'5566'7788ull, 0};
  RouteRequest rr{};
  rr.call_id = 77;
  rr.queue = 3;
  rr.media = 2;
  rr.priority = 9;
  rr.tier = 3;
  rr.verification = 2;
  rr.language = 0xFFFF;
  rr.skill_count = 4;
  rr.skills[0] = {5, 3, 0};
  rr.skills[1] = {6, 10, 0};
  rr.skills[2] = {700, 1, 0};
  rr.skills[3] = {0xFFFE, 7, 0};
  RouteResponse resp{};
  resp.reply_to = 41;
  resp.call_id = 78;
  resp.result = RouteResult::Overflow;
  resp.action = 2;
  resp.status = 1003;
  resp.agent = 12;
  resp.agent_number = 5012;
  resp.queue = 4;
  resp.position = 17;
  resp.ewt_ms = 90'000;
  resp.target = 0xDEAD'BEEF;  // the body's last four bytes
  const Offer offer{79, 13, 5, 0};
  const OfferResult ofr{80, 1, {}};
  const CallEvent ce{81, CallEventKind::Held, {}};
  AgentEvent ae{};
  ae.agent = 14;
  ae.kind = AgentEventKind::NotReady;
  ae.reason = 6;
  ae.agent_number = 5014;
  ae.device = 8014;
  for (std::size_t i = 0; i < sizeof(ae.password); ++i) {
    ae.password[i] = static_cast<char>('!' + i % 90);  // every byte, none zero
  }
  const TransferRequest tr{82, TransferKind::ToAgentId, {}, 6, 5001};
  const OutboundRequest ob{83, OutboundKind::ByAgentId, 1, 0, 2, 5002};
  const Ack ack{84, 7, 0, 0};
  const Error err{85, 1003, {}};

  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, 3);
  ASSERT_TRUE(w.add(Type::Register, 1, reg));
  ASSERT_TRUE(w.add(Type::Heartbeat, 2, hb));
  ASSERT_TRUE(w.add(Type::RouteRequest, 3, rr));
  ASSERT_TRUE(w.add(Type::RouteResponse, 4, resp));
  ASSERT_TRUE(w.add(Type::Offer, 5, offer));
  ASSERT_TRUE(w.add(Type::OfferResult, 6, ofr));
  ASSERT_TRUE(w.add(Type::CallEvent, 7, ce));
  ASSERT_TRUE(w.add(Type::AgentEvent, 8, ae));
  ASSERT_TRUE(w.add(Type::TransferRequest, 9, tr));
  ASSERT_TRUE(w.add(Type::OutboundRequest, 10, ob));
  ASSERT_TRUE(w.add(Type::Ack, 11, ack));
  ASSERT_TRUE(w.add(Type::Error, 12, err));
  buf.resize(w.finish());
  const Collected c = walk(buf);
  EXPECT_TRUE(c.bad.empty());
  ASSERT_EQ(c.good.size(), 12u);
  for (std::size_t i = 0; i < c.good.size(); ++i) {
    EXPECT_EQ(c.good[i].type, static_cast<Type>(i + 1));
    EXPECT_EQ(c.good[i].seq, i + 1);
  }
  expect_same(c.good[0].as<Register>(), reg);
  expect_same(c.good[1].as<Heartbeat>(), hb);
  expect_same(c.good[2].as<RouteRequest>(), rr);
  expect_same(c.good[3].as<RouteResponse>(), resp);
  expect_same(c.good[4].as<Offer>(), offer);
  expect_same(c.good[5].as<OfferResult>(), ofr);
  expect_same(c.good[6].as<CallEvent>(), ce);
  expect_same(c.good[7].as<AgentEvent>(), ae);
  expect_same(c.good[8].as<TransferRequest>(), tr);
  expect_same(c.good[9].as<OutboundRequest>(), ob);
  expect_same(c.good[10].as<Ack>(), ack);
  expect_same(c.good[11].as<Error>(), err);
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

// The writer refuses a message that would overflow the datagram, and a 65th message even when
// there is room for it (messages with empty bodies: 64 of them fill 1,040 of the 1,472 bytes); a
// refused message leaves what was written intact.
TEST(Codec, WriterLimits) {
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, 1);
  Heartbeat hb{};
  std::size_t added = 0;
  while (w.add(Type::Heartbeat, added + 1, hb)) {
    ++added;
  }
  const std::size_t fit =
      (kMaxSendDatagram - sizeof(DatagramHeader)) / (sizeof(MessageHeader) + sizeof(hb));
  ASSERT_LT(fit, kMaxMessages);
  EXPECT_EQ(added, fit);
  EXPECT_LE(w.finish(), kMaxSendDatagram);

  DatagramWriter empty(buf, 1);
  static_assert(sizeof(DatagramHeader) + (kMaxMessages + 1) * sizeof(MessageHeader) <=
                kMaxSendDatagram);
  const std::uint8_t no_body[1] = {};
  added = 0;
  while (empty.add(static_cast<Type>(99), added + 1, no_body, 0)) {
    ++added;
  }
  EXPECT_EQ(added, kMaxMessages);
  EXPECT_EQ(empty.count(), kMaxMessages);
  const std::size_t length = empty.finish();
  EXPECT_EQ(length, sizeof(DatagramHeader) + kMaxMessages * sizeof(MessageHeader));
  DatagramHeader h;
  ASSERT_EQ(check_header(std::span<const std::uint8_t>(buf.data(), length), h), HeaderCheck::Ok);
  EXPECT_EQ(h.count, kMaxMessages);
}

}  // namespace
}  // namespace acd::dataplane
