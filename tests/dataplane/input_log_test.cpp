// The sequenced input log: records round-trip and refuse garbage; a second node that replays a
// primary's log reaches the same engine state and the same session (reply cache included, so a
// retransmission to it gets the primary's answer); node images restore that state; and with a
// log shipper, replies leave only once the log has acknowledged the inputs that caused them.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace acd::dataplane {
namespace {

using namespace wire;

router::EngineConfig centre() {
  router::EngineConfig c;
  c.skill_count = 2;
  c.max_calls = 64;
  router::QueueConfig q;
  q.name = "cards";
  q.skills = {router::SkillRequirement{0, 1, 0}};
  q.ring_timeout_ms = 5000;
  c.queues.push_back(q);
  for (router::AgentNumber n : {101, 102, 103}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}, router::SkillLevel{1, 3, 0}};
    c.agents.push_back(a);
  }
  return c;
}

// Keeps every record; releases what the test says.
class RecordingShipper final : public LogShipper {
 public:
  bool has_room() const override { return room; }
  void append(std::uint64_t seq, std::span<const std::uint8_t> record) override {
    EXPECT_EQ(seq, records.empty() ? first_seq : records.back().first + 1);
    records.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
  }
  void poll() override {}
  std::uint64_t released_through() const override { return released; }
  bool wants_image() override { return std::exchange(want, false); }
  void on_image(NodeImage image) override { images.push_back(std::move(image)); }

  bool room = true;
  bool want = false;
  std::uint64_t first_seq = 1;
  std::uint64_t released = ~std::uint64_t{0};
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> records;
  std::vector<NodeImage> images;
};

// One node: engine, in-memory port, run-to-completion worker, a credential verifier (agent N's
// password is "pw-N").
struct Node {
  explicit Node(LogShipper* shipper = nullptr, router::EngineConfig start = centre())
      : config(std::move(start)),
        engine(config),
        verifier(credentials),
        io(port, clock, &verifier, numbers(config), DataplaneConfig{}),
        router(engine) {
    for (router::AgentNumber n : numbers(config)) {
      credentials.set(n, "pw-" + std::to_string(n));
    }
    io.set_shipper(shipper);
    worker = std::make_unique<Worker>(engine, io);
  }
  static std::vector<router::AgentNumber> numbers(const router::EngineConfig& c) {
    std::vector<router::AgentNumber> out;
    for (const auto& a : c.agents) {
      out.push_back(a.number);
    }
    return out;
  }
  router::EngineConfig config;
  router::Engine engine;
  InMemoryCredentials credentials;
  AsyncVerifier verifier;
  MemoryPort port;
  ManualClock clock;
  IoStage io;
  RouterStage router;  // for replay (a standby applies on its own thread, no worker)
  std::unique_ptr<Worker> worker;
};

struct Peer {
  std::uint32_t id;
  Endpoint endpoint;
  std::uint64_t seq = 0;
  template <typename Body>
  std::vector<std::uint8_t> one(Type type, const Body& body, std::uint64_t use_seq = 0) {
    std::vector<std::uint8_t> buf(kMaxSendDatagram);
    DatagramWriter w(buf, id);
    EXPECT_TRUE(w.add(type, use_seq != 0 ? use_seq : ++seq, body));
    buf.resize(w.finish());
    return buf;
  }
};

// Every message the port sent to `to`, as (type, body bytes).
std::vector<std::pair<Type, std::vector<std::uint8_t>>> sent_to(MemoryPort& port, const Endpoint& to) {
  std::vector<std::pair<Type, std::vector<std::uint8_t>>> out;
  for (const auto& s : port.take_sent()) {
    if (!(s.to == to)) {
      continue;
    }
    DatagramHeader h;
    EXPECT_EQ(check_header(s.payload, h), HeaderCheck::Ok);
    for_each_message(
        s.payload, h,
        [&](const Message& m) {
          out.emplace_back(m.type, std::vector<std::uint8_t>(
                                       m.body, m.body + body_size(static_cast<std::uint16_t>(m.type))));
        },
        [](std::uint64_t, WireError) { ADD_FAILURE() << "a bad message was sent"; });
  }
  return out;
}

RouteRequest call(router::CallId id, std::uint8_t priority = 0) {
  RouteRequest r{};
  r.call_id = id;
  r.priority = priority;
  return r;
}

AgentEvent agent_event(AgentEventKind kind, router::AgentIndex agent) {
  AgentEvent e{};
  e.kind = kind;
  e.agent = agent;
  return e;
}

TEST(LogRecord, RoundTripsEveryKind) {
  LogRecord in;
  in.kind = RecordKind::Input;
  in.client_id = 77;
  in.request_seq = 123456789;
  in.request_type = Type::RouteRequest;
  in.event.type = router::EventType::RouteRequest;
  in.event.time = 987654321;
  in.event.call = 42;
  in.event.queue = 3;
  in.event.media = router::Media::Chat;
  in.event.priority = 7;
  in.event.tier = 2;
  in.event.verification = 1;
  in.event.language = 9;
  in.event.number = 5551234;
  in.event.device = 8101;
  in.event.agent = 17;
  in.event.reason = 4;
  in.event.skill_count = 2;
  in.event.skills[0] = router::SkillRequirement{4, 6, 0};
  in.event.skills[1] = router::SkillRequirement{5, 2, 0};
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(in, bytes);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span(bytes.data(), n), out));
  EXPECT_EQ(out.client_id, 77u);
  EXPECT_EQ(out.request_seq, 123456789u);
  EXPECT_EQ(out.request_type, Type::RouteRequest);
  // Field by field: the struct's padding is not part of the record.
  const router::Event& a = out.event;
  const router::Event& b = in.event;
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.call, b.call);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.agent, b.agent);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.media, b.media);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.verification, b.verification);
  EXPECT_EQ(a.skill_count, b.skill_count);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.language, b.language);
  for (int i = 0; i < router::kMaxCallSkills; ++i) {
    EXPECT_EQ(a.skills[i].skill, b.skills[i].skill) << i;
    EXPECT_EQ(a.skills[i].min_level, b.skills[i].min_level) << i;
  }

  LogRecord reg;
  reg.kind = RecordKind::Register;
  reg.client_id = 9;
  reg.nonce = 0xABCDEF;
  reg.endpoint = Endpoint{0x0100007f, 5060, 0};
  reg.role = Role::Desktop;
  const std::size_t m = encode_record(reg, bytes);
  ASSERT_TRUE(decode_record(std::span(bytes.data(), m), out));
  EXPECT_EQ(out.kind, RecordKind::Register);
  EXPECT_EQ(out.nonce, 0xABCDEFu);
  EXPECT_EQ(out.endpoint, reg.endpoint);
  EXPECT_EQ(out.role, Role::Desktop);

  LogRecord op;
  op.kind = RecordKind::Operation;
  op.client_id = 8;
  op.request_seq = 31;
  op.wall_ms = 1'795'000'000'123;
  op.agent_number = 101;
  op.operation.kind = static_cast<std::uint16_t>(OperationKind::LargeTransfer);
  op.operation.outcome = OperationOutcome::Refused;
  op.operation.ticket = 0xFEEDu;
  for (std::uint8_t i = 0; i < 32; ++i) {
    op.operation.customer_hash[i] = static_cast<std::uint8_t>(i * 7 + 1);
  }
  const std::size_t k = encode_record(op, bytes);
  ASSERT_LE(k, kMaxLogRecord);
  ASSERT_TRUE(decode_record(std::span(bytes.data(), k), out));
  EXPECT_EQ(out.kind, RecordKind::Operation);
  EXPECT_EQ(out.client_id, 8u);
  EXPECT_EQ(out.request_seq, 31u);
  EXPECT_EQ(out.wall_ms, op.wall_ms);
  EXPECT_EQ(out.agent_number, 101u);
  EXPECT_EQ(out.operation.kind, op.operation.kind);
  EXPECT_EQ(out.operation.outcome, OperationOutcome::Refused);
  EXPECT_EQ(out.operation.ticket, 0xFEEDu);
  EXPECT_EQ(0, std::memcmp(out.operation.customer_hash, op.operation.customer_hash, 32));
  bytes[6 + 8 + 8 + 8 + 2] = 9;  // no such outcome
  EXPECT_FALSE(decode_record(std::span(bytes.data(), k), out));
}

