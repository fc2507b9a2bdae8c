// The pipeline end to end over an in-memory port: registration, routing replies, retransmissions
// answered from the cache (one decision only), sign-in through the verifier, later decisions to
// the call's switch and offers to the agent's desktop, bad input refused without side effects,
// and each role held to what it may send (a refusal changes nothing and is counted).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "acd/dataplane/pipeline.hpp"
#include "kept_replies.hpp"

namespace acd::dataplane {
namespace {

using namespace wire;

router::EngineConfig small_centre() {
  router::EngineConfig c;
  c.skill_count = 1;
  c.max_calls = 64;
  router::QueueConfig q;
  q.name = "cards";
  q.skills = {router::SkillRequirement{0, 1, 0}};
  // With no agent free, the least-EWT accepting site; none accepts without summaries.
  q.overflow.push_back({router::OverflowCondition::QueueLengthAtLeast,
                        router::OverflowAction::ToSite, 0, router::kAnySite});
  c.queues.push_back(q);
  c.site_number = 1;
  c.site_numbers = {2, 3};
  for (router::AgentNumber n : {101, 102, 103}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}};
    c.agents.push_back(a);
  }
  return c;
}

// One client's view: builds datagrams, reads what the port sent to it.
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

struct Reply {
  Type type;
  std::uint64_t seq;
  std::vector<std::uint8_t> body;
  template <typename Body>
  Body as() const {
    Body b;
    std::memcpy(&b, body.data(), sizeof(b));
    return b;
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest()
      : config_(small_centre()),
        engine_(config_),
        verifier_(credentials_),
        io_(port_, clock_, &verifier_, {101, 102, 103}, DataplaneConfig{}),
        worker_(engine_, io_) {
    credentials_.set(101, "s3cret-101");
    credentials_.set(102, "s3cret-102");
  }

  // Delivers datagrams, polls, and returns what each endpoint received.
  [[nodiscard]] std::vector<Reply> exchange(const Peer& to,
                                            std::vector<std::vector<std::uint8_t>> datagrams) {
    for (auto& d : datagrams) {
      port_.inject(to.endpoint, std::move(d));
    }
    worker_.poll();
    return replies_for(to);
  }
  // exchange() for a message answered later (a sign-in the verifier checks): what came back
  // already (a fast verifier answers within the same poll) is kept for wait_for_reply.
  void send(const Peer& to, std::vector<std::vector<std::uint8_t>> datagrams) {
    kept_.keep(to.endpoint, exchange(to, std::move(datagrams)));
  }
  std::vector<Reply> replies_for(const Peer& p) {
    std::vector<Reply> out;
    auto sent = port_.take_sent();
    for (auto& s : sent) {
      if (s.to == p.endpoint) {
        collect(s.payload, out);
      } else {
        others_.push_back(std::move(s));
      }
    }
    return out;
  }
  static void collect(const std::vector<std::uint8_t>& d, std::vector<Reply>& out) {
    DatagramHeader h;
    ASSERT_EQ(check_header(d, h), HeaderCheck::Ok);
    for_each_message(
        d, h,
        [&](const Message& m) {
          out.push_back({m.type, m.seq,
                         std::vector<std::uint8_t>(
                             m.body, m.body + body_size(static_cast<std::uint16_t>(m.type)))});
        },
        [](std::uint64_t, WireError e) {
          FAIL() << "acd sent a bad message " << static_cast<int>(e);
        });
  }
  std::vector<Reply> others_for(const Peer& p) {
    std::vector<Reply> out;
    for (auto& s : others_) {
      if (s.to == p.endpoint) {
        collect(s.payload, out);
      }
    }
    return out;
  }
  void register_peer(Peer& p, std::uint32_t role) {
    const auto r = exchange(p, {p.one(Type::Register, Register{role, 0, 1})});
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].type, Type::Ack);
  }
  // The replies to `p` that send() kept, then more polls until there is at least one (the
  // verifier's answer).
  std::vector<Reply> wait_for_reply(const Peer& p) {
    std::vector<Reply> out = kept_.take(p.endpoint);
    for (int i = 0; i < 2000; ++i) {
      worker_.poll();
      for (Reply& r : replies_for(p)) {
        out.push_back(std::move(r));
      }
      if (!out.empty()) {
        return out;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return out;
  }
  AgentEvent sign_in(router::AgentNumber number, const char* password) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = number;
    e.device = 8000 + number;
    std::strncpy(e.password, password, sizeof(e.password) - 1);
    return e;
  }
  // Signs the agent in from `p` and returns the Ack (its `agent`: the agent's index).
  Ack signed_in(Peer& p, router::AgentNumber number, const char* password) {
    send(p, {p.one(Type::AgentEvent, sign_in(number, password))});
    const auto r = wait_for_reply(p);
    EXPECT_EQ(r.size(), 1u);
    EXPECT_EQ(r.empty() ? Type::Error : r[0].type, Type::Ack);
    return r.empty() ? Ack{} : r[0].as<Ack>();
  }
  static AgentEvent agent_event(AgentEventKind kind, router::AgentIndex agent) {
    AgentEvent e{};
    e.kind = kind;
    e.agent = agent;
    return e;
  }
  // Sends one message that must be refused for `why`: answered Error `why`, counted once under
  // `counter`, and nothing changed — the engine's state, the sequencer (nothing logged), the
  // engine's inputs.
  template <typename Body>
  void expect_refused(Peer& p, Type type, const Body& body, WireError why, Counter counter) {
    const std::uint64_t hash = engine_.state_hash();
    const std::uint64_t next = io_.sequencer().next();
    const std::uint64_t events = engine_.counters().events;
    const std::uint64_t counted = io_.counters().read(counter);
    const std::vector<Reply> r = exchange(p, {p.one(type, body)});
    EXPECT_EQ(engine_.state_hash(), hash) << "a refused message changed the engine";
    EXPECT_EQ(io_.sequencer().next(), next) << "a refused message was sequenced";
    EXPECT_EQ(engine_.counters().events, events) << "a refused message reached the engine";
    EXPECT_EQ(io_.counters().read(counter), counted + 1);
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].type, Type::Error);
    EXPECT_EQ(r[0].as<Error>().reply_to, p.seq);
    EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(why));
  }

  router::EngineConfig config_;
  router::Engine engine_;
  InMemoryCredentials credentials_;
  AsyncVerifier verifier_;
  MemoryPort port_;
  ManualClock clock_;
  IoStage io_;
  Worker worker_;
  std::vector<MemoryPort::Sent> others_;
  KeptReplies<Reply> kept_;  // send()'s replies, for wait_for_reply
  Peer switch_{7, Endpoint{0x0100007f, 5060, 0}};
  Peer desk_{8, Endpoint{0x0100007f, 6001, 0}};
};