// A TokenRevoke record round-trips; one naming agent 0 is refused.
TEST(LogRecord, TokenRevokeRoundTrips) {
  LogRecord in;
  in.kind = RecordKind::TokenRevoke;
  in.client_id = kControlClientId;
  in.agent_number = 100042;
  in.wall_ms = 1'800'000'000'123;
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(in, bytes);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span<const std::uint8_t>(bytes.data(), n), out));
  EXPECT_EQ(out.kind, RecordKind::TokenRevoke);
  EXPECT_EQ(out.client_id, kControlClientId);
  EXPECT_EQ(out.agent_number, 100042u);
  EXPECT_EQ(out.wall_ms, in.wall_ms);
  in.agent_number = 0;
  const std::size_t m = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
}

// An ExportPosition carries the seq and index of the first record not known delivered; one of
// seq 0 (nothing has that seq) or cut short is refused.
TEST(LogRecord, ExportPositionRoundTrips) {
  LogRecord in;
  in.kind = RecordKind::ExportPosition;
  in.export_position = ExportPosition{0x0102'0304'0506'0708ull, 0x0A0B'0C0Du};
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(in, bytes);
  EXPECT_EQ(n, 2u + 4 + 8 + 4);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span<const std::uint8_t>(bytes.data(), n), out));
  EXPECT_EQ(out.kind, RecordKind::ExportPosition);
  EXPECT_EQ(out.client_id, kNoClientId);
  EXPECT_EQ(out.export_position, in.export_position);
  for (std::size_t cut = 0; cut < n; ++cut) {
    EXPECT_FALSE(decode_record(std::span(bytes.data(), cut), out)) << "cut at " << cut;
  }
  in.export_position = ExportPosition{0, 3};
  const std::size_t m = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
}

// The channel keeps the highest position offered and drops what does not fit.
TEST(ExportPositionChannel, TakesTheLatestAndStaysBounded) {
  ExportPositionChannel channel;
  EXPECT_TRUE(channel.take_latest().empty());
  EXPECT_TRUE(channel.offer({5, 1}));
  EXPECT_TRUE(channel.offer({9, 0}));
  EXPECT_TRUE(channel.offer({7, 2}));
  EXPECT_EQ(channel.take_latest(), (ExportPosition{9, 0}));
  EXPECT_TRUE(channel.take_latest().empty());
  std::size_t taken = 0;
  for (std::uint64_t s = 1; s <= 100; ++s) {
    taken += channel.offer({s, 0}) ? 1 : 0;
  }
  EXPECT_LT(taken, 100u);
  EXPECT_GE(taken, ExportPositionChannel::kCapacity - 1);
  EXPECT_EQ(channel.take_latest(), (ExportPosition{taken, 0}));
}

// A CredentialChange carries the agent, the request and the hash string; a record whose hash is
// not an argon2id string, of an unknown change or for agent 0 is refused.
TEST(LogRecord, CredentialChangeRoundTrips) {
  const std::string hash(97, 'x');
  const std::string full = "$argon2id$v=19$m=65536,t=2,p=1$" + hash;
  LogRecord in;
  in.kind = RecordKind::CredentialChange;
  in.client_id = 77;
  in.request_seq = 12;
  in.agent_number = 100042;
  in.wall_ms = 1'800'000'000'123;
  in.credential = CredentialChangeKind::Password;
  const std::string longest = full.substr(0, kCredentialHashBytes - 1);
  const std::string shorter = full.substr(0, 60);
  in.credential_hash = longest;
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(in, bytes);
  ASSERT_LE(n, kMaxLogRecord);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span<const std::uint8_t>(bytes.data(), n), out));
  EXPECT_EQ(out.kind, RecordKind::CredentialChange);
  EXPECT_EQ(out.client_id, 77u);
  EXPECT_EQ(out.request_seq, 12u);
  EXPECT_EQ(out.agent_number, 100042u);
  EXPECT_EQ(out.wall_ms, in.wall_ms);
  EXPECT_EQ(out.credential, CredentialChangeKind::Password);
  EXPECT_EQ(out.credential_hash, in.credential_hash);
  in.credential = CredentialChangeKind::EnrolmentSpent;
  std::size_t m = encode_record(in, bytes);
  ASSERT_TRUE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
  EXPECT_EQ(out.credential, CredentialChangeKind::EnrolmentSpent);
  in.credential_hash = "plain text";
  m = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
  in.credential_hash = shorter;
  in.agent_number = 0;
  m = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
  in.agent_number = 5;
  in.credential = static_cast<CredentialChangeKind>(3);
  m = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span<const std::uint8_t>(bytes.data(), m), out));
}

TEST(LogRecord, RefusesGarbage) {
  LogRecord in;
  in.kind = RecordKind::Input;
  in.event.type = router::EventType::AgentReady;
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(in, bytes);
  LogRecord out;
  for (std::size_t cut = 0; cut < n; ++cut) {
    EXPECT_FALSE(decode_record(std::span(bytes.data(), cut), out)) << "cut at " << cut;
  }
  auto bad = bytes;
  bad[0] = kLogRecordVersion + 1;  // a version this node does not know
  EXPECT_FALSE(decode_record(std::span(bad.data(), n), out));
  bad = bytes;
  bad[1] = 99;  // no such kind
  EXPECT_FALSE(decode_record(std::span(bad.data(), n), out));
  bad = bytes;
  bad[6 + 8 + 1 + 40] = 200;  // event type out of range
  EXPECT_FALSE(decode_record(std::span(bad.data(), n), out));
  std::vector<std::uint8_t> longer(bytes.begin(), bytes.begin() + static_cast<long>(n));
  longer.push_back(0);  // trailing bytes
  EXPECT_FALSE(decode_record(longer, out));
}

// Keeps what the IO stage reports for the audit trail.
class RecordingAudit final : public AgentAuditSink {
 public:
  void on_agent_event(const AgentAuditEvent& /*event*/) noexcept override {}
  void on_operation(const OperationAuditEvent& event) noexcept override {
    operations.push_back(event);
  }
  std::vector<OperationAuditEvent> operations;
};

class TwoNodes : public ::testing::Test {
 protected:
  TwoNodes() : primary_(&log_), standby_() {}

  void send(Peer& p, std::vector<std::uint8_t> datagram) {
    primary_.port.inject(p.endpoint, std::move(datagram));
    primary_.clock.advance(1000);
    primary_.worker->poll();
  }
  // The standby applies every record it has not seen yet.
  // Runs a reload command on the primary through its control channel; its result.
  CommandResult reload_on_primary(ControlChannel& channel, const Command& command,
                                  const ConfigTag* tag) {
    ControlRequest r;
    r.ticket = ++ticket_;
    r.command = command;
    r.config_tag = tag;
    EXPECT_TRUE(channel.submit(r));
    primary_.clock.advance(1000);
    primary_.worker->poll();
    ControlReply reply;
    EXPECT_TRUE(channel.take_reply(reply));
    EXPECT_EQ(reply.ticket, ticket_);
    return reply.result;
  }
  void follow() {
    for (; applied_ < log_.records.size(); ++applied_) {
      const auto& [seq, bytes] = log_.records[applied_];
      ASSERT_EQ(standby_.io.replay(seq, bytes, standby_.router), IoStage::Replay::Applied) << seq;
    }
  }
  // Signs agent 101 + a in at desk: its sign-in is verified off the routing core, then logged
  // as an input of that desktop, which binds the desktop to the agent.
  void sign_in(Peer& desk, router::AgentIndex a) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = 101 + a;
    const std::string password = "pw-" + std::to_string(101 + a);
    std::memcpy(e.password, password.data(), password.size());
    send(desk, desk.one(Type::AgentEvent, e));
    for (int i = 0; i < 2000 && primary_.io.client_agent(desk.id) != a; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      primary_.worker->poll();
    }
    ASSERT_EQ(primary_.io.client_agent(desk.id), a) << "watchdog: sign-in not accepted";
  }
  // A morning: two switches, three desktops, agents signed in, calls routed, queued, answered by
  // the agent's desktop, released by the switch, one declined, a ring-no-answer.
  void busy_morning() {
    send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
    send(sw2_, sw2_.one(Type::Register, Register{1, 0, 12}));
    for (Peer* d : {&desk_, &desk2_, &desk3_}) {
      send(*d, d->one(Type::Register, Register{2, 0, 13}));
    }
    for (router::CallId c = 1; c <= 6; ++c) {
      send(c % 2 ? sw_ : sw2_, (c % 2 ? sw_ : sw2_).one(Type::RouteRequest, call(c, static_cast<std::uint8_t>(c % 3))));
    }
    Peer* desks[] = {&desk_, &desk2_, &desk3_};
    for (router::AgentIndex a = 0; a < 3; ++a) {
      sign_in(*desks[a], a);
      send(*desks[a], desks[a]->one(Type::AgentEvent, agent_event(AgentEventKind::Ready, a)));
    }
    // Each desktop answers for the calls offered to its own agent.
    std::map<router::CallId, Peer*> offered;
    for (const auto& sent : primary_.port.take_sent()) {
      for (Peer* d : desks) {
        if (!(sent.to == d->endpoint)) {
          continue;
        }
        DatagramHeader h;
        ASSERT_EQ(check_header(sent.payload, h), HeaderCheck::Ok);
        for_each_message(
            sent.payload, h,
            [&](const Message& m) {
              if (m.type == Type::Offer) {
                offered[m.as<wire::Offer>().call_id] = d;
              }
            },
            [](std::uint64_t, WireError) {});
      }
    }
    ASSERT_EQ(offered.count(2), 1u);
    if (offered.count(1) == 1) {  // not when an earlier call 1 (lower priority) is in the way
      OfferResult yes{};
      yes.call_id = 1;
      yes.accepted = 1;
      send(*offered[1], offered[1]->one(Type::OfferResult, yes));
    }
    OfferResult no{};
    no.call_id = 2;
    no.accepted = 0;
    send(*offered[2], offered[2]->one(Type::OfferResult, no));
    CallEvent rel{};
    rel.kind = CallEventKind::Released;
    rel.call_id = 1;
    send(sw_, sw_.one(Type::CallEvent, rel));
    primary_.clock.advance(6'000'000);  // ring timeouts fire on the next tick
    primary_.worker->poll();
  }

  RecordingShipper log_;
  Node primary_;
  Node standby_;
  std::size_t applied_ = 0;
  std::uint64_t ticket_ = 0;
  Peer sw_{7, Endpoint{0x0100007f, 5060, 0}};
  Peer sw2_{17, Endpoint{0x0100007f, 5062, 0}};
  Peer desk_{8, Endpoint{0x0100007f, 6001, 0}};
  Peer desk2_{18, Endpoint{0x0100007f, 6002, 0}};
  Peer desk3_{28, Endpoint{0x0100007f, 6003, 0}};
};

// Replaying the primary's log gives the same engine state and the same session bytes, and a
// client that retransmits to the standby gets the primary's very reply, not a second decision.
TEST_F(TwoNodes, ReplayReachesTheSameState) {
  busy_morning();
  ASSERT_GT(log_.records.size(), 15u);
  follow();
  EXPECT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash());
  {
    const auto a = standby_.io.save_session();
    const auto b = primary_.io.save_session();
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    EXPECT_EQ(a, b) << "first difference at " << i << " of " << a.size() << "/" << b.size();
  }
  EXPECT_EQ(standby_.io.sequencer().next(), primary_.io.sequencer().next());
  EXPECT_TRUE(standby_.port.take_sent().empty()) << "a follower sends nothing";
  // The roles and the desktops' agents came with the log.
  EXPECT_EQ(standby_.io.client_role(sw_.id), Role::Switch);
  EXPECT_EQ(standby_.io.client_role(desk2_.id), Role::Desktop);
  EXPECT_EQ(standby_.io.client_agent(desk_.id), 0u);
  EXPECT_EQ(standby_.io.client_agent(desk2_.id), 1u);
  EXPECT_EQ(standby_.io.client_agent(desk3_.id), 2u);

  // Call 5's request (sw_'s 4th message) again, to each node: the same bytes, no new decision.
  auto first = sent_to(primary_.port, sw_.endpoint);
  primary_.port.inject(sw_.endpoint, sw_.one(Type::RouteRequest, call(5, 2), 4));
  primary_.worker->poll();
  const auto from_primary = sent_to(primary_.port, sw_.endpoint);
  standby_.clock.set(primary_.clock.now());  // the standby's clock continues the log's time
  const std::uint64_t events = standby_.engine.counters().events;
  standby_.port.inject(sw_.endpoint, sw_.one(Type::RouteRequest, call(5, 2), 4));
  standby_.worker->poll();
  const auto from_standby = sent_to(standby_.port, sw_.endpoint);
  ASSERT_EQ(from_primary.size(), 1u);
  EXPECT_EQ(from_primary[0].first, Type::RouteResponse);
  EXPECT_EQ(from_standby, from_primary);
  EXPECT_EQ(standby_.engine.counters().events, events);
}

// An answer given only here (a Register's Ack, which changes nothing and so is not logged) must
// not push a logged reply out of the primary's window: the standby, which never saw it, keeps that
// reply, and the two nodes' images would differ.
TEST_F(TwoNodes, LocalAnswersLeaveTheLoggedRepliesAlone) {
  busy_morning();
  // sw_'s second message (call 1's request) was answered through the log; a Register numbered
  // one window later falls on its place in the cache.
  const std::uint64_t answered = 2;
  const std::uint64_t window = DataplaneConfig{}.reply_cache_per_client;
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}, answered + window));
  follow();
  const auto a = standby_.io.save_session();
  const auto b = primary_.io.save_session();
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  EXPECT_EQ(a, b) << "first difference at " << i << " of " << a.size() << "/" << b.size();
  // The Register is still answered, and a retransmission of it again.
  const auto acks = sent_to(primary_.port, sw_.endpoint);
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().first, Type::Ack);
  primary_.port.inject(sw_.endpoint, sw_.one(Type::Register, Register{1, 0, 11}, answered + window));
  primary_.worker->poll();
  const auto again = sent_to(primary_.port, sw_.endpoint);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].first, Type::Ack);
}

// A standby that joins late starts from an image (engine + session) and follows the rest of the
// log to the same state; a damaged image is refused and changes nothing.
TEST_F(TwoNodes, ImageThenLogReachesTheSameState) {
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
  send(sw_, sw_.one(Type::RouteRequest, call(1)));
  log_.want = true;
  primary_.clock.advance(2000);
  primary_.worker->poll();  // the capture goes through the log like any input
  ASSERT_EQ(log_.images.size(), 1u);
  const NodeImage image = log_.images[0];
  EXPECT_EQ(image.seq, log_.records.back().first);
  busy_morning();

  Node late;
  const std::vector<std::uint8_t> before = late.io.save_session();
  auto broken = image.session;
  broken.resize(broken.size() - 1);
  EXPECT_FALSE(late.io.restore_session(broken));
  EXPECT_EQ(late.io.save_session(), before);

  const auto bytes = encode_image(image);
  NodeImage decoded;
  ASSERT_TRUE(decode_image(bytes, decoded));
  ASSERT_TRUE(late.engine.restore(decoded.engine));
  ASSERT_TRUE(late.io.restore_session(decoded.session));
  EXPECT_EQ(late.io.sequencer().next(), image.seq + 1);
  for (const auto& [seq, record] : log_.records) {
    if (seq > image.seq) {
      ASSERT_EQ(late.io.replay(seq, record, late.router), IoStage::Replay::Applied) << seq;
    }
  }
  EXPECT_EQ(late.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(late.io.save_session(), primary_.io.save_session());

  // An image taken now holds the desktops' agents and roles: a node restored from it binds the
  // same desktops (and refuses another desktop acting for an agent).
  log_.want = true;
  primary_.clock.advance(2000);
  primary_.worker->poll();
  ASSERT_EQ(log_.images.size(), 2u);
  Node later;
  ASSERT_TRUE(later.engine.restore(log_.images[1].engine));
  ASSERT_TRUE(later.io.restore_session(log_.images[1].session));
  EXPECT_EQ(later.io.save_session(), log_.images[1].session);
  EXPECT_EQ(later.io.client_role(desk_.id), Role::Desktop);
  EXPECT_EQ(later.io.client_role(sw2_.id), Role::Switch);
  EXPECT_EQ(later.io.client_agent(desk_.id), 0u);
  EXPECT_EQ(later.io.client_agent(desk3_.id), 2u);
  later.clock.set(primary_.clock.now());
  AgentEvent out{};
  out.kind = AgentEventKind::SignOut;
  out.agent = 0;
  later.port.inject(desk3_.endpoint, desk3_.one(Type::AgentEvent, out));
  later.worker->poll();
  const auto got = sent_to(later.port, desk3_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  Error err;
  std::memcpy(&err, got[0].second.data(), sizeof(err));
  EXPECT_EQ(err.reason, static_cast<std::uint16_t>(WireError::NotYourAgent));
}

// A standby that takes over holds each desktop to its own agent, as the primary did: another
// desktop's sign-out of an agent is refused there too, the agent's own is applied.
TEST_F(TwoNodes, PromotedStandbyKnowsWhoSignedInWhom) {
  busy_morning();
  follow();
  standby_.clock.set(primary_.clock.now());
  const std::uint64_t hash = standby_.engine.state_hash();
  AgentEvent out{};
  out.kind = AgentEventKind::SignOut;
  out.agent = 2;
  standby_.port.inject(desk2_.endpoint, desk2_.one(Type::AgentEvent, out));
  standby_.worker->poll();
  auto got = sent_to(standby_.port, desk2_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].first, Type::Error);
  Error err;
  std::memcpy(&err, got[0].second.data(), sizeof(err));
  EXPECT_EQ(err.reason, static_cast<std::uint16_t>(WireError::NotYourAgent));
  EXPECT_EQ(standby_.engine.state_hash(), hash);
  EXPECT_EQ(standby_.io.counters().read(Counter::refused_not_your_agent), 1u);
  // A desktop that is bound (here 103's) may act for its agent on the new primary.
  AgentEvent not_ready{};
  not_ready.kind = AgentEventKind::NotReady;
  not_ready.agent = 2;
  standby_.port.inject(desk3_.endpoint, desk3_.one(Type::AgentEvent, not_ready));
  standby_.worker->poll();
  got = sent_to(standby_.port, desk3_.endpoint);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().first, Type::Ack);
}