// Credentials whose agent 102 signed in with an initial password it must replace.
struct MustChangeCredentials final : CredentialVerifier {
  bool verify(router::AgentNumber agent, std::string_view password) override {
    return password == "s3cret-" + std::to_string(agent);
  }
  bool must_change(router::AgentNumber agent) override { return agent == 102; }
};

// The Ack of a sign-in with a must-change password carries the flag (and the sign-in's input says
// so in the log, so a standby's cached Ack is the same); an ordinary sign-in's does not.
TEST(MustChange, AckTellsTheDesktop) {
  MustChangeCredentials credentials;
  AsyncVerifier verifier(credentials);
  router::Engine engine(small_centre());
  MemoryPort port;
  ManualClock clock;
  IoStage io(port, clock, &verifier, {101, 102, 103}, DataplaneConfig{});
  Worker worker(engine, io);
  Peer desk{8, Endpoint{0x0100007f, 6001, 0}};
  Peer desk2{9, Endpoint{0x0100007f, 6002, 0}};
  auto ack_of = [&](Peer& p, router::AgentNumber number) {
    port.inject(p.endpoint, p.one(Type::Register, Register{2, 0, 1}));
    worker.poll();
    (void)port.take_sent();
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = number;
    const std::string password = "s3cret-" + std::to_string(number);
    std::strncpy(e.password, password.c_str(), sizeof(e.password) - 1);
    port.inject(p.endpoint, p.one(Type::AgentEvent, e));
    for (int i = 0; i < 2000; ++i) {
      worker.poll();
      for (auto& s : port.take_sent()) {
        DatagramHeader h;
        if (s.to == p.endpoint && check_header(s.payload, h) == HeaderCheck::Ok) {
          Ack ack{};
          bool found = false;
          for_each_message(
              s.payload, h,
              [&](const Message& m) {
                if (m.type == Type::Ack) {
                  ack = m.as<Ack>();
                  found = true;
                }
              },
              [](std::uint64_t, WireError) {});
          if (found) {
            return ack;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "no Ack";
    return Ack{};
  };
  const Ack plain = ack_of(desk, 101);
  EXPECT_EQ(plain.status, 0u);
  EXPECT_EQ(plain.flags, 0u);
  const Ack must = ack_of(desk2, 102);
  EXPECT_EQ(must.status, 0u);
  EXPECT_EQ(must.flags, kAckMustChangePassword);
  EXPECT_EQ(must.agent, 1u);
}

struct FixedWall final : WallClock {
  std::int64_t unix_seconds() override { return 1'800'000'000; }
};

// A session token is good only inside an ACDP/2 desktop session: over ACDP/1 even a genuine token
// is refused (TokenRefused) before anything is sequenced, and a password sign-in gets no token.
TEST_F(PipelineTest, TokenInClearTextIsRefused) {
  TokenKey key;
  key.fill(3);
  const SessionTokens tokens(key, "paris", 0);
  FixedWall wall;
  io_.set_tokens(&tokens, &wall);
  register_peer(desk_, 2);
  AgentEvent e = sign_in(101, "");
  e.flags = kSignInWithToken;
  const TokenProof proof = tokens.mint(101, 0, wall.unix_seconds());
  std::memcpy(e.password, &proof, sizeof(proof));
  expect_refused(desk_, Type::AgentEvent, e, WireError::TokenRefused, Counter::token_refused_path);
  EXPECT_EQ(signed_in(desk_, 101, "s3cret-101").status, 0u);  // one reply: the Ack, no token
  EXPECT_EQ(io_.counters().read(Counter::tokens_minted), 0u);
}

// A request from an unregistered client is refused with NotRegistered and nothing is routed.
TEST_F(PipelineTest, RequiresRegistration) {
  RouteRequest rr{};
  rr.call_id = 1;
  const auto r = exchange(switch_, {switch_.one(Type::RouteRequest, rr)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::NotRegistered));
  EXPECT_EQ(engine_.calls_in_engine(), 0u);
  EXPECT_EQ(io_.counters().read(Counter::drop_not_registered), 1u);
}

// A route request is answered; its retransmission gets the same reply from the cache and no
// second decision.
TEST_F(PipelineTest, RetransmissionGivesOneDecision) {
  register_peer(switch_, 1);
  RouteRequest rr{};
  rr.call_id = 42;
  const auto first = exchange(switch_, {switch_.one(Type::RouteRequest, rr)});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].type, Type::RouteResponse);
  const auto resp = first[0].as<RouteResponse>();
  EXPECT_EQ(resp.reply_to, switch_.seq);
  EXPECT_EQ(resp.result, RouteResult::Queued);
  const std::uint64_t events = engine_.counters().events;
  const auto again = exchange(switch_, {switch_.one(Type::RouteRequest, rr, switch_.seq)});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].body, first[0].body);
  EXPECT_EQ(engine_.counters().events, events);
  EXPECT_EQ(io_.counters().read(Counter::duplicates_answered), 1u);
}

// Sign-in goes through the verifier: a wrong password is refused (AuthFailed), the right one signs
// the agent in; later, a queued call is offered to that agent: the switch hears of it with
// reply_to 0 and the desktop gets an Offer.
TEST_F(PipelineTest, SignInAndLaterDecisions) {
  register_peer(switch_, 1);
  register_peer(desk_, 2);
  RouteRequest rr{};
  rr.call_id = 9;
  ASSERT_EQ(exchange(switch_, {switch_.one(Type::RouteRequest, rr)})[0].as<RouteResponse>().result,
            RouteResult::Queued);

  send(desk_, {desk_.one(Type::AgentEvent, sign_in(101, "wrong"))});
  auto r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::AuthFailed));
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::LoggedOut);

  send(desk_, {desk_.one(Type::AgentEvent, sign_in(101, "s3cret-101"))});
  r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::NotReady);
  EXPECT_EQ(engine_.agent(0).device, 8101u);

  AgentEvent ready{};
  ready.kind = AgentEventKind::Ready;
  ready.agent = 0;
  clock_.advance(1000);
  r = exchange(desk_, {desk_.one(Type::AgentEvent, ready)});
  ASSERT_EQ(r.size(), 2u);  // the offer to this desktop, and the Ack of "ready"
  EXPECT_EQ(r[0].type, Type::Offer);
  EXPECT_EQ(r[0].as<wire::Offer>().call_id, 9u);
  EXPECT_EQ(r[1].type, Type::Ack);
  const auto to_switch = others_for(switch_);
  ASSERT_EQ(to_switch.size(), 1u);
  const auto later = to_switch[0].as<RouteResponse>();
  EXPECT_EQ(later.reply_to, 0u);
  EXPECT_EQ(later.result, RouteResult::Agent);
  EXPECT_EQ(later.agent_number, 101u);
}