// Token generations follow the log: a sign-out and an operator's revocation move an agent's
// generation on the primary, and the standby that replays the log holds the same table (so it
// refuses the same tokens after a takeover); a TokenRevoke is no engine input.
TEST_F(TwoNodes, TokenGenerationsFollowTheLog) {
  ControlChannel channel;
  primary_.io.set_control(&channel);
  busy_morning();
  send(desk3_, desk3_.one(Type::AgentEvent, agent_event(AgentEventKind::SignOut, 2)));
  EXPECT_EQ(primary_.io.token_generation(2), 1u);
  const std::uint64_t hash = primary_.engine.state_hash();
  ControlRequest revoke;
  revoke.ticket = 1;
  revoke.command = RevokeTokens{};
  revoke.event.number = 101;
  ASSERT_TRUE(channel.submit(revoke));
  primary_.worker->poll();
  ControlReply reply;
  ASSERT_TRUE(channel.take_reply(reply));
  EXPECT_EQ(reply.result, CommandResult::Done);
  EXPECT_EQ(primary_.engine.state_hash(), hash) << "a revocation reached the engine";
  EXPECT_EQ(primary_.io.token_generation(0), 1u);
  EXPECT_EQ(primary_.io.token_generation(1), 0u);
  follow();
  for (router::AgentIndex a = 0; a < 3; ++a) {
    EXPECT_EQ(standby_.io.token_generation(a), primary_.io.token_generation(a)) << a;
  }
  EXPECT_EQ(standby_.io.save_session(), primary_.io.save_session());
  // A standby joining late gets them in the image's session.
  Node late;
  ASSERT_TRUE(late.io.restore_session(primary_.io.save_session()));
  EXPECT_EQ(late.io.token_generation(0), 1u);
  EXPECT_EQ(late.io.token_generation(2), 1u);
}

// A node image asks the history thread for its deriver's state at the image's seq before the
// capture is stamped, waits for the answer (no other capture meanwhile), and goes to the shipper
// with it; an answer for another seq is not taken; without an answer it goes after the wait,
// without a state; a missed answer lets it go at once. Images carrying a state round-trip (v4),
// images without one stay version 3.
TEST_F(TwoNodes, ImagesWaitForTheHistoryStateAtTheirSeq) {
  HistoryStateChannel channel;
  primary_.io.set_history_states(&channel, 50'000);
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
  send(sw_, sw_.one(Type::RouteRequest, call(1)));
  const std::uint64_t next = primary_.io.sequencer().next();
  log_.want = true;
  primary_.clock.advance(1000);
  primary_.worker->poll();
  EXPECT_EQ(channel.wanted(), next);  // asked for the capture's seq
  ASSERT_GE(log_.records.back().first, next);
  EXPECT_TRUE(log_.images.empty());   // waiting
  channel.answer(next - 1, {1, 2});   // another seq's: not this image's
  log_.want = true;                   // no second capture while one waits
  primary_.clock.advance(1000);
  primary_.worker->poll();
  EXPECT_TRUE(log_.images.empty());
  EXPECT_EQ(channel.wanted(), next);  // no other capture asked
  channel.answer(next, {7, 8, 9});
  primary_.worker->poll();
  ASSERT_EQ(log_.images.size(), 1u);
  EXPECT_EQ(log_.images[0].seq, next);
  EXPECT_EQ(log_.images[0].history, (std::vector<std::uint8_t>{7, 8, 9}));
  EXPECT_EQ(channel.wanted(), 0u);
  EXPECT_EQ(primary_.io.counters().read(Counter::images_with_history), 1u);
  NodeImage back;
  ASSERT_TRUE(decode_image(encode_image(log_.images[0]), back));
  EXPECT_EQ(back.history, log_.images[0].history);
  EXPECT_EQ(back.engine, log_.images[0].engine);
  const auto v3 = [](NodeImage image) {
    image.history.clear();
    const auto bytes = encode_image(image);
    return bytes[4];  // the version, after the magic
  };
  EXPECT_EQ(v3(log_.images[0]), 3u);
  EXPECT_EQ(encode_image(log_.images[0])[4], 4u);

  // The next capture (asked before): nobody answers, it goes after the wait, without a state.
  primary_.clock.advance(1000);
  primary_.worker->poll();
  const std::uint64_t second = channel.wanted();
  EXPECT_GT(second, next);
  EXPECT_EQ(log_.images.size(), 1u);
  primary_.clock.advance(60'000);
  primary_.worker->poll();
  ASSERT_EQ(log_.images.size(), 2u);
  EXPECT_EQ(log_.images[1].seq, second);
  EXPECT_TRUE(log_.images[1].history.empty());
  EXPECT_EQ(primary_.io.counters().read(Counter::images_without_history), 1u);

  // Missed (the history thread had passed it): the image goes at once, without a state.
  log_.want = true;
  primary_.clock.advance(1000);
  primary_.worker->poll();
  const std::uint64_t third = channel.wanted();
  channel.answer(third, {});
  primary_.worker->poll();
  ASSERT_EQ(log_.images.size(), 3u);
  EXPECT_TRUE(log_.images[2].history.empty());
  EXPECT_EQ(primary_.io.counters().read(Counter::images_without_history), 2u);
}

// The history thread's position reaches the log through the channel: the highest offered in a
// cycle, once, only when it moved, and only when the log has room (else it waits for room). A
// standby applies it (nothing else changes) and knows it; as a standby it logs none of its own.
TEST_F(TwoNodes, ExportPositionsAreLoggedOnceAndFollowed) {
  ExportPositionChannel channel;
  primary_.io.set_export_positions(&channel);
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
  send(sw_, sw_.one(Type::RouteRequest, call(1)));
  auto positions = [&] {
    std::vector<std::pair<std::uint64_t, ExportPosition>> out;
    for (const auto& [seq, bytes] : log_.records) {
      LogRecord r;
      EXPECT_TRUE(decode_record(bytes, r));
      if (r.kind == RecordKind::ExportPosition) {
        out.emplace_back(seq, r.export_position);
      }
    }
    return out;
  };
  const std::uint64_t hash = primary_.engine.state_hash();
  ASSERT_TRUE(channel.offer({2, 1}));
  ASSERT_TRUE(channel.offer({3, 0}));
  primary_.worker->poll();
  ASSERT_EQ(positions().size(), 1u);
  EXPECT_EQ(positions()[0].second, (ExportPosition{3, 0}));
  EXPECT_EQ(primary_.io.counters().read(Counter::export_positions_logged), 1u);
  EXPECT_EQ(primary_.engine.state_hash(), hash);
  // Not moved: nothing logged.
  ASSERT_TRUE(channel.offer({3, 0}));
  ASSERT_TRUE(channel.offer({2, 5}));
  primary_.worker->poll();
  EXPECT_EQ(positions().size(), 1u);
  // No room: kept until there is.
  log_.room = false;
  ASSERT_TRUE(channel.offer({4, 2}));
  primary_.worker->poll();
  primary_.worker->poll();
  EXPECT_EQ(positions().size(), 1u);
  log_.room = true;
  primary_.worker->poll();
  ASSERT_EQ(positions().size(), 2u);
  EXPECT_EQ(positions()[1].second, (ExportPosition{4, 2}));
  send(sw_, sw_.one(Type::RouteRequest, call(2)));

  follow();
  EXPECT_EQ(standby_.io.export_position(), (ExportPosition{4, 2}));
  EXPECT_EQ(standby_.io.sequencer().next(), primary_.io.sequencer().next());
  EXPECT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(standby_.io.save_session(), primary_.io.save_session());

  // A stage marked standby logs nothing, even when offered a position.
  RecordingShipper standby_log;
  standby_log.first_seq = standby_.io.sequencer().next();
  ExportPositionChannel standby_channel;
  standby_.io.set_shipper(&standby_log);
  standby_.io.set_export_positions(&standby_channel);
  standby_.io.set_standby(true);
  ASSERT_TRUE(standby_channel.offer({9, 9}));
  EXPECT_EQ(standby_.io.collect_export_position(), 0u);
  EXPECT_TRUE(standby_log.records.empty());
  // Promoted, it logs positions above its old primary's only.
  standby_.io.set_standby(false);
  ASSERT_TRUE(standby_channel.offer({4, 1}));
  EXPECT_EQ(standby_.io.collect_export_position(), 1u);  // the 9/9 kept from before
  ASSERT_EQ(standby_log.records.size(), 1u);
  LogRecord r;
  ASSERT_TRUE(decode_record(standby_log.records[0].second, r));
  EXPECT_EQ(r.export_position, (ExportPosition{9, 9}));
}

// Records out of order, malformed, or a reload: refused, nothing applied.
TEST_F(TwoNodes, ReplayRefusesWhatItCannotApply) {
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
  send(sw_, sw_.one(Type::RouteRequest, call(1)));
  ASSERT_GE(log_.records.size(), 2u);
  const auto& [seq2, rec2] = log_.records[1];
  EXPECT_EQ(standby_.io.replay(seq2, rec2, standby_.router), IoStage::Replay::OutOfOrder);
  std::vector<std::uint8_t> garbage(rec2.begin(), rec2.end() - 1);
  EXPECT_EQ(standby_.io.replay(log_.records[0].first, garbage, standby_.router),
            IoStage::Replay::Malformed);
  LogRecord reload;
  reload.kind = RecordKind::ConfigChange;
  std::array<std::uint8_t, kMaxLogRecord> bytes{};
  const std::size_t n = encode_record(reload, bytes);
  EXPECT_EQ(standby_.io.replay(1, std::span(bytes.data(), n), standby_.router),
            IoStage::Replay::ConfigChange);
  EXPECT_EQ(standby_.io.sequencer().next(), 1u);
  EXPECT_EQ(standby_.engine.calls_in_engine(), 0u);
}

// Output gating: a reply waits until the log has acknowledged the input that caused it; when the
// log has no room, the request is refused (Overloaded) and nothing is applied or logged.
TEST_F(TwoNodes, RepliesWaitForTheLog) {
  log_.released = 0;
  send(sw_, sw_.one(Type::Register, Register{1, 0, 11}));
  EXPECT_TRUE(sent_to(primary_.port, sw_.endpoint).empty());
  EXPECT_EQ(primary_.io.held(), 1u);
  log_.released = log_.records.back().first;
  primary_.worker->poll();
  auto got = sent_to(primary_.port, sw_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, Type::Ack);

  send(sw_, sw_.one(Type::RouteRequest, call(1)));
  const std::uint64_t call_seq = log_.records.back().first;
  log_.released = call_seq - 1;
  primary_.clock.advance(5000);
  primary_.worker->poll();  // a tick is logged too, its own seq
  EXPECT_TRUE(sent_to(primary_.port, sw_.endpoint).empty()) << "the reply left before its input";
  log_.released = call_seq;
  primary_.worker->poll();
  got = sent_to(primary_.port, sw_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, Type::RouteResponse);

  log_.released = ~std::uint64_t{0};
  log_.room = false;
  const std::size_t records = log_.records.size();
  send(sw_, sw_.one(Type::RouteRequest, call(2)));
  log_.room = true;
  primary_.worker->poll();
  got = sent_to(primary_.port, sw_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, Type::Error);
  Error err;
  std::memcpy(&err, got[0].second.data(), sizeof(err));
  EXPECT_EQ(err.reason, static_cast<std::uint16_t>(WireError::Overloaded));
  EXPECT_EQ(primary_.engine.calls_in_engine(), 1u);
  EXPECT_EQ(log_.records.size(), records + 1) << "only the next tick was logged";
}

// A standby that takes over tells every client it knows (registered through the log) at once:
// one Heartbeat with seq 0 in the new epoch each, not held back by output gating (it carries no
// decision), so that clients waiting on the dead node switch without their own timeout.
TEST_F(TwoNodes, APromotedStandbyAnnouncesItselfToEveryClient) {
  busy_morning();
  follow();
  RecordingShipper gate;
  gate.released = 0;  // nothing acknowledged: a decision would be held
  gate.first_seq = standby_.io.sequencer().next();
  standby_.io.set_shipper(&gate);
  standby_.io.set_epoch(2);
  EXPECT_EQ(standby_.io.announce_primary(), 5u);
  std::map<std::uint32_t, int> told;
  for (const auto& d : standby_.port.take_sent()) {
    DatagramHeader h;
    ASSERT_EQ(check_header(d.payload, h), HeaderCheck::Ok);
    EXPECT_EQ(h.epoch, 2u);
    for_each_message(
        d.payload, h,
        [&](const Message& m) {
          EXPECT_EQ(m.type, Type::Heartbeat);
          EXPECT_EQ(m.seq, 0u);
          ++told[h.client_id];
        },
        [](std::uint64_t, WireError) { ADD_FAILURE() << "a bad message was sent"; });
  }
  EXPECT_EQ(told, (std::map<std::uint32_t, int>{
                      {sw_.id, 1}, {sw2_.id, 1}, {desk_.id, 1}, {desk2_.id, 1}, {desk3_.id, 1}}));
  EXPECT_EQ(standby_.io.held(), 0u);
}

// A desktop's report of a high-risk customer operation is logged: the primary's audit trail and
// the standby's (from the log it applies) each get it once, with the same time, sequence number,
// customer hash and ticket; a retransmission, to either node, gets the cached Ack and is not
// reported again. A switch may not report one, nor a desktop before its sign-in, nor an unknown
// kind.
TEST_F(TwoNodes, OperationReportIsAuditedOnceOnEachNode) {
  RecordingAudit primary_audit;
  RecordingAudit standby_audit;
  primary_.io.set_audit(&primary_audit);
  standby_.io.set_audit(&standby_audit);
  busy_morning();
  primary_.port.take_sent();
  OperationReport report{};
  report.kind = static_cast<std::uint16_t>(OperationKind::CredentialReset);
  report.outcome = OperationOutcome::Completed;
  report.ticket = 4242;
  for (std::uint8_t i = 0; i < 32; ++i) {
    report.customer_hash[i] = static_cast<std::uint8_t>(0xA0 + i);
  }
  auto logged_operations = [&] {
    std::size_t n = 0;
    for (const auto& [seq, bytes] : log_.records) {
      LogRecord r;
      n += decode_record(bytes, r) && r.kind == RecordKind::Operation ? 1 : 0;
    }
    return n;
  };
  send(desk2_, desk2_.one(Type::OperationReport, report));
  auto got = sent_to(primary_.port, desk2_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].first, Type::Ack);
  ASSERT_EQ(logged_operations(), 1u) << "the report is one record of the log";
  ASSERT_EQ(primary_audit.operations.size(), 1u);
  const OperationAuditEvent& seen = primary_audit.operations[0];
  EXPECT_EQ(seen.agent, 102u);
  EXPECT_EQ(seen.client_id, desk2_.id);
  for (const auto& [seq, bytes] : log_.records) {
    LogRecord r;
    ASSERT_TRUE(decode_record(bytes, r));
    EXPECT_EQ(r.kind == RecordKind::Operation, seq == seen.log_seq) << seq;
  }
  EXPECT_EQ(seen.report.ticket, 4242u);
  EXPECT_EQ(0, std::memcmp(seen.report.customer_hash, report.customer_hash, 32));
  EXPECT_GT(seen.wall_ms, 0);

  // The same message again: the same Ack, nothing logged, nothing reported.
  send(desk2_, desk2_.one(Type::OperationReport, report, desk2_.seq));
  got = sent_to(primary_.port, desk2_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, Type::Ack);
  EXPECT_EQ(logged_operations(), 1u);
  EXPECT_EQ(primary_audit.operations.size(), 1u);

  follow();
  ASSERT_EQ(standby_audit.operations.size(), 1u);
  const OperationAuditEvent& there = standby_audit.operations[0];
  EXPECT_EQ(there.log_seq, seen.log_seq);
  EXPECT_EQ(there.wall_ms, seen.wall_ms);
  EXPECT_EQ(there.agent, seen.agent);
  EXPECT_EQ(there.client_id, seen.client_id);
  EXPECT_EQ(there.report.kind, seen.report.kind);
  EXPECT_EQ(0, std::memcmp(there.report.customer_hash, report.customer_hash, 32));
  EXPECT_TRUE(standby_.port.take_sent().empty()) << "a follower sends nothing";
  EXPECT_EQ(standby_.io.save_session(), primary_.io.save_session());
  standby_.clock.set(primary_.clock.now());
  standby_.port.inject(desk2_.endpoint, desk2_.one(Type::OperationReport, report, desk2_.seq));
  standby_.worker->poll();
  got = sent_to(standby_.port, desk2_.endpoint);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, Type::Ack) << "the standby answers the primary's cached Ack";
  EXPECT_EQ(standby_audit.operations.size(), 1u);

  // Who may not: a switch; a desktop that has signed nobody in; an unknown kind.
  auto refused = [&](Peer& p, WireError why) {
    send(p, p.one(Type::OperationReport, report));
    const auto r = sent_to(primary_.port, p.endpoint);
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].first, Type::Error);
    Error err;
    std::memcpy(&err, r[0].second.data(), sizeof(err));
    EXPECT_EQ(err.reason, static_cast<std::uint16_t>(why));
  };
  refused(sw_, WireError::NotPermitted);
  Peer fresh{38, Endpoint{0x0100007f, 6004, 0}};
  send(fresh, fresh.one(Type::Register, Register{2, 0, 14}));
  primary_.port.take_sent();
  refused(fresh, WireError::SignInFirst);
  report.kind = 50;  // neither named nor a bank's code
  refused(desk_, WireError::BadField);
  EXPECT_EQ(primary_audit.operations.size(), 1u);
  EXPECT_EQ(logged_operations(), 1u) << "a refused report is not logged";
}