// A datagram with one bad message among good ones: the bad one gets an Error, the others are
// applied; garbage datagrams are counted and dropped.
TEST_F(PipelineTest, BadMessagesAreIsolated) {
  register_peer(switch_, 1);
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, switch_.id);
  RouteRequest a{};
  a.call_id = 1;
  RouteRequest bad = a;
  bad.call_id = 2;
  bad.tier = 9;
  RouteRequest c = a;
  c.call_id = 3;
  ASSERT_TRUE(w.add(Type::RouteRequest, ++switch_.seq, a));
  ASSERT_TRUE(w.add(Type::RouteRequest, ++switch_.seq, bad));
  ASSERT_TRUE(w.add(Type::RouteRequest, ++switch_.seq, c));
  buf.resize(w.finish());
  const auto r = exchange(switch_, {buf, std::vector<std::uint8_t>{1, 2, 3}});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].type, Type::RouteResponse);
  EXPECT_EQ(r[1].type, Type::Error);
  EXPECT_EQ(r[1].as<Error>().reason, static_cast<std::uint16_t>(WireError::BadField));
  EXPECT_EQ(r[2].type, Type::RouteResponse);
  EXPECT_EQ(engine_.calls_in_engine(), 2u);
  EXPECT_EQ(io_.counters().read(Counter::drop_bad_field), 1u);
  EXPECT_EQ(io_.counters().read(Counter::drop_bad_magic), 1u);
}