// The test's stand-in for the control plane's reload encoding: a payload {kind, index} names one
// of the test's configurations; kind 2 (or an image to install) builds a new engine from it.
class TableReplayer final : public ConfigReplayer {
 public:
  explicit TableReplayer(const std::vector<router::EngineConfig>& table) : table_(table) {
    tags_.resize(table.size());
  }
  bool prepare(std::span<const std::uint8_t> payload, bool fresh_engine, Command& command,
               const ConfigTag*& tag, std::string& why) override {
    if (payload.size() < 2 || payload[1] >= table_.size()) {
      why = "not a test payload";
      return false;
    }
    for (std::size_t i = 2; i < payload.size(); ++i) {
      if (payload[i] != filler(i)) {  // a large payload's bytes, each where it belongs
        why = "a damaged test payload";
        return false;
      }
    }
    const router::EngineConfig& c = table_[payload[1]];
    if (fresh_engine || payload[0] == 2) {
      swap_ = std::make_unique<EngineSwap>();
      swap_->engine = std::make_unique<router::Engine>(c);
      for (const auto& a : c.agents) {
        swap_->agent_numbers.push_back(a.retired ? 0 : a.number);
      }
      command = SwapEngine{swap_.get()};
    } else {
      command = Reconfigure{&c};
    }
    tags_[payload[1]].log_payload.assign(payload.begin(), payload.end());
    tag = &tags_[payload[1]];
    return true;
  }
  void finish(bool applied) override {
    swap_.reset();
    ++(applied ? applied_ : refused_);
  }
  const ConfigTag* tag(std::size_t i) const { return &tags_[i]; }
  // Byte i (>= 2) of a test payload made large: {kind, index, filler(2), filler(3), ...}.
  static std::uint8_t filler(std::size_t i) { return static_cast<std::uint8_t>(i * 7 + i / 251); }
  static std::vector<std::uint8_t> large(std::uint8_t kind, std::uint8_t index, std::size_t n) {
    std::vector<std::uint8_t> p(n);
    p[0] = kind;
    p[1] = index;
    for (std::size_t i = 2; i < n; ++i) {
      p[i] = filler(i);
    }
    return p;
  }
  int applied_ = 0;
  int refused_ = 0;

 private:
  const std::vector<router::EngineConfig>& table_;
  std::vector<ConfigTag> tags_;
  std::unique_ptr<EngineSwap> swap_;
};

// Both reload kinds travel in the log with the configuration they installed: a standby replays
// each at its place in the sequence and stays in step (engine hash, session, sign-in table, the
// configuration it runs under); a reload the primary's engine refused is refused there too; an
// image taken afterwards names its configuration, and a node built from the starting one
// installs it.
TEST_F(TwoNodes, ReloadsReplayAtTheirPlace) {
  // 0: as started; 1: new queue parameters (in place); 2: a new agent and queue (engine swap);
  // 3: agent 101 removed (refused while it is signed in).
  std::vector<router::EngineConfig> table(4, centre());
  table[1].queues[0].ring_timeout_ms = 2000;
  table[1].queues[0].max_wait_ms = 30'000;
  table[2] = table[1];
  router::QueueConfig loans = table[2].queues[0];
  loans.name = "loans";
  loans.skills = {router::SkillRequirement{1, 1, 0}};
  table[2].queues.push_back(loans);
  router::AgentConfig a104;
  a104.number = 104;
  a104.skills = {router::SkillLevel{0, 7, 0}, router::SkillLevel{1, 7, 0}};
  table[2].agents.push_back(a104);
  table[3] = table[2];
  table[3].agents[0].retired = true;
  TableReplayer replayer(table);
  standby_.io.set_config_replayer(&replayer);
  ControlChannel channel;
  primary_.io.set_control(&channel);
  primary_.credentials.set(104, "pw-104");
  standby_.credentials.set(104, "pw-104");
  std::vector<ConfigTag> tags(4);
  for (std::uint8_t i = 1; i < 4; ++i) {
    tags[i].log_payload = {static_cast<std::uint8_t>(i == 1 ? 1 : 2), i};
  }
  auto reload = [&](const Command& command, const ConfigTag* tag) {
    return reload_on_primary(channel, command, tag);
  };

  busy_morning();
  EXPECT_EQ(reload(Reconfigure{&table[1]}, &tags[1]), CommandResult::Done);
  send(sw_, sw_.one(Type::RouteRequest, call(20)));
  send(sw2_, sw2_.one(Type::RouteRequest, call(21)));
  primary_.clock.advance(3'000'000);  // the new 2 s ring timeout fires
  primary_.worker->poll();
  EngineSwap swap;
  swap.engine = std::make_unique<router::Engine>(table[2]);
  swap.agent_numbers = {101, 102, 103, 104};
  EXPECT_EQ(reload(SwapEngine{&swap}, &tags[2]), CommandResult::Done);
  ASSERT_TRUE(swap.result.ok());
  Peer desk4{38, Endpoint{0x0100007f, 6004, 0}};
  send(desk4, desk4.one(Type::Register, Register{2, 0, 14}));
  sign_in(desk4, 3);  // agent 104 exists from the swap on
  send(desk4, desk4.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 3)));
  send(sw_, sw_.one(Type::RouteRequest, call(22)));
  EngineSwap refused;
  refused.engine = std::make_unique<router::Engine>(table[3]);
  refused.agent_numbers = {0, 102, 103, 104};
  EXPECT_EQ(reload(SwapEngine{&refused}, &tags[3]), CommandResult::ReloadRefused);
  send(sw2_, sw2_.one(Type::RouteRequest, call(23)));

  follow();
  EXPECT_EQ(replayer.applied_, 2);
  EXPECT_EQ(replayer.refused_, 1);
  EXPECT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(standby_.engine.agent_count(), 4u);
  EXPECT_EQ(standby_.io.save_session(), primary_.io.save_session());
  EXPECT_EQ(standby_.io.client_agent(desk4.id), 3u);
  EXPECT_EQ(standby_.io.config_tag(), replayer.tag(2));
  EXPECT_EQ(primary_.io.config_tag(), &tags[2]);

  // An image follows each reload and carries the configuration installed (the refused one's,
  // the configuration still running); installed on a node that started with the first one, it
  // reaches the primary's state.
  ASSERT_EQ(log_.images.size(), 3u);
  EXPECT_EQ(log_.images[0].config, tags[1].log_payload);
  EXPECT_EQ(log_.images[1].config, tags[2].log_payload);
  EXPECT_EQ(log_.images[2].config, tags[2].log_payload);
  NodeImage image;
  ASSERT_TRUE(decode_image(encode_image(log_.images[1]), image));
  EXPECT_EQ(image.config, tags[2].log_payload);
  Node late;
  late.credentials.set(104, "pw-104");
  std::string why;
  EXPECT_FALSE(late.io.restore_image(image, late.engine, why)) << "no replayer: refused";
  EXPECT_FALSE(why.empty());
  TableReplayer late_replayer(table);
  late.io.set_config_replayer(&late_replayer);
  NodeImage damaged = image;
  damaged.engine.pop_back();
  const std::uint64_t before = late.engine.state_hash();
  EXPECT_FALSE(late.io.restore_image(damaged, late.engine, why));
  EXPECT_EQ(late.engine.state_hash(), before);
  EXPECT_EQ(late.io.config_tag(), nullptr);
  ASSERT_TRUE(late.io.restore_image(image, late.engine, why)) << why;
  for (const auto& [seq, record] : log_.records) {
    if (seq > image.seq) {
      ASSERT_EQ(late.io.replay(seq, record, late.router), IoStage::Replay::Applied) << seq;
    }
  }
  EXPECT_EQ(late.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(late.io.save_session(), primary_.io.save_session());
  EXPECT_EQ(late.io.config_tag(), late_replayer.tag(2));
  EXPECT_EQ(late.io.client_agent(desk4.id), 3u);
}

// A node that replays a log from its start on a configuration edited since (its file now holds
// what a later reload installed) must not go on silently from a different state: the reloads
// were logged against the primary's agent list, and a list that differs (an agent inserted in
// the middle, shifting the indices the log's events name, or one added at the end) is refused at
// the first reload record, which changes nothing. Started from the configuration the log began
// under, the same records reach the primary's state hash.
TEST_F(TwoNodes, AReplayOnAnEditedAgentListIsRefusedNotDiverged) {
  // 0: as started (101, 102, 103); 1: a queue parameter (in place); 2: agent 104 added (the
  // primary appends it: 101, 102, 103, 104).
  std::vector<router::EngineConfig> table(3, centre());
  table[1].queues[0].ring_timeout_ms = 2000;
  table[2] = table[1];
  router::AgentConfig a104;
  a104.number = 104;
  a104.skills = {router::SkillLevel{0, 7, 0}, router::SkillLevel{1, 7, 0}};
  table[2].agents.push_back(a104);
  ControlChannel channel;
  primary_.io.set_control(&channel);
  std::vector<ConfigTag> tags(3);
  tags[1].log_payload = {1, 1};
  tags[2].log_payload = {2, 2};
  auto reload = [&](const Command& command, const ConfigTag* tag) {
    return reload_on_primary(channel, command, tag);
  };
  busy_morning();
  const std::size_t before = log_.records.size();
  EXPECT_EQ(reload(Reconfigure{&table[1]}, &tags[1]), CommandResult::Done);
  ASSERT_GT(log_.records.size(), before);
  const std::uint64_t first_reload = log_.records[before].first;  // the reload's record
  send(sw_, sw_.one(Type::RouteRequest, call(20)));
  primary_.clock.advance(3'000'000);
  primary_.worker->poll();
  EngineSwap swap;
  swap.engine = std::make_unique<router::Engine>(table[2]);
  swap.agent_numbers = {101, 102, 103, 104};
  EXPECT_EQ(reload(SwapEngine{&swap}, &tags[2]), CommandResult::Done);
  send(sw2_, sw2_.one(Type::RouteRequest, call(21)));

  // The file as edited: 104 in the middle (101, 104, 102, 103), or at the end.
  router::EngineConfig middle = table[1];
  middle.agents.insert(middle.agents.begin() + 1, a104);
  router::EngineConfig end = table[2];
  for (const router::EngineConfig& edited : {middle, end}) {
    Node node(nullptr, edited);
    TableReplayer replayer(table);
    node.io.set_config_replayer(&replayer);
    bool refused = false;
    for (const auto& [seq, record] : log_.records) {
      const IoStage::Replay r = node.io.replay(seq, record, node.router);
      if (r != IoStage::Replay::Applied) {
        EXPECT_EQ(r, IoStage::Replay::ConfigChange);
        EXPECT_EQ(seq, first_reload);
        EXPECT_EQ(node.io.sequencer().next(), seq) << "the refused reload took no seq";
        refused = true;
        break;
      }
    }
    EXPECT_TRUE(refused) << "replayed to " << node.engine.state_hash() << ", the primary is at "
                         << primary_.engine.state_hash();
    EXPECT_EQ(replayer.applied_, 0);
    EXPECT_EQ(node.io.config_tag(), nullptr);
  }
  // From the configuration the log began under: every record, the primary's state.
  Node node(nullptr, centre());
  node.credentials.set(104, "pw-104");
  TableReplayer replayer(table);
  node.io.set_config_replayer(&replayer);
  for (const auto& [seq, record] : log_.records) {
    ASSERT_EQ(node.io.replay(seq, record, node.router), IoStage::Replay::Applied) << seq;
  }
  EXPECT_EQ(replayer.applied_, 2);
  EXPECT_EQ(node.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(node.io.save_session(), primary_.io.save_session());
}

// A configuration larger than one record (kMaxConfigPayload) travels in pieces: ConfigChunk
// records at the seqs right before the ConfigChange, which carries the last piece. A standby
// replays them and installs exactly the primary's configuration at the same seq; the image after
// it carries the whole. A follower that lacks a piece applies nothing.
TEST_F(TwoNodes, ALargeConfigurationTravelsInPieces) {
  std::vector<router::EngineConfig> table(2, centre());
  router::AgentConfig a104;
  a104.number = 104;
  a104.skills = {router::SkillLevel{0, 7, 0}};
  table[1].agents.push_back(a104);
  TableReplayer replayer(table);
  standby_.io.set_config_replayer(&replayer);
  ControlChannel channel;
  primary_.io.set_control(&channel);
  ConfigTag tag;
  tag.log_payload = TableReplayer::large(2, 1, 2 * kMaxConfigPayload + 1000);  // 3 records
  busy_morning();
  const std::size_t before = log_.records.size();
  EngineSwap swap;
  swap.engine = std::make_unique<router::Engine>(table[1]);
  swap.agent_numbers = {101, 102, 103, 104};
  ControlRequest r;
  r.ticket = 1;
  r.command = SwapEngine{&swap};
  r.config_tag = &tag;
  ASSERT_TRUE(channel.submit(r));
  primary_.clock.advance(1000);
  primary_.worker->poll();
  ControlReply reply;
  ASSERT_TRUE(channel.take_reply(reply));
  EXPECT_EQ(reply.result, CommandResult::Done);
  send(sw_, sw_.one(Type::RouteRequest, call(20)));

  // The pieces: every record fits the link and the journal, and they add up to the payload.
  std::vector<RecordKind> kinds;
  std::vector<std::uint8_t> joined;
  std::uint64_t reload_seq = 0;
  for (std::size_t i = before; i < log_.records.size(); ++i) {
    const auto& [seq, bytes] = log_.records[i];
    EXPECT_LE(bytes.size(), kMaxLogRecord + kMaxConfigPayload);
    LogRecord rec;
    ASSERT_TRUE(decode_record(bytes, rec)) << seq;
    if (rec.kind == RecordKind::ConfigChunk || rec.kind == RecordKind::ConfigChange) {
      kinds.push_back(rec.kind);
      EXPECT_EQ(rec.config_total, tag.log_payload.size());
      joined.insert(joined.end(), rec.config.begin(), rec.config.end());
      reload_seq = seq;
    }
  }
  EXPECT_EQ(kinds, (std::vector<RecordKind>{RecordKind::ConfigChunk, RecordKind::ConfigChunk,
                                             RecordKind::ConfigChange}));
  EXPECT_EQ(joined, tag.log_payload);

  follow();
  EXPECT_EQ(replayer.applied_, 1);
  EXPECT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash());
  EXPECT_EQ(standby_.engine.agent_count(), 4u);
  ASSERT_NE(standby_.io.config_tag(), nullptr);
  EXPECT_EQ(standby_.io.config_tag()->log_payload, tag.log_payload);
  EXPECT_EQ(standby_.io.sequencer().next(), primary_.io.sequencer().next());
  ASSERT_EQ(log_.images.size(), 1u);
  EXPECT_EQ(log_.images[0].config, tag.log_payload);

  // A follower that lacks the second piece (a hole in the log) refuses the piece after the hole
  // and applies no reload; one that lacks the first installs nothing at the ConfigChange.
  for (const std::uint64_t missing : {reload_seq - 1, reload_seq - 2}) {
    Node late;
    TableReplayer late_replayer(table);
    late.io.set_config_replayer(&late_replayer);
    IoStage::Replay last = IoStage::Replay::Applied;
    for (const auto& [seq, bytes] : log_.records) {
      if (seq > reload_seq) {
        break;
      }
      LogRecord rec;
      ASSERT_TRUE(decode_record(bytes, rec));
      if (seq == missing) {
        // What a node that never got this piece sees: the next seq carries on without it.
        LogRecord tick;
        tick.event.time = rec.event.time;
        std::array<std::uint8_t, kMaxLogRecord> b{};
        const std::size_t n = encode_record(tick, b);
        ASSERT_EQ(late.io.replay(seq, std::span(b.data(), n), late.router),
                  IoStage::Replay::Applied);
        continue;
      }
      last = late.io.replay(seq, bytes, late.router);
      if (last != IoStage::Replay::Applied) {
        break;
      }
    }
    EXPECT_NE(last, IoStage::Replay::Applied) << "missing " << missing;
    EXPECT_EQ(late_replayer.applied_ + late_replayer.refused_, 0) << "missing " << missing;
    EXPECT_EQ(late.engine.agent_count(), 3u);
  }
}