// Engine refusals come back as Error with the engine's status; a transfer is acknowledged with
// its result (0 when done, the engine's reason when the target cannot take the call); heartbeats
// are echoed.
TEST_F(PipelineTest, ErrorsAcksAndHeartbeats) {
  register_peer(switch_, 1);
  RouteRequest to_nowhere{};
  to_nowhere.call_id = 555;
  to_nowhere.queue = 7;
  auto r = exchange(switch_, {switch_.one(Type::RouteRequest, to_nowhere)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(router::Status::UnknownQueue));
  Heartbeat hb{123456, 0};
  r = exchange(switch_, {switch_.one(Type::Heartbeat, hb)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Heartbeat);
  EXPECT_EQ(r[0].as<Heartbeat>().sent_ns, 123456u);

  // Agent 101 signs in, goes ready and answers call 9.
  register_peer(desk_, 2);
  send(desk_, {desk_.one(Type::AgentEvent, sign_in(101, "s3cret-101"))});
  r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  AgentEvent ready{};
  ready.kind = AgentEventKind::Ready;
  ready.agent = 0;
  r = exchange(desk_, {desk_.one(Type::AgentEvent, ready)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  RouteRequest rr{};
  rr.call_id = 9;
  r = exchange(switch_, {switch_.one(Type::RouteRequest, rr)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].as<RouteResponse>().result, RouteResult::Agent);
  r = exchange(switch_, {switch_.one(Type::CallEvent, CallEvent{9, CallEventKind::Answered, {}})});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().reply_to, switch_.seq);
  EXPECT_EQ(r[0].as<Ack>().status, 0);

  // The agent's desktop transfers it to agent 102, who is not signed in: acknowledged with the
  // reason, and the call stays.
  others_.clear();
  const TransferRequest to_102{9, TransferKind::ToAgentId, {}, 0, 102};
  r = exchange(desk_, {desk_.one(Type::TransferRequest, to_102)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().reply_to, desk_.seq);
  EXPECT_EQ(r[0].as<Ack>().status, static_cast<std::uint16_t>(router::Status::TargetLoggedOut));
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::Busy);
  // To a queue that does not exist: the engine's refusal, as an Error.
  const TransferRequest to_queue_7{9, TransferKind::ToQueue, {}, 7, 0};
  r = exchange(desk_, {desk_.one(Type::TransferRequest, to_queue_7)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(router::Status::UnknownQueue));

  // Once 102 is ready (signed in at its own desktop) the same transfer is done: Ack 0, the
  // switch hears of the call's new agent, and 102's desktop is offered the call.
  Peer desk2{9, Endpoint{0x0100007f, 6002, 0}};
  register_peer(desk2, 2);
  ASSERT_EQ(signed_in(desk2, 102, "s3cret-102").agent, 1u);
  ready.agent = 1;
  r = exchange(desk2, {desk2.one(Type::AgentEvent, ready)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  others_.clear();
  r = exchange(desk_, {desk_.one(Type::TransferRequest, to_102)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().reply_to, desk_.seq);
  EXPECT_EQ(r[0].as<Ack>().status, 0);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::Ready);
  EXPECT_EQ(engine_.agent(1).state, router::AgentState::Reserved);
  const auto to_switch = others_for(switch_);
  ASSERT_EQ(to_switch.size(), 1u);  // the call's new agent, a later decision
  EXPECT_EQ(to_switch[0].type, Type::RouteResponse);
  EXPECT_EQ(to_switch[0].as<RouteResponse>().reply_to, 0u);
  EXPECT_EQ(to_switch[0].as<RouteResponse>().agent_number, 102u);
  const auto to_desk2 = others_for(desk2);
  ASSERT_EQ(to_desk2.size(), 1u);
  EXPECT_EQ(to_desk2[0].type, Type::Offer);
  EXPECT_EQ(to_desk2[0].as<wire::Offer>().call_id, 9u);
  EXPECT_EQ(to_desk2[0].as<wire::Offer>().agent, 1u);
  // The call is 102's now: 101's desktop may no longer act on it.
  expect_refused(desk_, Type::CallEvent, CallEvent{9, CallEventKind::Released, {}},
                 WireError::NotYourCall, Counter::refused_not_your_call);
}

// Every input goes through the sequencer once, numbered without gaps, with the clock's time.
TEST_F(PipelineTest, SequencerNumbersEveryInput) {
  std::vector<Input> log;
  io_.sequencer().set_log([&](const Input& in) { log.push_back(in); });
  register_peer(switch_, 1);
  clock_.set(5000);
  RouteRequest rr{};
  rr.call_id = 11;
  send(switch_, {switch_.one(Type::RouteRequest, rr)});
  clock_.advance(2000);
  worker_.poll();  // idle: a tick
  ASSERT_GE(log.size(), 2u);
  for (std::size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].seq, i + 1);
  }
  EXPECT_EQ(log[0].event.type, router::EventType::RouteRequest);
  EXPECT_EQ(log[0].event.time, 5000u);
  EXPECT_EQ(log.back().event.type, router::EventType::Tick);
  EXPECT_EQ(log.back().event.time, 7000u);
}

// A clock that moves 1 µs at every reading, so that a test sees how often it is read.
struct SteppingClock final : Clock {
  router::Micros t = 10'000;
  router::Micros now() override { return t++; }
};

// The inputs of one receive batch are stamped with one reading of the clock (a reading per input
// was a measurable share of a routed call's cost); the next batch's inputs are later.
TEST(Sequencer, OneReadingStampsAReceiveBatch) {
  router::Engine engine(small_centre());
  MemoryPort port;
  SteppingClock clock;
  IoStage io(port, clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  Worker worker(engine, io);
  Peer sw{7, Endpoint{0x0100007f, 5060, 0}};
  port.inject(sw.endpoint, sw.one(Type::Register, Register{1, 0, 1}));
  worker.poll();
  std::vector<Input> log;
  io.sequencer().set_log([&](const Input& in) {
    if (in.event.type == router::EventType::RouteRequest) {
      log.push_back(in);
    }
  });
  router::CallId call = 100;
  auto batch = [&] {  // two datagrams of three route requests each
    for (int d = 0; d < 2; ++d) {
      std::vector<std::uint8_t> buf(kMaxSendDatagram);
      DatagramWriter w(buf, sw.id);
      for (int m = 0; m < 3; ++m) {
        RouteRequest rr{};
        rr.call_id = ++call;
        ASSERT_TRUE(w.add(Type::RouteRequest, ++sw.seq, rr));
      }
      buf.resize(w.finish());
      port.inject(sw.endpoint, std::move(buf));
    }
    worker.poll();
  };
  batch();
  batch();
  ASSERT_EQ(log.size(), 12u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(log[i].event.time, log[0].event.time) << "input " << i << " of the first batch";
    EXPECT_EQ(log[6 + i].event.time, log[6].event.time) << "input " << i << " of the second";
  }
  EXPECT_GT(log[6].event.time, log[0].event.time);
}

// The routing core's interval clock: a 20 ms sleep reads as at least about 20 ms (the counter's
// rate is measured, so a few per cent of error are allowed) and not absurdly more; an interval
// that ends before it begins reads 0.
TEST(IntervalClock, MeasuresASleep) {
  IntervalClock::calibrate();
  const std::uint64_t begin = IntervalClock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::uint64_t end = IntervalClock::now();
  const std::uint64_t ns = IntervalClock::elapsed_ns(begin, end);
  EXPECT_GE(ns, 19'000'000u);
  EXPECT_LT(ns, 2'000'000'000u);
  EXPECT_EQ(IntervalClock::elapsed_ns(end, begin), 0u);
}

// Roles. Desktop 8 signs in agent 101 (index 0), desktop 9 agent 102 (index 1); supervisor 10.
class RolesTest : public PipelineTest {
 protected:
  void SetUp() override {
    register_peer(switch_, 1);
    register_peer(desk_, 2);
    register_peer(desk2_, 2);
    register_peer(sup_, 3);
  }
  void both_signed_in() {
    ASSERT_EQ(signed_in(desk_, 101, "s3cret-101").agent, 0u);
    ASSERT_EQ(signed_in(desk2_, 102, "s3cret-102").agent, 1u);
  }
  Peer desk2_{9, Endpoint{0x0100007f, 6002, 0}};
  Peer sup_{10, Endpoint{0x0100007f, 6003, 0}};
};

// Another desktop signing an agent out is refused NotYourAgent; the agent stays signed in.
TEST_F(RolesTest, DesktopMayNotSignOutAnotherAgent) {
  both_signed_in();
  expect_refused(desk2_, Type::AgentEvent, agent_event(AgentEventKind::SignOut, 0),
                 WireError::NotYourAgent, Counter::refused_not_your_agent);
  expect_refused(desk2_, Type::AgentEvent, agent_event(AgentEventKind::Ready, 0),
                 WireError::NotYourAgent, Counter::refused_not_your_agent);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::NotReady);
  // Its own agent it may sign out; then it acts for nobody.
  const auto r = exchange(desk2_, {desk2_.one(Type::AgentEvent,
                                              agent_event(AgentEventKind::SignOut, 1))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(engine_.agent(1).state, router::AgentState::LoggedOut);
  EXPECT_EQ(io_.client_agent(desk2_.id), router::kNone);
  // A desktop bound to one agent may not sign in a second one.
  expect_refused(desk_, Type::AgentEvent, sign_in(102, "s3cret-102"), WireError::NotYourAgent,
                 Counter::refused_not_your_agent);
}

// A desktop may not force an agent out or ready, not even its own: a supervisor's power.
TEST_F(RolesTest, DesktopMayNotForce) {
  both_signed_in();
  expect_refused(desk_, Type::AgentEvent, agent_event(AgentEventKind::ForceLogout, 1),
                 WireError::NotPermitted, Counter::refused_not_permitted);
  expect_refused(desk_, Type::AgentEvent, agent_event(AgentEventKind::ForceReady, 0),
                 WireError::NotPermitted, Counter::refused_not_permitted);
  EXPECT_EQ(engine_.agent(1).state, router::AgentState::NotReady);
}

// A desktop may not route a call, ask for an outbound reservation by group, or say a caller
// abandoned; a switch may send no agent event and no offer result.
TEST_F(RolesTest, EachRoleOnlyItsMessages) {
  both_signed_in();
  RouteRequest rr{};
  rr.call_id = 5;
  expect_refused(desk_, Type::RouteRequest, rr, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(sup_, Type::RouteRequest, rr, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  EXPECT_EQ(engine_.calls_in_engine(), 0u);
  const OutboundRequest by_queue{77, OutboundKind::ByQueue, 0, 0, 0, 0};
  expect_refused(desk_, Type::OutboundRequest, by_queue, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(switch_, Type::AgentEvent, agent_event(AgentEventKind::Ready, 0),
                 WireError::NotPermitted, Counter::refused_not_permitted);
  expect_refused(switch_, Type::AgentEvent, sign_in(103, "x"), WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(switch_, Type::OfferResult, OfferResult{5, 1, {}}, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  const OutboundRequest by_id{78, OutboundKind::ByAgentId, 0, 0, 0, 101};
  expect_refused(switch_, Type::OutboundRequest, by_id, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  // An outbound reservation for another desktop's agent: NotYourAgent; for its own: done.
  expect_refused(desk2_, Type::OutboundRequest, by_id, WireError::NotYourAgent,
                 Counter::refused_not_your_agent);
  auto r = exchange(desk_, {desk_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 0))});
  ASSERT_EQ(r.back().type, Type::Ack);
  r = exchange(desk_, {desk_.one(Type::OutboundRequest, by_id)});
  ASSERT_EQ(r.size(), 2u);  // the answer, and the reservation offered to the agent's desktop
  EXPECT_EQ(r[1].type, Type::Offer);
  EXPECT_EQ(r[0].type, Type::RouteResponse);
  EXPECT_EQ(r[0].as<RouteResponse>().result, RouteResult::Agent);
  EXPECT_EQ(r[0].as<RouteResponse>().agent, 0u);
  // The reserved agent's desktop reports on the outbound call; the other may not.
  expect_refused(desk2_, Type::CallEvent, CallEvent{78, CallEventKind::Answered, {}},
                 WireError::NotYourCall, Counter::refused_not_your_call);
}

// The messages only acd sends (answers, offers, session tokens) are refused as BadType from any
// client, whatever its role: a forged SessionToken or Ack reaches nothing and is not sequenced.
TEST_F(RolesTest, MessagesOnlyAcdSendsAreRefused) {
  both_signed_in();
  expect_refused(desk_, Type::SessionToken, SessionToken{}, WireError::BadType,
                 Counter::drop_bad_type);
  expect_refused(switch_, Type::Ack, Ack{}, WireError::BadType, Counter::drop_bad_type);
  expect_refused(sup_, Type::Offer, Offer{}, WireError::BadType, Counter::drop_bad_type);
  expect_refused(switch_, Type::RouteResponse, RouteResponse{}, WireError::BadType,
                 Counter::drop_bad_type);
}

SiteSummary site_summary(std::uint8_t site, std::uint64_t seq, std::uint32_t ewt_ms) {
  SiteSummary s{};
  s.site = site;
  s.flags = kSiteAcceptsOverflow;
  s.sl_permille = 900;
  s.queue_key = router::queue_key("cards");
  s.summary_seq = seq;
  s.ready_agents = 2;
  s.ewt_ms = ewt_ms;
  s.load_permille = 600;
  return s;
}

SiteRouteRequest from_site(router::CallId call, std::uint8_t hops, std::uint64_t visited) {
  SiteRouteRequest r{};
  r.request.call_id = call;
  r.hops = hops;
  r.visited = visited;
  return r;
}

// Site messages need a site: a switch or a desktop sending one is refused NotPermitted (counted,
// nothing sequenced). A site's summary is an engine input; its SiteRouteRequest is answered like
// a RouteRequest, an overflow to another site carrying the hops and visited sites, and a call
// never goes back to a site it visited.
TEST_F(RolesTest, SiteMessagesNeedASite) {
  expect_refused(switch_, Type::SiteSummary, site_summary(2, 1, 5'000), WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(desk_, Type::SiteRouteRequest, from_site(40, 1, 1 << 3), WireError::NotPermitted,
                 Counter::refused_not_permitted);
  Peer site{11, Endpoint{0x0100007f, 7070, 0}};
  register_peer(site, static_cast<std::uint32_t>(Role::Site));
  auto r = exchange(site, {site.one(Type::SiteSummary, site_summary(2, 1, 5'000))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0);
  EXPECT_EQ(engine_.site_summary(0, 0).ewt_ms, 5'000u);
  EXPECT_EQ(engine_.site_summary(0, 0).sl_permille, 900);
  // From site 3, one hop: goes on to site 2 (index 0), two hops, visited {1, 3}.
  r = exchange(site, {site.one(Type::SiteRouteRequest, from_site(41, 1, 1u << 3))});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::RouteResponse);
  const RouteResponse rr = r[0].as<RouteResponse>();
  EXPECT_EQ(rr.result, RouteResult::Overflow);
  EXPECT_EQ(rr.action, static_cast<std::uint8_t>(router::OverflowAction::ToSite));
  EXPECT_EQ(rr.target, 0u);
  EXPECT_EQ(rr.agent, 2u);
  EXPECT_EQ(rr.agent_number, (1u << 3) | (1u << 1));
  // From site 2: never back there; it waits here.
  r = exchange(site, {site.one(Type::SiteRouteRequest, from_site(42, 1, 1u << 2))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as<RouteResponse>().result, RouteResult::Queued);
  // A summary with a bad field is refused by the codec.
  SiteSummary bad = site_summary(2, 2, 5'000);
  bad.load_permille = 1001;
  expect_refused(site, Type::SiteSummary, bad, WireError::BadField, Counter::drop_bad_field);
}

PasswordChange password_change(router::AgentNumber number) {
  PasswordChange c{};
  c.agent_number = number;
  std::strncpy(c.old_password, "s3cret-101", sizeof(c.old_password));
  std::strncpy(c.new_password, "n3w-secret", sizeof(c.new_password));
  return c;
}

// A PasswordChange: only a desktop, only for the agent it signed in, and only inside an ACDP/2
// session — in clear text even the right desktop is refused; nothing is sequenced either way.
TEST_F(RolesTest, PasswordChangeOnlyFromTheAgentsDesktopInASession) {
  expect_refused(desk2_, Type::PasswordChange, password_change(102), WireError::SignInFirst,
                 Counter::refused_sign_in_first);
  both_signed_in();
  expect_refused(switch_, Type::PasswordChange, password_change(101), WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(sup_, Type::PasswordChange, password_change(101), WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(desk2_, Type::PasswordChange, password_change(101), WireError::NotYourAgent,
                 Counter::refused_not_your_agent);
  expect_refused(desk_, Type::PasswordChange, password_change(101),
                 WireError::PasswordChangeRefused, Counter::password_change_refused);
  PasswordChange bad = password_change(101);
  bad.reserved = 1;
  expect_refused(desk_, Type::PasswordChange, bad, WireError::BadField, Counter::drop_bad_field);
}

// An offer made to one agent: another desktop may neither answer it nor act on the call, nor may
// a switch that did not route it; the agent's own desktop answers it.
TEST_F(RolesTest, OnlyTheAgentsDesktopAnswersItsOffer) {
  both_signed_in();
  auto r = exchange(desk_, {desk_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 0))});
  ASSERT_EQ(r.back().type, Type::Ack);
  RouteRequest rr{};
  rr.call_id = 9;
  r = exchange(switch_, {switch_.one(Type::RouteRequest, rr)});
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].as<RouteResponse>().agent, 0u);
  ASSERT_EQ(engine_.agent(0).state, router::AgentState::Reserved);

  expect_refused(desk2_, Type::OfferResult, OfferResult{9, 1, {}}, WireError::NotYourCall,
                 Counter::refused_not_your_call);
  expect_refused(desk2_, Type::CallEvent, CallEvent{9, CallEventKind::Answered, {}},
                 WireError::NotYourCall, Counter::refused_not_your_call);
  const TransferRequest away{9, TransferKind::ToQueue, {}, 0, 0};
  expect_refused(desk2_, Type::TransferRequest, away, WireError::NotYourCall,
                 Counter::refused_not_your_call);
  Peer switch2{11, Endpoint{0x0100007f, 5061, 0}};
  register_peer(switch2, 1);
  expect_refused(switch2, Type::CallEvent, CallEvent{9, CallEventKind::Released, {}},
                 WireError::NotYourCall, Counter::refused_not_your_call);
  expect_refused(desk_, Type::CallEvent, CallEvent{9, CallEventKind::Abandoned, {}},
                 WireError::NotPermitted, Counter::refused_not_permitted);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::Reserved);

  r = exchange(desk_, {desk_.one(Type::OfferResult, OfferResult{9, 1, {}})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::Busy);
  // The switch that routed the call reports its end.
  r = exchange(switch_, {switch_.one(Type::CallEvent, CallEvent{9, CallEventKind::Released, {}})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(engine_.calls_in_engine(), 0u);
}

// A switch's RingNoAnswer: only the switch that routed the call may send it, only for the agent
// the call is offered to; it re-routes the call at once (the next agent is offered it, the first
// goes not ready), and a report for the agent the call has left is refused NotRingingThere.
TEST_F(RolesTest, OnlyTheRoutingSwitchReportsRingNoAnswerForTheAgentRung) {
  both_signed_in();
  auto r = exchange(desk_, {desk_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 0))});
  ASSERT_EQ(r.back().type, Type::Ack);
  r = exchange(desk2_, {desk2_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 1))});
  ASSERT_EQ(r.back().type, Type::Ack);
  RouteRequest rr{};
  rr.call_id = 9;
  r = exchange(switch_, {switch_.one(Type::RouteRequest, rr)});
  ASSERT_EQ(r.size(), 1u);
  const std::uint32_t rung = r[0].as<RouteResponse>().agent;
  const std::uint32_t other = 1 - rung;
  ASSERT_EQ(engine_.agent(rung).state, router::AgentState::Reserved);

  const RingNoAnswer busy{9, rung, NoAnswerCause::Busy, 0};
  expect_refused(desk_, Type::RingNoAnswer, busy, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  expect_refused(sup_, Type::RingNoAnswer, busy, WireError::NotPermitted,
                 Counter::refused_not_permitted);
  Peer switch2{11, Endpoint{0x0100007f, 5061, 0}};
  register_peer(switch2, 1);
  expect_refused(switch2, Type::RingNoAnswer, busy, WireError::NotYourCall,
                 Counter::refused_not_your_call);
  expect_refused(switch_, Type::RingNoAnswer, RingNoAnswer{9, other, NoAnswerCause::Busy, 0},
                 WireError::NotRingingThere, Counter::refused_not_ringing_there);
  expect_refused(switch_, Type::RingNoAnswer, RingNoAnswer{9, rung, NoAnswerCause{9}, 0},
                 WireError::BadField, Counter::drop_bad_field);
  EXPECT_EQ(engine_.agent(rung).state, router::AgentState::Reserved);

  r = exchange(switch_, {switch_.one(Type::RingNoAnswer, busy)});
  // The Ack, and the call's next agent as a later decision (same switch, same datagram flow).
  ASSERT_EQ(r.size(), 2u);
  const auto of_type = [&](Type t) {
    return std::find_if(r.begin(), r.end(), [t](const Reply& x) { return x.type == t; });
  };
  ASSERT_NE(of_type(Type::Ack), r.end());
  EXPECT_EQ(of_type(Type::Ack)->as<Ack>().reply_to, switch_.seq);
  EXPECT_EQ(of_type(Type::Ack)->as<Ack>().status, 0);
  ASSERT_NE(of_type(Type::RouteResponse), r.end());
  EXPECT_EQ(of_type(Type::RouteResponse)->as<RouteResponse>().reply_to, 0u);
  EXPECT_EQ(of_type(Type::RouteResponse)->as<RouteResponse>().agent, other);
  EXPECT_EQ(engine_.agent(rung).state, router::AgentState::NotReady);
  EXPECT_EQ(engine_.agent(other).state, router::AgentState::Reserved);
  // The same report again: the call rings the other agent now.
  expect_refused(switch_, Type::RingNoAnswer, busy, WireError::NotRingingThere,
                 Counter::refused_not_ringing_there);
  EXPECT_EQ(engine_.agent(other).state, router::AgentState::Reserved);
}

// A supervisor forces any agent out without signing one in; the agent's desktop is unbound and
// must sign in again before it acts.
TEST_F(RolesTest, SupervisorForcesLogout) {
  both_signed_in();
  auto r = exchange(sup_, {sup_.one(Type::AgentEvent, agent_event(AgentEventKind::ForceLogout, 0))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0);
  EXPECT_EQ(engine_.agent(0).state, router::AgentState::LoggedOut);
  EXPECT_EQ(io_.client_agent(desk_.id), router::kNone);
  EXPECT_EQ(io_.client_agent(desk2_.id), 1u);
  expect_refused(desk_, Type::AgentEvent, agent_event(AgentEventKind::Ready, 0),
                 WireError::SignInFirst, Counter::refused_sign_in_first);
  r = exchange(sup_, {sup_.one(Type::AgentEvent, agent_event(AgentEventKind::ForceReady, 1))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(engine_.agent(1).state, router::AgentState::Ready);
  // Agent-bound messages need the supervisor's own sign-in.
  expect_refused(sup_, Type::AgentEvent, agent_event(AgentEventKind::NotReady, 1),
                 WireError::SignInFirst, Counter::refused_sign_in_first);
}

// Before its sign-in a desktop may register, send heartbeats and sign in, nothing else; the
// sign-in's Ack names the agent's index.
TEST_F(RolesTest, DesktopActsOnlyAfterSignIn) {
  expect_refused(desk2_, Type::AgentEvent, agent_event(AgentEventKind::Ready, 1),
                 WireError::SignInFirst, Counter::refused_sign_in_first);
  expect_refused(desk2_, Type::OfferResult, OfferResult{3, 1, {}}, WireError::SignInFirst,
                 Counter::refused_sign_in_first);
  expect_refused(desk2_, Type::CallEvent, CallEvent{3, CallEventKind::Released, {}},
                 WireError::SignInFirst, Counter::refused_sign_in_first);
  const OutboundRequest by_id{78, OutboundKind::ByAgentId, 0, 0, 0, 102};
  expect_refused(desk2_, Type::OutboundRequest, by_id, WireError::SignInFirst,
                 Counter::refused_sign_in_first);
  auto r = exchange(desk2_, {desk2_.one(Type::Heartbeat, Heartbeat{1, 0})});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Heartbeat);
  EXPECT_EQ(io_.client_role(desk2_.id), Role::Desktop);
  EXPECT_EQ(io_.client_agent(desk2_.id), router::kNone);
  const Ack ack = signed_in(desk2_, 102, "s3cret-102");
  EXPECT_EQ(ack.reply_to, desk2_.seq);
  EXPECT_EQ(ack.agent, 1u);
  EXPECT_EQ(io_.client_agent(desk2_.id), 1u);
  r = exchange(desk2_, {desk2_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 1))});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(engine_.agent(1).state, router::AgentState::Ready);
  // A refusal is answered again, the same, to a retransmission.
  const std::uint64_t refused_seq = desk_.seq + 1;
  expect_refused(desk_, Type::AgentEvent, agent_event(AgentEventKind::Ready, 0),
                 WireError::SignInFirst, Counter::refused_sign_in_first);
  r = exchange(desk_, {desk_.one(Type::AgentEvent, agent_event(AgentEventKind::Ready, 0),
                                 refused_seq)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::SignInFirst));
}

// A sign-in the engine refuses (the agent is signed in at another desktop) binds nothing: the
// agent's offers still go to the desktop that signed it in.
TEST_F(RolesTest, RefusedSignInBindsNothing) {
  both_signed_in();
  Peer desk3{12, Endpoint{0x0100007f, 6004, 0}};
  register_peer(desk3, 2);
  send(desk3, {desk3.one(Type::AgentEvent, sign_in(101, "s3cret-101"))});
  const auto r = wait_for_reply(desk3);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(router::Status::AlreadySignedIn));
  EXPECT_EQ(io_.client_agent(desk3.id), router::kNone);
  EXPECT_EQ(io_.client_agent(desk_.id), 0u);
  expect_refused(desk3, Type::AgentEvent, agent_event(AgentEventKind::SignOut, 0),
                 WireError::SignInFirst, Counter::refused_sign_in_first);
}

}  // namespace
}  // namespace acd::dataplane

namespace acd::dataplane {
namespace {

// A reset (a client restarted) forgets its whole window, answered, answered-here and pending
// alike, and the window fills again afterwards; another client's window is untouched.
TEST(ReplyCache, ResetForgetsTheWindowAndItFillsAgain) {
  ReplyCache cache(2, 8);
  const std::uint8_t answer[] = {1, 2, 3};
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {
    cache.store(0, seq, answer, seq % 2 == 0);
    cache.store(1, seq, answer);
  }
  cache.mark_pending(0, 7);
  cache.reset(0);
  EXPECT_EQ(cache.highest(0), 0u);
  std::span<const std::uint8_t> reply;
  for (std::uint64_t seq = 1; seq <= 7; ++seq) {
    EXPECT_EQ(cache.find(0, seq, reply), ReplyCache::Lookup::New) << seq;
    EXPECT_EQ(cache.find(1, seq, reply), seq <= 6 ? ReplyCache::Lookup::Answered
                                                  : ReplyCache::Lookup::New)
        << seq;
  }
  int visited = 0;
  cache.for_each_answered(0, [&](std::uint64_t, std::span<const std::uint8_t>) { ++visited; });
  EXPECT_EQ(visited, 0);
  // A reply cached only here after the reset is not kept from its entry by the old generation's
  // replicated reply in it.
  const std::uint8_t again[] = {9};
  cache.store(0, 2, again, false);
  ASSERT_EQ(cache.find(0, 2, reply), ReplyCache::Lookup::Answered);
  EXPECT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0], 9);
  cache.store(0, 4, answer);
  visited = 0;
  cache.for_each_answered(0, [&](std::uint64_t seq, std::span<const std::uint8_t>) {
    EXPECT_EQ(seq, 4u);
    ++visited;
  });
  EXPECT_EQ(visited, 1);
}

}  // namespace
}  // namespace acd::dataplane

namespace acd::dataplane {
namespace {

// A verifier that holds every check until released: the pool's queue stays full.
struct HeldCredentials final : CredentialVerifier {
  std::atomic<bool> release{false};
  bool verify(router::AgentNumber, std::string_view) override {
    while (!release.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
};

// Sign-ins refused because the checkers' queue is full are answered Overloaded with a retry-after
// hint: the queue's work down to half first (waiting jobs beyond half × the check estimate), then
// one turn per refusal,
// so each later refusal is told to come back later than the one before.
TEST(SignInOverload, OverloadedCarriesARetryAfterThatBooksTurns) {
  router::EngineConfig c = small_centre();
  for (router::AgentNumber n = 104; n <= 110; ++n) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}};
    c.agents.push_back(a);
  }
  HeldCredentials credentials;
  VerifierPoolConfig pool;
  pool.threads = 1;
  pool.queue = 2;
  pool.check_estimate_us = 100'000;  // 100 ms a check
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : c.agents) {
    numbers.push_back(a.number);
  }
  router::Engine engine(c);
  MemoryPort port;
  ManualClock clock;
  std::vector<std::uint32_t> hints;
  {
    AsyncVerifier verifier(credentials, pool);
    IoStage io(port, clock, &verifier, numbers, DataplaneConfig{});
    Worker worker(engine, io);
    for (std::uint32_t k = 0; k < 6; ++k) {
      Peer desk{20 + k, Endpoint{0x0100007f, static_cast<std::uint16_t>(6100 + k), 0}};
      port.inject(desk.endpoint, desk.one(Type::Register, Register{2, 0, 1}));
      AgentEvent e{};
      e.kind = AgentEventKind::SignIn;
      e.agent_number = 105 + k;
      std::strncpy(e.password, "pw", sizeof(e.password) - 1);
      port.inject(desk.endpoint, desk.one(Type::AgentEvent, e));
    }
    worker.poll();
    for (auto& s : port.take_sent()) {
      DatagramHeader h;
      ASSERT_EQ(check_header(s.payload, h), HeaderCheck::Ok);
      for_each_message(
          s.payload, h,
          [&](const Message& m) {
            if (m.type == Type::Error) {
              const auto err = m.as<Error>();
              EXPECT_EQ(err.reason, static_cast<std::uint16_t>(WireError::Overloaded));
              std::uint32_t after = 0;
              std::memcpy(&after, err.detail, sizeof(after));
              EXPECT_EQ(err.detail[4], 0);
              EXPECT_EQ(err.detail[5], 0);
              hints.push_back(after);
            }
          },
          [](std::uint64_t, WireError) {});
    }
    credentials.release = true;
  }
  // Two sign-ins queued, four refused: come back once the queue is down to half (one check,
  // 100 ms) and a turn each after that.
  ASSERT_EQ(hints.size(), 4u);
  EXPECT_EQ(hints[0], 200u);
  EXPECT_EQ(hints[1], 300u);
  EXPECT_EQ(hints[2], 400u);
  EXPECT_EQ(hints[3], 500u);
}

// A verifier that accepts every password at once.
struct AcceptingCredentials final : CredentialVerifier {
  bool verify(router::AgentNumber, std::string_view) override { return true; }
};

// A burst of password sign-ins takes DataplaneConfig::signin_burst of them per poll cycle: the
// route request that arrived behind six sign-ins is answered in the first cycle while four of
// them wait (a retransmission of a waiting one is dropped as pending, not handled twice); the
// waiting ones are handled in later cycles and every desktop is answered once.
TEST(SignInBurst, RouteRequestsDoNotWaitBehindASignInBurst) {
  router::EngineConfig c = small_centre();
  for (router::AgentNumber n = 104; n <= 110; ++n) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}};
    c.agents.push_back(a);
  }
  std::vector<router::AgentNumber> numbers;
  for (const auto& a : c.agents) {
    numbers.push_back(a.number);
  }
  AcceptingCredentials credentials;
  router::Engine engine(c);
  MemoryPort port;
  ManualClock clock;
  AsyncVerifier verifier(credentials);
  DataplaneConfig dp;
  dp.signin_burst = 2;
  IoStage io(port, clock, &verifier, numbers, dp);
  Worker worker(engine, io);
  Peer sw{7, Endpoint{0x0100007f, 5060, 0}};
  port.inject(sw.endpoint, sw.one(Type::Register, Register{1, 0, 1}));
  std::vector<Peer> desks;
  for (std::uint32_t k = 0; k < 6; ++k) {
    desks.push_back(Peer{20 + k, Endpoint{0x0100007f, static_cast<std::uint16_t>(6100 + k), 0}});
    port.inject(desks.back().endpoint, desks.back().one(Type::Register, Register{2, 0, 1}));
  }
  worker.poll();
  (void)port.take_sent();
  std::vector<std::vector<std::uint8_t>> sign_ins;
  for (std::uint32_t k = 0; k < 6; ++k) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = 105 + k;
    std::strncpy(e.password, "pw-long-enough", sizeof(e.password) - 1);
    sign_ins.push_back(desks[k].one(Type::AgentEvent, e));
    port.inject(desks[k].endpoint, sign_ins.back());
  }
  RouteRequest rr{};
  rr.call_id = 42;
  port.inject(sw.endpoint, sw.one(Type::RouteRequest, rr));
  worker.poll();
  EXPECT_EQ(io.counters().read(Counter::signins_deferred), 4u);
  std::map<std::uint16_t, int> acks;  // by desktop port (a fast verifier answers within a cycle)
  bool routed = false;
  auto take = [&] {
    for (auto& sent : port.take_sent()) {
      routed = routed || sent.to == sw.endpoint;
      DatagramHeader h;
      ASSERT_EQ(check_header(sent.payload, h), HeaderCheck::Ok);
      for_each_message(
          sent.payload, h,
          [&](const Message& m) {
            if (m.type == Type::Ack) {
              ++acks[sent.to.port];
            }
          },
          [](std::uint64_t, WireError) {});
    }
  };
  take();
  EXPECT_TRUE(routed) << "the route request waited behind the sign-ins";
  port.inject(desks[5].endpoint, sign_ins[5]);  // the last one, still waiting, sent again
  for (int i = 0; i < 2000 && acks.size() < 6; ++i) {
    worker.poll();
    take();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(acks.size(), 6u) << "a waiting sign-in was never answered";
  for (const auto& [desk, n] : acks) {
    EXPECT_EQ(n, 1) << "desktop port " << desk << " answered " << n << " times";
  }
  EXPECT_EQ(io.counters().read(Counter::drop_pending), 1u);
}

}  // namespace
}  // namespace acd::dataplane