// A ConfigChunk record round-trips; pieces out of bounds are refused, and a ConfigChange's total
// must exceed its own piece.
TEST(LogRecord, ConfigChunkCarriesItsPiece) {
  const std::vector<std::uint8_t> piece(1000, 9);
  LogRecord in;
  in.kind = RecordKind::ConfigChunk;
  in.client_id = kControlClientId;
  in.config_total = 5000;
  in.config_offset = 2000;
  in.config = piece;
  std::vector<std::uint8_t> bytes(kMaxLogRecord + piece.size());
  std::size_t n = encode_record(in, bytes);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span(bytes.data(), n), out));
  EXPECT_EQ(out.kind, RecordKind::ConfigChunk);
  EXPECT_EQ(out.config_total, 5000u);
  EXPECT_EQ(out.config_offset, 2000u);
  EXPECT_EQ(std::vector<std::uint8_t>(out.config.begin(), out.config.end()), piece);
  for (std::size_t cut = 6; cut < n; ++cut) {
    EXPECT_FALSE(decode_record(std::span(bytes.data(), cut), out)) << "cut at " << cut;
  }
  in.config_offset = 4000;  // the last piece is the ConfigChange's, never a chunk's
  n = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span(bytes.data(), n), out));
  in.config_offset = 0;
  in.config_total = static_cast<std::uint32_t>(kMaxReloadBytes) + 1;
  n = encode_record(in, bytes);
  EXPECT_FALSE(decode_record(std::span(bytes.data(), n), out));

  LogRecord last;
  last.kind = RecordKind::ConfigChange;
  last.config = piece;
  last.config_total = 1000;  // not more than its own piece
  n = encode_record(last, bytes);
  EXPECT_FALSE(decode_record(std::span(bytes.data(), n), out));
  last.config_total = 3000;
  n = encode_record(last, bytes);
  ASSERT_TRUE(decode_record(std::span(bytes.data(), n), out));
  EXPECT_EQ(out.config_total, 3000u);
}

// ConfigAssembler: pieces in order at consecutive seqs make the whole; any gap drops them.
TEST(ConfigAssembler, JoinsConsecutivePiecesOnly) {
  const std::vector<std::uint8_t> a(10, 1), b(10, 2), c(5, 3);
  auto piece = [](RecordKind kind, std::uint32_t offset, const std::vector<std::uint8_t>& bytes) {
    LogRecord r;
    r.kind = kind;
    r.config_total = 25;
    r.config_offset = offset;
    r.config = bytes;
    return r;
  };
  ConfigAssembler join;
  EXPECT_TRUE(join.chunk(7, piece(RecordKind::ConfigChunk, 0, a)));
  EXPECT_TRUE(join.chunk(8, piece(RecordKind::ConfigChunk, 10, b)));
  const auto whole = join.complete(9, piece(RecordKind::ConfigChange, 0, c));
  std::vector<std::uint8_t> expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  expected.insert(expected.end(), c.begin(), c.end());
  EXPECT_EQ(std::vector<std::uint8_t>(whole.begin(), whole.end()), expected);
  join.release();
  EXPECT_TRUE(join.chunk(20, piece(RecordKind::ConfigChunk, 0, a)));
  EXPECT_FALSE(join.chunk(22, piece(RecordKind::ConfigChunk, 10, b))) << "seq 21 missing";
  EXPECT_TRUE(join.complete(23, piece(RecordKind::ConfigChange, 0, c)).empty());
  EXPECT_TRUE(join.chunk(30, piece(RecordKind::ConfigChunk, 0, a)));
  EXPECT_TRUE(join.complete(31, piece(RecordKind::ConfigChange, 0, c)).empty()) << "too short";
  EXPECT_TRUE(join.complete(32, piece(RecordKind::ConfigChange, 0, c)).empty()) << "no pieces";
  LogRecord own;
  own.kind = RecordKind::ConfigChange;
  own.config = c;
  EXPECT_EQ(join.complete(40, own).size(), c.size()) << "a whole configuration in one record";
}

// A reload record that carries no configuration (written before the log carried it), or one the
// replayer refuses, is not applied: the follower says so and changes nothing.
TEST_F(TwoNodes, AReloadTheFollowerCannotApplyChangesNothing) {
  std::vector<router::EngineConfig> table(1, centre());
  TableReplayer replayer(table);
  standby_.io.set_config_replayer(&replayer);
  LogRecord reload;
  reload.kind = RecordKind::ConfigChange;
  std::vector<std::uint8_t> bytes(kMaxLogRecord + 8);
  std::size_t n = encode_record(reload, bytes);
  EXPECT_EQ(standby_.io.replay(1, std::span(bytes.data(), n), standby_.router),
            IoStage::Replay::ConfigChange);
  const std::uint8_t unknown[] = {1, 9};
  reload.config = unknown;
  n = encode_record(reload, bytes);
  EXPECT_EQ(standby_.io.replay(1, std::span(bytes.data(), n), standby_.router),
            IoStage::Replay::ConfigChange);
  EXPECT_EQ(standby_.io.sequencer().next(), 1u);
  EXPECT_EQ(replayer.applied_ + replayer.refused_, 0);
  const std::uint8_t known[] = {1, 0};
  reload.config = known;
  n = encode_record(reload, bytes);
  EXPECT_EQ(standby_.io.replay(1, std::span(bytes.data(), n), standby_.router),
            IoStage::Replay::Applied);
  EXPECT_EQ(replayer.applied_, 1);
}

// A ConfigChange record round-trips its configuration; a bad length is refused.
TEST(LogRecord, ConfigChangeCarriesItsConfiguration) {
  const std::vector<std::uint8_t> config = {1, 2, 3, 4, 5};
  LogRecord in;
  in.kind = RecordKind::ConfigChange;
  in.event.time = 777;
  in.config = config;
  std::vector<std::uint8_t> bytes(kMaxLogRecord + config.size());
  const std::size_t n = encode_record(in, bytes);
  LogRecord out;
  ASSERT_TRUE(decode_record(std::span(bytes.data(), n), out));
  EXPECT_EQ(out.kind, RecordKind::ConfigChange);
  EXPECT_EQ(out.event.time, 777u);
  EXPECT_EQ(std::vector<std::uint8_t>(out.config.begin(), out.config.end()), config);
  for (std::size_t cut = 15; cut < n; ++cut) {
    EXPECT_FALSE(decode_record(std::span(bytes.data(), cut), out)) << "cut at " << cut;
  }
  auto zero = bytes;
  zero[14] = zero[15] = zero[16] = zero[17] = 0;  // a length of 0
  EXPECT_FALSE(decode_record(std::span(zero.data(), 18), out));
}

}  // namespace
}  // namespace acd::dataplane
