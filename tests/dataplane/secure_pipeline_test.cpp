// The pipeline with ACDP/2 over an in-memory port: clients handshake with the layer's worker
// thread, their sealed datagrams reach the engine as their configured client (ID and role from
// [[clients]], never from the wire), replies leave sealed, and whatever is not authentic — clear
// text, forged, replayed, for an unknown session, a flood of inits — never reaches the engine and
// allocates no session.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/session_layer.hpp"
#include "kept_replies.hpp"
#include "secure_peer.hpp"

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
  c.queues.push_back(q);
  for (router::AgentNumber n : {101, 102, 103}) {
    router::AgentConfig a;
    a.number = n;
    a.skills = {router::SkillLevel{0, 5, 0}};
    c.agents.push_back(a);
  }
  return c;
}

// Stand-ins for argon2id strings (well-formed: the log's reader checks them strictly).
std::string test_hash(int n) {
  return "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$dGVzdHRlc3R0ZXN0dGVzdA" +
         std::string(1, static_cast<char>('A' + n % 26));
}
constexpr const char* kCodeHash =
    "$argon2id$v=19$m=8,t=1,p=1$Y29kZWNvZGVjb2Rl$Y29kZWNvZGVjb2RlY29kZQ";

// InMemoryCredentials plus what the control plane's store does for a password change (hands back
// a stand-in hash, stores the new password only when the log's record is applied through the
// writer: `hold` keeps that waiting) and an enrolment code spent by `spend`'s next sign-in.
class ChangingCredentials final : public CredentialVerifier, public CredentialSink {
 public:
  explicit ChangingCredentials(InMemoryCredentials& base) : base_(base) {}
  bool verify(router::AgentNumber agent, std::string_view password) override {
    const std::lock_guard lock(mutex_);
    const auto it = changed_.find(agent);
    return it != changed_.end() ? it->second == password : base_.verify(agent, password);
  }
  ChangeOutcome change_password(router::AgentNumber agent, std::string_view old_password,
                                std::string_view new_password, const SignInSource&,
                                char (&hash)[kCredentialHashBytes],
                                CredentialDigest& replaced) override {
    if (new_password.size() < 8) {
      return ChangeOutcome::Policy;
    }
    if (!verify(agent, old_password)) {
      return ChangeOutcome::Refused;
    }
    const std::lock_guard lock(mutex_);
    const std::string h = test_hash(++changes_);
    pending_[h] = std::string(new_password);
    std::snprintf(hash, sizeof(hash), "%s", h.c_str());
    replaced.fill(static_cast<std::uint8_t>(changes_));
    return ChangeOutcome::Changed;
  }
  bool spent_enrolment(router::AgentNumber agent, char (&hash)[kCredentialHashBytes]) override {
    const std::lock_guard lock(mutex_);
    if (agent != spend) {
      return false;
    }
    spend = 0;
    std::snprintf(hash, sizeof(hash), "%s", kCodeHash);
    return true;
  }
  ApplyOutcome apply_credential(router::AgentNumber agent, CredentialChangeKind kind,
                                std::string_view hash, const CredentialDigest&) override {
    while (hold.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const std::lock_guard lock(mutex_);
    applied.emplace_back(agent, std::string(hash));
    if (const auto it = pending_.find(std::string(hash));
        kind == CredentialChangeKind::Password && it != pending_.end()) {
      changed_[agent] = it->second;
    }
    return ApplyOutcome::Stored;
  }
  void restore_enrolment(router::AgentNumber agent, std::string_view hash) override {
    const std::lock_guard lock(mutex_);
    restored.emplace_back(agent, std::string(hash));
  }
  std::size_t applied_count() {
    const std::lock_guard lock(mutex_);
    return applied.size();
  }
  std::atomic<router::AgentNumber> spend{0};
  std::atomic<bool> hold{false};
  std::vector<std::pair<router::AgentNumber, std::string>> applied;   // under mutex_
  std::vector<std::pair<router::AgentNumber, std::string>> restored;  // under mutex_

 private:
  InMemoryCredentials& base_;
  std::mutex mutex_;
  std::map<router::AgentNumber, std::string> changed_;
  std::map<std::string, std::string> pending_;  // hash -> the password it stands for
  int changes_ = 0;
};

class SecurePipelineTest : public ::testing::Test {
 protected:
  // `virtual_clock`: the layer reads virtual_ns_ (sessions live an hour, idle a minute).
  explicit SecurePipelineTest(std::uint32_t handshakes_per_second = 1000,
                              bool virtual_clock = false, std::uint32_t cookies_per_second = 2000)
      : server_(secure::generate_key_pair()),
        config_(small_centre()),
        engine_(config_),
        verifier_(changing_),
        io_(port_, clock_, &verifier_, {101, 102, 103}, DataplaneConfig{}),
        worker_(engine_, io_) {
    credentials_.set(101, "s3cret-101");
    credentials_.set(102, "s3cret-102");
    SecureConfig sc;
    sc.keys = server_;
    sc.clients.push_back({"sbc-1", Role::Switch, switch_.keys.public_key, {}});
    sc.clients.push_back({"desk-1", Role::Desktop, desk_.keys.public_key, {}});
    sc.clients.push_back({"desk-2", Role::Desktop, desk2_.keys.public_key, {}});
    sc.handshakes_per_second = handshakes_per_second;
    sc.cookies_per_second = cookies_per_second;
    if (virtual_clock) {
      sc.clock = [this] { return virtual_ns_.load(std::memory_order_relaxed); };
      sc.session_lifetime_ns = 3600 * kSecond;
      sc.idle_timeout_ns = 60 * kSecond;
    }
    EXPECT_EQ(check_secure_config(sc), "");
    layer_.emplace(sc);
    layer_->start();
    io_.set_security(&*layer_);
  }

  // Every datagram sent so far, by destination.
  void take_sent() {
    for (auto& s : port_.take_sent()) {
      sent_.push_back(std::move(s));
      all_sent_.push_back(sent_.back());
    }
  }
  std::vector<Reply> replies_for(SecurePeer& p) {
    take_sent();
    std::vector<Reply> out;
    std::vector<MemoryPort::Sent> rest;
    for (auto& s : sent_) {
      if (s.to == p.endpoint && p.cipher && !secure::peek(s.payload).handshake) {
        EXPECT_TRUE(p.open(s.payload, out)) << "a datagram to " << p.name << " does not open";
      } else {
        rest.push_back(std::move(s));
      }
    }
    sent_ = std::move(rest);
    return out;
  }
  // The handshake with the node behind `port` and `worker`, through its worker thread: true once
  // the client holds a session. `collect` moves what the node sent into `sent`; the handshake's
  // answers are taken out of it.
  static bool handshake(SecurePeer& p, MemoryPort& port, Worker& worker,
                        std::vector<MemoryPort::Sent>& sent, const std::function<void()>& collect) {
    port.inject(p.endpoint, p.init());
    for (int i = 0; i < 4000; ++i) {
      worker.poll();
      collect();
      for (auto it = sent.begin(); it != sent.end(); ++it) {
        const secure::Peeked k = secure::peek(it->payload);
        if (it->to == p.endpoint && k.handshake) {
          if (k.kind == secure::Kind::CookieReply) {
            EXPECT_EQ(p.initiator.consume_cookie(it->payload, steady_ns()),
                      secure::DropReason::None);
            sent.erase(it);
            port.inject(p.endpoint, p.init());
            break;
          }
          secure::Initiator::Established e = p.initiator.consume_response(it->payload);
          sent.erase(it);
          if (e.reason != secure::DropReason::None) {
            return false;
          }
          p.cipher.emplace(e.keys, secure::Side::Client, secure::Aead::ChaCha20Poly1305);
          p.index = e.session_index;
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return false;
  }
  bool connect(SecurePeer& p) {
    return handshake(p, port_, worker_, sent_, [this] { take_sent(); });
  }
  [[nodiscard]] std::vector<Reply> exchange(SecurePeer& p, Bytes datagram) {
    port_.inject(p.endpoint, std::move(datagram));
    worker_.poll();
    return replies_for(p);
  }
  // exchange() for a message answered later (a sign-in or a password change the verifier checks):
  // what came back already (a fast verifier answers within the same poll) is kept for
  // wait_for_reply.
  void send(SecurePeer& p, Bytes datagram) {
    kept_.keep(p.endpoint, exchange(p, std::move(datagram)));
  }
  void register_peer(SecurePeer& p, Role claimed) {
    const auto r =
        exchange(p, p.one(Type::Register, Register{static_cast<std::uint32_t>(claimed), 0, 1}));
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].type, Type::Ack);
  }
  // The replies to `p` that send() kept, then more polls until there is at least one.
  std::vector<Reply> wait_for_reply(SecurePeer& p) {
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
  static RouteRequest route(router::CallId call) {
    RouteRequest rr{};
    rr.call_id = call;
    rr.queue = 0;
    return rr;
  }

  static constexpr std::uint64_t kSecond = 1'000'000'000;
  void advance(std::uint64_t ns) { virtual_ns_.fetch_add(ns, std::memory_order_relaxed); }
  // The switch's handshake, Register and one route request answered: that request's datagram.
  Bytes switch_routed_once() {
    EXPECT_TRUE(connect(switch_));
    register_peer(switch_, Role::Switch);
    Bytes good = switch_.one(Type::RouteRequest, route(1));
    EXPECT_EQ(exchange(switch_, good).size(), 1u);
    return good;
  }
  // ACDP/1 in clear text carrying the configured client `name`'s logical ID: a route request.
  static Bytes clear_text_as(const char* name, router::CallId call) {
    Bytes buf(kMaxSendDatagram);
    DatagramWriter w(buf, secure_client_id(name));
    EXPECT_TRUE(w.add(Type::RouteRequest, 50, route(call)));
    buf.resize(w.finish());
    return buf;
  }
  bool routed(SecurePeer& p, router::CallId call) {
    const auto r = exchange(p, p.one(Type::RouteRequest, route(call)));
    return r.size() == 1 && r[0].type == Type::RouteResponse;
  }

  std::atomic<std::uint64_t> virtual_ns_{kSecond};
  secure::StaticKeyPair server_;
  router::EngineConfig config_;
  router::Engine engine_;
  InMemoryCredentials credentials_;
  ChangingCredentials changing_{credentials_};
  AsyncVerifier verifier_;
  MemoryPort port_;
  ManualClock clock_;
  IoStage io_;
  Worker worker_;
  SecurePeer switch_{"sbc-1", Endpoint{0x0100007f, 5060, 0}, server_.public_key};
  SecurePeer desk_{"desk-1", Endpoint{0x0100007f, 6001, 0}, server_.public_key};
  SecurePeer desk2_{"desk-2", Endpoint{0x0100007f, 6002, 0}, server_.public_key};
  std::optional<SessionLayer> layer_;
  std::vector<MemoryPort::Sent> sent_;
  std::vector<MemoryPort::Sent> all_sent_;
  KeptReplies<Reply> kept_;  // send()'s replies, for wait_for_reply
};

// A wall clock the test sets.
struct TestWall final : WallClock {
  std::int64_t now = 1'800'000'000;
  std::int64_t unix_seconds() override { return now; }
};

// The pipeline of SecurePipelineTest with session tokens on (day end 04:00 UTC).
class SecureTokenTest : public SecurePipelineTest {
 protected:
  SecureTokenTest() {
    key_.fill(9);
    io_.set_tokens(&tokens_, &wall_);
    io_.set_control(&channel_);
  }
  AgentEvent sign_in(router::AgentNumber number, const char* password) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = number;
    e.device = 8000 + number;
    std::strncpy(e.password, password, sizeof(e.password) - 1);
    return e;
  }
  static AgentEvent with_token(router::AgentNumber number, const TokenProof& proof) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.flags = kSignInWithToken;
    e.agent_number = number;
    e.device = 8000 + number;
    std::memcpy(e.password, &proof, sizeof(proof));
    return e;
  }
  // Password sign-in of 101 from desk-1: the Ack, then the day's token.
  SessionToken password_sign_in() {
    send(desk_, desk_.one(Type::AgentEvent, sign_in(101, "s3cret-101")));
    const auto r = wait_for_reply(desk_);
    EXPECT_EQ(r.size(), 2u);
    if (r.size() != 2) {
      return {};
    }
    EXPECT_EQ(r[0].type, Type::Ack);
    EXPECT_EQ(r[1].type, Type::SessionToken);
    EXPECT_EQ(r[1].seq, desk_.seq);
    return r[1].as<SessionToken>();
  }
  // A token sign-in that must be refused: TokenRefused, counted under `counter`, nothing sequenced.
  void expect_token_refused(router::AgentNumber number, const TokenProof& proof, Counter counter) {
    const std::uint64_t next = io_.sequencer().next();
    const std::uint64_t events = engine_.counters().events;
    const std::uint64_t counted = io_.counters().read(counter);
    const auto r = exchange(desk_, desk_.one(Type::AgentEvent, with_token(number, proof)));
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r[0].type, Type::Error);
    EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::TokenRefused));
    EXPECT_EQ(io_.counters().read(counter), counted + 1);
    EXPECT_EQ(io_.sequencer().next(), next) << "a refused token sign-in was sequenced";
    EXPECT_EQ(engine_.counters().events, events) << "a refused token sign-in reached the engine";
  }

  TokenKey key_{};
  TestWall wall_;
  SessionTokens tokens_{key_of(9), "paris", 4 * 3600};
  ControlChannel channel_;

  static TokenKey key_of(std::uint8_t fill) {
    TokenKey k;
    k.fill(fill);
    return k;
  }
};

// A password sign-in over the desktop's session is followed by the day's token (sealed like every
// datagram); the desktop, restarted, signs in again with the token alone: acked with the agent's
// index without a password check or an engine input, and with the token again.
TEST_F(SecureTokenTest, TokenFollowsSignInAndResumesIt) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionToken token = password_sign_in();
  EXPECT_EQ(token.agent_number, 101u);
  EXPECT_EQ(tokens_.check(101, token.proof, 0, wall_.now), TokenCheck::Valid);
  EXPECT_EQ(io_.counters().read(Counter::tokens_minted), 1u);

  ASSERT_TRUE(exchange(desk_, desk_.one(Type::Register, Register{2, 0, 2})).size() == 1);
  const std::uint64_t events = engine_.counters().events;
  const auto r = exchange(desk_, desk_.one(Type::AgentEvent, with_token(101, token.proof)));
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0u);
  EXPECT_EQ(r[0].as<Ack>().agent, 0u);
  EXPECT_EQ(r[1].type, Type::SessionToken);
  EXPECT_EQ(engine_.counters().events, events) << "a resumed sign-in went to the engine";
  EXPECT_EQ(io_.counters().read(Counter::token_sign_ins), 1u);
  EXPECT_EQ(io_.client_agent(secure_client_id("desk-1")), 0u);
}

// A sign-in sent again (the desktop missed the answer) is answered from the reply cache, and the
// token, which the cache does not keep, comes with it again.
TEST_F(SecureTokenTest, RetransmittedSignInGetsTheTokenToo) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionToken first = password_sign_in();
  const std::uint64_t events = engine_.counters().events;
  const auto again =
      exchange(desk_, desk_.one(Type::AgentEvent, sign_in(101, "s3cret-101"), desk_.seq));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].type, Type::Ack);
  EXPECT_EQ(again[1].type, Type::SessionToken);
  const SessionToken resent = again[1].as<SessionToken>();
  EXPECT_EQ(std::memcmp(&resent.proof, &first.proof, sizeof(first.proof)), 0);
  EXPECT_EQ(engine_.counters().events, events);
  EXPECT_EQ(io_.counters().read(Counter::duplicates_answered), 1u);
}

// A valid token (minted by the other node of the pair: same key and site) for an agent not signed
// in signs it in through the engine like a verified password, with no verifier job.
TEST_F(SecureTokenTest, TokenSignsInAnAgentThatIsOut) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionTokens other_node(key_of(9), "paris", 4 * 3600);
  const std::uint64_t events = engine_.counters().events;
  const auto r =
      exchange(desk_, desk_.one(Type::AgentEvent, with_token(101, other_node.mint(101, 0, 1))));
  ASSERT_EQ(r.size(), 1u) << "a token of a day long gone is refused";
  EXPECT_EQ(r[0].type, Type::Error);
  const auto ok = exchange(
      desk_, desk_.one(Type::AgentEvent, with_token(101, other_node.mint(101, 0, wall_.now))));
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[0].type, Type::Ack);
  EXPECT_EQ(ok[0].as<Ack>().status, 0u);
  EXPECT_EQ(ok[1].type, Type::SessionToken);
  EXPECT_EQ(engine_.counters().events, events + 1);
  EXPECT_EQ(io_.client_agent(secure_client_id("desk-1")), 0u);
}

// Expired, another agent's, forged or revoked (by the agent's sign-out): each refused with
// TokenRefused and its own count, and nothing sequenced.
TEST_F(SecureTokenTest, InvalidTokensAreRefused) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const TokenProof fresh = tokens_.mint(101, 0, wall_.now);
  expect_token_refused(102, fresh, Counter::token_refused_forged);  // wrong agent
  TokenProof forged = fresh;
  forged.mac[0] ^= 0x80;
  expect_token_refused(101, forged, Counter::token_refused_forged);
  const TokenProof other_key = SessionTokens(key_of(1), "paris", 4 * 3600).mint(101, 0, wall_.now);
  expect_token_refused(101, other_key, Counter::token_refused_forged);
  const TokenProof old = tokens_.mint(101, 0, wall_.now - 2 * 86400);
  expect_token_refused(101, old, Counter::token_refused_expired);

  const SessionToken token = password_sign_in();
  AgentEvent out{};
  out.kind = AgentEventKind::SignOut;
  out.agent = 0;
  const auto signed_out = exchange(desk_, desk_.one(Type::AgentEvent, out));
  ASSERT_EQ(signed_out.size(), 1u);
  EXPECT_EQ(signed_out[0].type, Type::Ack);
  EXPECT_EQ(io_.token_generation(0), 1u);
  expect_token_refused(101, token.proof, Counter::token_refused_revoked);
}

// An operator's revocation moves the agent's generation on (a TokenRevoke, never an engine input):
// the token the desktop holds is refused from then on; an unknown agent is refused and changes
// nothing.
TEST_F(SecureTokenTest, OperatorRevocation) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionToken token = password_sign_in();
  const std::uint64_t events = engine_.counters().events;
  ControlRequest req;
  req.ticket = 5;
  req.command = RevokeTokens{};
  req.event.number = 101;
  ASSERT_TRUE(channel_.submit(req));
  req.ticket = 6;
  req.event.number = 999;
  ASSERT_TRUE(channel_.submit(req));
  worker_.poll();
  ControlReply reply;
  ASSERT_TRUE(channel_.take_reply(reply));
  EXPECT_EQ(reply.ticket, 5u);
  EXPECT_EQ(reply.result, CommandResult::Done);
  ASSERT_TRUE(channel_.take_reply(reply));
  EXPECT_EQ(reply.ticket, 6u);
  EXPECT_EQ(reply.result, CommandResult::Refused);
  EXPECT_EQ(reply.engine_status, router::Status::NoSuchAgent);
  EXPECT_EQ(engine_.counters().events, events);
  EXPECT_EQ(io_.token_generation(0), 1u);
  EXPECT_EQ(io_.token_generation(1), 0u);
  expect_token_refused(101, token.proof, Counter::token_refused_revoked);
}

// A switch handshakes, registers and routes a call; acd knows it by its configured name's ID
// and configured role, and every datagram it sends back is sealed with the session.
TEST_F(SecurePipelineTest, AuthenticatedClientIsRouted) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  const auto r = exchange(switch_, switch_.one(Type::RouteRequest, route(1)));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::RouteResponse);
  const std::uint32_t id = secure_client_id("sbc-1");
  EXPECT_EQ(io_.client_role(id), Role::Switch);
  EXPECT_EQ(io_.client_role(999), Role::None) << "the wire's client ID is not used";
  EXPECT_EQ(layer_->sessions(), 1u);
  EXPECT_EQ(layer_->read(SecurityCounter::handshakes), 1u);
  for (const auto& s : all_sent_) {
    EXPECT_EQ(s.payload[4], secure::kVersion) << "acd sent a clear-text datagram";
  }
}

// The sign-in password travels only inside the ciphertext: it appears in no datagram either way,
// and the sign-in still succeeds.
TEST_F(SecurePipelineTest, SignInPasswordIsNeverOnTheWire) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  AgentEvent e{};
  e.kind = AgentEventKind::SignIn;
  e.agent_number = 101;
  e.device = 8101;
  std::strncpy(e.password, "s3cret-101", sizeof(e.password) - 1);
  const Bytes d = desk_.one(Type::AgentEvent, e);
  const std::string password = "s3cret-101";
  auto contains = [&](const Bytes& b) {
    return std::search(b.begin(), b.end(), password.begin(), password.end()) != b.end();
  };
  EXPECT_FALSE(contains(d)) << "the password is on the wire in clear";
  send(desk_, d);
  const auto r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(io_.client_agent(secure_client_id("desk-1")), 0u);
  for (const auto& s : all_sent_) {
    EXPECT_FALSE(contains(s.payload));
  }
}

// Clear text, a forged datagram, a replayed one and one for a session nobody holds are dropped,
// counted by reason, never answered, and never reach the engine.
TEST_F(SecurePipelineTest, UnauthenticDatagramsNeverReachTheEngine) {
  const Bytes good = switch_routed_once();
  ASSERT_FALSE(HasFailure());
  const std::uint64_t events = engine_.counters().events;
  const std::uint64_t next = io_.sequencer().next();

  // Replayed: the very datagram again.
  EXPECT_TRUE(exchange(switch_, good).empty());
  EXPECT_EQ(layer_->dropped(secure::DropReason::Replayed), 1u);
  // Forged: a bit of the ciphertext flipped.
  Bytes forged = switch_.one(Type::RouteRequest, route(2));
  forged[30] ^= 1;
  EXPECT_TRUE(exchange(switch_, forged).empty());
  EXPECT_EQ(layer_->dropped(secure::DropReason::BadTag), 1u);
  // Unknown session: a good datagram with another index.
  Bytes unknown = switch_.one(Type::RouteRequest, route(3));
  const std::uint32_t other = switch_.index + 1;
  std::memcpy(unknown.data() + 8, &other, 4);
  EXPECT_TRUE(exchange(switch_, unknown).empty());
  EXPECT_EQ(layer_->dropped(secure::DropReason::UnknownSession), 1u);
  // Clear text ACDP/1 (even with the right client ID).
  EXPECT_TRUE(exchange(switch_, clear_text_as("sbc-1", 4)).empty());
  EXPECT_EQ(layer_->dropped(secure::DropReason::Malformed), 1u);

  EXPECT_EQ(engine_.counters().events, events) << "an unauthentic datagram reached the engine";
  EXPECT_EQ(io_.sequencer().next(), next);
  EXPECT_EQ(engine_.calls_in_engine(), 1u);
  // The session still works.
  EXPECT_EQ(exchange(switch_, switch_.one(Type::RouteRequest, route(5))).size(), 1u);
}

// Another host with a copy of an established client's traffic, or its session index, gets
// nothing: the captured datagram sent again from its own address is a replay, one it seals
// itself under the client's index fails its tag, and ACDP/1 naming the client is not ACDP/2. No
// input reaches the engine, and the client's replies still go to the client.
TEST_F(SecurePipelineTest, ACopiedClientFromAnotherAddressGetsNothing) {
  const Bytes captured = switch_routed_once();
  ASSERT_FALSE(HasFailure());
  const std::uint64_t events = engine_.counters().events;
  const std::uint64_t next = io_.sequencer().next();
  const Endpoint elsewhere{0x0200007f, 7777, 0};  // 127.0.0.2

  port_.inject(elsewhere, captured);
  worker_.poll();
  EXPECT_EQ(layer_->dropped(secure::DropReason::Replayed), 1u);
  // The attacker's own keys under the switch's session index.
  SecurePeer mallory("mallory", elsewhere, server_.public_key);
  secure::SessionKeys guessed;
  guessed.client_to_server.fill(0x5a);
  guessed.server_to_client.fill(0xa5);
  mallory.cipher.emplace(guessed, secure::Side::Client, secure::Aead::ChaCha20Poly1305);
  mallory.index = switch_.index;
  // Its counter is its own (low: below the window, or above it with a tag that fails).
  auto refused = [this] {
    return layer_->dropped(secure::DropReason::BadTag) +
           layer_->dropped(secure::DropReason::Replayed) +
           layer_->dropped(secure::DropReason::Stale);
  };
  const std::uint64_t before = refused();
  for (int i = 0; i < 3; ++i) {
    port_.inject(elsewhere, mallory.one(Type::RouteRequest, route(2)));
    worker_.poll();
  }
  EXPECT_EQ(refused(), before + 3);
  // Clear text with the switch's logical ID.
  port_.inject(elsewhere, clear_text_as("sbc-1", 3));
  worker_.poll();
  EXPECT_EQ(layer_->dropped(secure::DropReason::Malformed), 1u);

  take_sent();
  for (const auto& s : sent_) {
    EXPECT_NE(s.to, elsewhere) << "the other host was answered";
  }
  EXPECT_EQ(engine_.counters().events, events) << "a copied client's datagram reached the engine";
  EXPECT_EQ(io_.sequencer().next(), next);
  const auto r = exchange(switch_, switch_.one(Type::RouteRequest, route(4)));
  ASSERT_EQ(r.size(), 1u) << "the client's reply went elsewhere";
  EXPECT_EQ(r[0].type, Type::RouteResponse);
}

// What the audit trail is told about clients: a registration that changes something (with the
// configured role, not the claimed one; a repeated Register is not a new one), a message the
// role check refuses, and a handshake from a key no [[clients]] entry has.
class RecordingClientAudit final : public AgentAuditSink {
 public:
  void on_agent_event(const AgentAuditEvent&) noexcept override {}
  void on_client_event(const ClientAuditEvent& e) noexcept override {
    const std::lock_guard lock(mutex_);
    events_.push_back(e);
  }
  std::vector<ClientAuditEvent> events() {
    const std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<ClientAuditEvent> events_;
};

TEST_F(SecurePipelineTest, ClientRegistrationsAndRefusalsAreAudited) {
  using What = ClientAuditEvent::What;
  RecordingClientAudit audit;
  io_.set_audit(&audit);
  layer_->set_audit(&audit);
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Switch);
  register_peer(desk_, Role::Switch);  // the same nonce and address: nothing new
  const auto refused = exchange(desk_, desk_.one(Type::RouteRequest, route(1)));
  ASSERT_EQ(refused.size(), 1u);
  ASSERT_EQ(refused[0].type, Type::Error);

  SecurePeer stranger("stranger", Endpoint{0x0300007f, 9000, 0}, server_.public_key);
  port_.inject(stranger.endpoint, stranger.init());
  for (int i = 0; i < 2000 && layer_->dropped(secure::DropReason::UnknownClient) == 0; ++i) {
    worker_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(layer_->dropped(secure::DropReason::UnknownClient), 1u);
  layer_->set_audit(nullptr);

  const std::vector<ClientAuditEvent> events = audit.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, What::Registered);
  EXPECT_EQ(events[0].client_id, secure_client_id("desk-1"));
  EXPECT_EQ(events[0].role, Role::Desktop);
  EXPECT_EQ(events[0].address, desk_.endpoint.address);
  EXPECT_EQ(events[0].port, ntohs(desk_.endpoint.port));
  EXPECT_EQ(events[1].what, What::MessageRefused);
  EXPECT_EQ(events[1].client_id, secure_client_id("desk-1"));
  EXPECT_EQ(events[1].message_type, static_cast<std::uint8_t>(Type::RouteRequest));
  EXPECT_EQ(events[1].reason, "not_permitted");
  EXPECT_EQ(events[1].seq, desk_.seq);
  EXPECT_EQ(events[2].what, What::HandshakeRefused);
  EXPECT_EQ(events[2].client_id, 0u);
  EXPECT_EQ(events[2].address, stranger.endpoint.address);
  EXPECT_EQ(events[2].reason, "unknown_client");
}

// A desktop's configured role holds even when its Register claims to be a switch.
TEST_F(SecurePipelineTest, ConfiguredRoleWinsOverTheRegister) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Switch);
  EXPECT_EQ(io_.client_role(secure_client_id("desk-1")), Role::Desktop);
  const auto r = exchange(desk_, desk_.one(Type::RouteRequest, route(1)));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::NotPermitted));
  EXPECT_EQ(engine_.calls_in_engine(), 0u);
}

// A client that handshakes again keeps its logical ID and its reply window: a retransmission
// over the new session gets the answer given over the old one, and the engine decides once.
TEST_F(SecurePipelineTest, RehandshakeKeepsTheReplyWindow) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  const auto first = exchange(switch_, switch_.one(Type::RouteRequest, route(1)));
  ASSERT_EQ(first.size(), 1u);
  const std::uint64_t asked = switch_.seq;
  const std::uint32_t old_index = switch_.index;
  const std::uint64_t events = engine_.counters().events;
  ASSERT_TRUE(connect(switch_));
  EXPECT_NE(switch_.index, old_index);
  const auto again = exchange(switch_, switch_.one(Type::RouteRequest, route(1), asked));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].type, Type::RouteResponse);
  EXPECT_EQ(again[0].body, first[0].body);
  EXPECT_EQ(engine_.counters().events, events) << "the retransmission was decided again";
  EXPECT_EQ(io_.counters().read(Counter::duplicates_answered), 1u);
  EXPECT_EQ(layer_->sessions(), 1u) << "the old session is gone once the new one is used";
  EXPECT_EQ(layer_->read(SecurityCounter::sessions_replaced), 1u);
}

// 20,000 inits — half with a bad mac1, half from a key no [[clients]] entry has — make no session,
// and the established switch keeps being answered while they arrive.
TEST_F(SecurePipelineTest, HandshakeFloodAllocatesNothingAndSessionsAreStillAnswered) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  SecurePeer stranger{"nobody", Endpoint{0x0200000a, 7000, 0}, server_.public_key};
  const Bytes unknown_key = stranger.init();
  Bytes bad_mac1 = unknown_key;
  bad_mac1[130] ^= 0xff;
  constexpr int kInits = 20'000;
  int answered = 0;
  for (int i = 0; i < kInits; ++i) {
    Endpoint from{0x0200000a, static_cast<std::uint16_t>(1024 + i % 50'000), 0};
    port_.inject(from, i % 2 == 0 ? bad_mac1 : unknown_key);
    if (i % 500 == 499) {
      // Behind the burst's inits in the port: answered once the IO thread reaches it, which
      // the inits (no DH on this thread) do not delay beyond their own reading.
      port_.inject(switch_.endpoint, switch_.one(Type::RouteRequest, route(1 + i / 500)));
      for (int polls = 0; polls < 100; ++polls) {
        worker_.poll();
        const auto r = replies_for(switch_);
        const auto routed = std::count_if(
            r.begin(), r.end(), [](const Reply& x) { return x.type == Type::RouteResponse; });
        if (routed > 0) {
          answered += static_cast<int>(routed);
          break;
        }
      }
    }
  }
  EXPECT_EQ(answered, kInits / 500) << "an established session went unanswered in the flood";
  // Let the worker drain; every init is accounted for, none made a session.
  std::uint64_t accounted = 0;
  for (int i = 0; i < 5000 && accounted < kInits; ++i) {
    worker_.poll();
    accounted = layer_->dropped(secure::DropReason::BadMac1) +
                layer_->dropped(secure::DropReason::UnknownClient) +
                layer_->dropped(secure::DropReason::NeedCookie) + layer_->dropped(kRingFullDrop) +
                layer_->dropped(kRateLimitedDrop);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(accounted, static_cast<std::uint64_t>(kInits));
  EXPECT_GT(layer_->dropped(secure::DropReason::BadMac1), 0u);
  EXPECT_GT(layer_->dropped(kRateLimitedDrop), 0u) << "one source's flood was not limited";
  EXPECT_EQ(layer_->sessions(), 1u);
  EXPECT_EQ(layer_->read(SecurityCounter::handshakes), 1u);
  EXPECT_EQ(io_.counters().read(Counter::rx_messages), 1u + kInits / 500)
      << "a flood datagram reached the decoder";
}

// A burst of forged datagrams (inits with a right mac1 from many sources, data datagrams naming
// no session) ahead of an established session's request delays it by the IO cycles needed to
// read them, nothing more: with a receive burst of 32, the request behind 100 forged datagrams
// is answered in the 4th poll, the cycle that reads it (no wait for the worker, no extra cycle).
TEST_F(SecurePipelineTest, ForgedBurstDelaysAnEstablishedRequestOnlyByItsReading) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  SecurePeer stranger{"nobody", Endpoint{0x0200000a, 7000, 0}, server_.public_key};
  constexpr std::size_t kForged = 100;
  constexpr std::size_t kReceiveBurst = DataplaneConfig{}.burst;
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < kForged; ++i) {
      const Endpoint from{0x0200000a + static_cast<std::uint32_t>(i << 24), 7000, 0};
      if (i % 2 == 0) {
        port_.inject(from, stranger.init());
      } else {
        Bytes data(secure::kDataOverhead + 64, 0x5a);
        const secure::Header h{wire::kMagic,
                               secure::kVersion,
                               1,
                               static_cast<std::uint16_t>(data.size()),
                               0x12345u + static_cast<std::uint32_t>(i),
                               0};
        std::memcpy(data.data(), &h, sizeof h);
        port_.inject(from, data);
      }
    }
    port_.inject(switch_.endpoint, switch_.one(Type::RouteRequest, route(100 + round)));
    const std::size_t needed = (kForged + 1 + kReceiveBurst - 1) / kReceiveBurst;
    std::size_t polls = 0;
    bool answered = false;
    while (!answered && polls < 10 * needed) {
      worker_.poll();
      ++polls;
      for (const Reply& r : replies_for(switch_)) {
        answered = answered || r.type == Type::RouteResponse;
      }
    }
    EXPECT_TRUE(answered) << "round " << round;
    EXPECT_EQ(polls, needed) << "round " << round << ": the request behind " << kForged
                             << " forged datagrams took more IO cycles than reading them";
    take_sent();
    sent_.clear();  // cookie replies to the forged sources
  }
  EXPECT_EQ(layer_->sessions(), 1u) << "a forged datagram made a session";
}

// One source sends 20,000 inits with a good mac1 at once: past its burst they are dropped on the
// IO thread (rate_limited) and never reach the worker, and a client at another address still
// makes its session at once.
TEST_F(SecurePipelineTest, OneLoudSourceIsLimitedAndAnotherStillConnects) {
  SecurePeer stranger{"nobody", Endpoint{0x0300000a, 7000, 0}, server_.public_key};
  constexpr int kInits = 20'000;
  for (int i = 0; i < kInits; ++i) {
    port_.inject(stranger.endpoint, stranger.init());
    if (i % 256 == 255) {
      worker_.poll();
    }
  }
  ASSERT_TRUE(connect(desk_)) << "a client at another address could not make its session";
  std::uint64_t accounted = 0;
  for (int i = 0; i < 5000 && accounted < kInits; ++i) {
    worker_.poll();
    accounted = layer_->dropped(kRateLimitedDrop) + layer_->dropped(kRingFullDrop) +
                layer_->dropped(secure::DropReason::UnknownClient) +
                layer_->dropped(secure::DropReason::NeedCookie);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(accounted, static_cast<std::uint64_t>(kInits));
  // The default allowance: 500 at once and 50 a second; the loop takes far less than 10 s.
  EXPECT_GE(layer_->dropped(kRateLimitedDrop), static_cast<std::uint64_t>(kInits - 1000));
  EXPECT_EQ(layer_->dropped(kRingFullDrop), 0u) << "the loud source filled the worker's ring";
  EXPECT_EQ(layer_->read(SecurityCounter::handshakes), 1u);
}

// Every init counts as "under load".
class SecurePipelineUnderLoadTest : public SecurePipelineTest {
 protected:
  SecurePipelineUnderLoadTest() : SecurePipelineTest(0) {}
};

// Under load an init is answered with a cookie and no DH; the retry carrying it gets a session.
TEST_F(SecurePipelineUnderLoadTest, CookieFirstThenSession) {
  ASSERT_TRUE(connect(switch_));
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 1u);
  EXPECT_EQ(layer_->read(SecurityCounter::handshakes), 1u);
  register_peer(switch_, Role::Switch);
  EXPECT_EQ(exchange(switch_, switch_.one(Type::RouteRequest, route(1))).size(), 1u);
}

// One handshake a second, on a virtual clock.
class SecureLoadCarriesOverTest : public SecurePipelineTest {
 protected:
  SecureLoadCarriesOverTest() : SecurePipelineTest(1, true) {}
};

// A second above the handshake rate keeps the next one under load, so a sustained flood costs no
// DH at the start of each second; a quiet second ends it.
TEST_F(SecureLoadCarriesOverTest, ASecondUnderLoadKeepsTheNextOneUnderLoad) {
  ASSERT_TRUE(connect(switch_));  // the second's first init: a DH at once
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 0u);
  ASSERT_TRUE(connect(desk_));  // the second's second: a cookie first
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 1u);
  advance(kSecond);
  ASSERT_TRUE(connect(switch_));  // a new second's first init, after one above the rate
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 2u);
  advance(3 * kSecond);          // quiet seconds
  switch_.endpoint.port = 5070;  // (its cookie was for the other address)
  ASSERT_TRUE(connect(switch_));
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 2u);  // a DH at once again
}

// Always under load, one cookie reply a second, on a virtual clock.
class SecureCookieBudgetTest : public SecurePipelineTest {
 protected:
  SecureCookieBudgetTest() : SecurePipelineTest(0, true, 1) {}
};

// Past the second's cookie replies an init without a cookie goes unanswered (counted), so a flood
// of forged inits costs a bounded number of replies; the next second answers again, and a client
// holding a cookie is served meanwhile.
TEST_F(SecureCookieBudgetTest, PastTheBudgetInitsAreNotAnswered) {
  ASSERT_TRUE(connect(switch_));  // the second's one cookie, then a session
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 1u);
  port_.inject(desk_.endpoint, desk_.init());
  for (int i = 0; i < 4000 && layer_->read(SecurityCounter::cookies_withheld) == 0; ++i) {
    worker_.poll();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_withheld), 1u);
  worker_.poll();
  take_sent();
  for (const auto& d : sent_) {
    EXPECT_FALSE(d.to == desk_.endpoint) << "an answer past the budget";
  }
  ASSERT_TRUE(connect(switch_));  // holds a cookie: served within the spent second
  EXPECT_EQ(layer_->read(SecurityCounter::handshakes), 2u);
  advance(kSecond);
  ASSERT_TRUE(connect(desk_));  // a new second: a cookie again
  EXPECT_EQ(layer_->read(SecurityCounter::cookies_sent), 2u);
}

// Sessions on a virtual clock: an hour's lifetime, a minute's idle time.
class SecureSessionExpiryTest : public SecurePipelineTest {
 protected:
  SecureSessionExpiryTest() : SecurePipelineTest(1000, true) {}
};

// A session unused for its idle time is forgotten: the next datagram on it is dropped (expired),
// nothing reaches the engine, and a new handshake serves the retransmission from the reply window.
TEST_F(SecureSessionExpiryTest, IdleSessionExpiresAndAHandshakeRecovers) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  ASSERT_TRUE(routed(switch_, 1));
  advance(59 * kSecond);
  ASSERT_TRUE(routed(switch_, 2)) << "used within its idle time";
  advance(59 * kSecond);
  ASSERT_TRUE(routed(switch_, 3)) << "idle time counts from the last datagram, not the handshake";
  advance(61 * kSecond);
  const std::uint64_t messages = io_.counters().read(Counter::rx_messages);
  EXPECT_TRUE(exchange(switch_, switch_.one(Type::RouteRequest, route(4))).empty());
  const std::uint64_t asked = switch_.seq;
  // Dropped as expired, or as naming no session when the sweep forgot it first (it does here:
  // the sweep runs before the datagram is read).
  const auto dropped = [&] {
    return layer_->dropped(kExpiredDrop) + layer_->dropped(secure::DropReason::UnknownSession);
  };
  EXPECT_EQ(dropped(), 1u);
  EXPECT_EQ(layer_->read(SecurityCounter::sessions_expired), 1u);
  EXPECT_EQ(layer_->sessions(), 0u);
  EXPECT_EQ(io_.counters().read(Counter::rx_messages), messages) << "expired datagram decoded";
  EXPECT_TRUE(exchange(switch_, switch_.one(Type::RouteRequest, route(4), asked)).empty());
  EXPECT_EQ(dropped(), 2u);
  ASSERT_TRUE(connect(switch_));
  const auto again = exchange(switch_, switch_.one(Type::RouteRequest, route(4), asked));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].type, Type::RouteResponse);
}

// A session in use is still forgotten at its lifetime: the client must make a new one.
TEST_F(SecureSessionExpiryTest, BusySessionEndsAtItsLifetime) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  router::CallId call = 1;
  for (std::uint64_t t = 0; t < 3600; t += 30) {
    ASSERT_TRUE(routed(switch_, call++)) << "at " << t << " s";
    advance(30 * kSecond);
  }
  // 3,600 s after the handshake, 30 s after its last datagram: past its lifetime only.
  EXPECT_TRUE(exchange(switch_, switch_.one(Type::RouteRequest, route(call))).empty());
  EXPECT_EQ(layer_->read(SecurityCounter::sessions_expired), 1u);
  ASSERT_TRUE(connect(switch_));
  EXPECT_TRUE(routed(switch_, call + 1));
}

// Without a datagram, the IO thread's sweep forgets expired sessions (keys wiped, the gauge
// falls).
TEST_F(SecureSessionExpiryTest, SweepForgetsIdleSessions) {
  ASSERT_TRUE(connect(switch_));
  ASSERT_TRUE(connect(desk_));
  register_peer(switch_, Role::Switch);
  EXPECT_EQ(layer_->sessions(), 2u);
  advance(61 * kSecond);
  for (int i = 0; i < 4 && layer_->sessions() > 0; ++i) {
    worker_.poll();
  }
  EXPECT_EQ(layer_->sessions(), 0u);
  EXPECT_EQ(layer_->read(SecurityCounter::sessions_expired), 2u);
  EXPECT_EQ(layer_->dropped(kExpiredDrop), 0u) << "no datagram was dropped for it";
}

// A datagram's logical client ID is the configured name's, the same on any node.
TEST(SecureClientId, StableAndNeverReserved) {
  EXPECT_EQ(secure_client_id("sbc-1"), secure_client_id("sbc-1"));
  EXPECT_NE(secure_client_id("sbc-1"), secure_client_id("sbc-2"));
  EXPECT_NE(secure_client_id("sbc-1"), 0u);
  SecureConfig sc;
  sc.keys = secure::generate_key_pair();
  const secure::PublicKey k = secure::generate_key_pair().public_key;
  sc.clients.push_back({"a", Role::Switch, k, {}});
  sc.clients.push_back({"b", Role::Switch, k, {}});
  EXPECT_NE(check_secure_config(sc), "") << "two clients with one key";
  sc.clients[1].name = "a";
  EXPECT_NE(check_secure_config(sc), "") << "two clients with one name";
  // Two names whose IDs collide (found by brute force: a 32-bit hash collides within ~10^5
  // names) are refused, naming both.
  std::unordered_map<std::uint32_t, std::string> seen;
  std::string first;
  std::string second;
  for (int i = 0; i < 1'000'000 && first.empty(); ++i) {
    const std::string name = "c-" + std::to_string(i);
    const auto [it, fresh] = seen.emplace(secure_client_id(name), name);
    if (!fresh) {
      first = it->second;
      second = name;
    }
  }
  ASSERT_FALSE(first.empty());
  sc.clients[0].name = first;
  sc.clients[1].name = second;
  sc.clients[1].public_key = secure::generate_key_pair().public_key;
  const std::string why = check_secure_config(sc);
  EXPECT_NE(why.find("same client ID"), std::string::npos) << why;
}

}  // namespace
}  // namespace acd::dataplane

namespace acd::dataplane {
namespace {

// A standby's NotPrimary and a new primary's takeover announcement leave sealed with the client's
// session at that node (a client can tell them from a forged clear-text one), carrying the
// node's epoch; a client without a session at the node is told nothing.
TEST_F(SecurePipelineTest, NotPrimaryAndTheAnnouncementAreSealed) {
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const Endpoint primary{0x0200000a, 7070, 0};
  io_.set_standby(true, primary);
  const auto refused = exchange(switch_, switch_.one(Type::RouteRequest, route(1)));
  ASSERT_EQ(refused.size(), 1u);
  ASSERT_EQ(refused[0].type, Type::Error);
  EXPECT_EQ(refused[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::NotPrimary));
  Endpoint named;
  std::memcpy(&named.address, refused[0].as<Error>().detail, 4);
  std::memcpy(&named.port, refused[0].as<Error>().detail + 4, 2);
  EXPECT_EQ(named, primary);
  EXPECT_EQ(engine_.calls_in_engine(), 0u);

  // A client can make its session with the standby (as the HA node polls it: refuse_as_standby).
  secure::Initiator again(desk_.keys, server_.public_key, 9);
  Bytes init(sizeof(secure::HandshakeInit));
  ASSERT_EQ(again.make_init(desk_.wall += 1'000'000, steady_ns(), init), init.size());
  port_.inject(desk_.endpoint, init);
  bool made = false;
  for (int i = 0; i < 4000 && !made; ++i) {
    io_.refuse_as_standby();
    take_sent();
    for (auto it = sent_.begin(); it != sent_.end(); ++it) {
      if (it->to == desk_.endpoint && secure::peek(it->payload).handshake) {
        secure::Initiator::Established e = again.consume_response(it->payload);
        ASSERT_EQ(e.reason, secure::DropReason::None);
        desk_.cipher.emplace(e.keys, secure::Side::Client, secure::Aead::ChaCha20Poly1305);
        desk_.index = e.session_index;
        sent_.erase(it);
        made = true;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ASSERT_TRUE(made) << "a standby does not answer handshakes";

  // Promotion: every registered client with a session hears the announcement, sealed.
  io_.set_standby(false);
  io_.set_epoch(2);
  take_sent();
  sent_.clear();
  EXPECT_EQ(io_.announce_primary(), 2u);
  take_sent();
  for (const auto& s : sent_) {
    EXPECT_EQ(s.payload[4], secure::kVersion) << "a clear-text announcement";
    std::uint32_t epoch = 0;
    std::memcpy(&epoch, s.payload.data() + 12, 4);
    EXPECT_EQ(epoch, 2u);
  }
  for (SecurePeer* p : {&switch_, &desk_}) {
    const auto told = replies_for(*p);
    ASSERT_EQ(told.size(), 1u) << p->name;
    EXPECT_EQ(told[0].type, Type::Heartbeat);
    EXPECT_EQ(told[0].seq, 0u);
  }
}

// Keeps every record the stage logs.
class KeepingShipper final : public LogShipper {
 public:
  bool has_room() const override { return room; }
  bool room = true;
  void append(std::uint64_t seq, std::span<const std::uint8_t> record) override {
    records.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
  }
  void poll() override {}
  std::uint64_t released_through() const override { return ~std::uint64_t{0}; }
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> records;
};

// What a node's credential store was told (from the writer's thread).
struct RecordingSink final : CredentialSink {
  ApplyOutcome apply_credential(router::AgentNumber agent, CredentialChangeKind kind,
                                std::string_view hash, const CredentialDigest& replaces) override {
    const std::lock_guard lock(mutex);
    got.emplace_back(agent, kind, std::string(hash));
    digests.push_back(replaces);
    return ApplyOutcome::Stored;
  }
  void restore_enrolment(router::AgentNumber agent, std::string_view hash) override {
    const std::lock_guard lock(mutex);
    restored.emplace_back(agent, std::string(hash));
  }
  std::mutex mutex;
  std::vector<std::tuple<router::AgentNumber, CredentialChangeKind, std::string>> got;
  std::vector<CredentialDigest> digests;
  std::vector<std::pair<router::AgentNumber, std::string>> restored;
};

// SecureTokenTest with the sequenced log kept, and a standby that replays it.
class PasswordChangeTest : public SecureTokenTest {
 protected:
  PasswordChangeTest() {
    io_.set_shipper(&log_);
    io_.set_credentials(&writer_);
  }
  static PasswordChange change(router::AgentNumber number, const char* old_password,
                               const char* new_password) {
    PasswordChange c{};
    c.agent_number = number;
    std::strncpy(c.old_password, old_password, sizeof(c.old_password));
    std::strncpy(c.new_password, new_password, sizeof(c.new_password));
    return c;
  }
  std::vector<Reply> send_change(const PasswordChange& c) {
    send(desk_, desk_.one(Type::PasswordChange, c));
    return wait_for_reply(desk_);
  }
  // The log's CredentialChange records.
  std::vector<LogRecord> credential_records() {
    std::vector<LogRecord> out;
    for (const auto& [seq, bytes] : log_.records) {
      LogRecord r;
      EXPECT_TRUE(decode_record(bytes, r)) << seq;
      if (r.kind == RecordKind::CredentialChange) {
        out.push_back(r);
      }
    }
    return out;
  }
  // Applies the whole log to a fresh standby whose credential changes go to `sink`.
  void follow(RecordingSink& sink, IoStage& standby, router::Engine& engine) {
    RouterStage router(engine);
    CredentialWriter writer(sink);
    standby.set_credentials(&writer);
    for (const auto& [seq, bytes] : log_.records) {
      EXPECT_EQ(standby.replay(seq, bytes, router), IoStage::Replay::Applied) << seq;
    }
    writer.wait_idle();
    standby.set_credentials(nullptr);
  }
  KeepingShipper log_;
  CredentialWriter writer_{changing_};  // the primary's: stores its own changes
};

// The signed-in desktop changes its agent's password inside its session: verified and hashed on
// the verifier pool, logged as a CredentialChange (the hash, never the password), answered Ack
// (then a token of the new generation: the old token is revoked), and a standby that applies the
// log stores the same hash and revokes the same tokens.
TEST_F(PasswordChangeTest, ChangedLoggedAndReplicated) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionToken before = password_sign_in();
  const std::uint64_t events = engine_.counters().events;
  const auto r = send_change(change(101, "s3cret-101", "N3w-secret!"));
  ASSERT_GE(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0u);
  const std::uint64_t change_seq = desk_.seq;
  EXPECT_EQ(r[0].as<Ack>().reply_to, change_seq);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].type, Type::SessionToken);
  EXPECT_EQ(engine_.counters().events, events) << "a password change reached the engine";
  EXPECT_EQ(io_.counters().read(Counter::password_changes), 1u);
  EXPECT_EQ(io_.token_generation(0), 1u);
  expect_token_refused(101, before.proof, Counter::token_refused_revoked);

  const auto logged = credential_records();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].agent_number, 101u);
  EXPECT_EQ(logged[0].credential, CredentialChangeKind::Password);
  EXPECT_EQ(logged[0].credential_hash, test_hash(1));
  EXPECT_EQ(logged[0].client_id, secure_client_id("desk-1"));
  for (const auto& [seq, bytes] : log_.records) {
    const std::string text(bytes.begin(), bytes.end());
    EXPECT_EQ(text.find("N3w-secret!"), std::string::npos) << "a password in the log";
    EXPECT_EQ(text.find("s3cret-101"), std::string::npos) << "a password in the log";
  }

  router::Engine standby_engine(config_);
  MemoryPort standby_port;
  ManualClock standby_clock;
  IoStage standby(standby_port, standby_clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  RecordingSink sink;
  follow(sink, standby, standby_engine);
  ASSERT_EQ(sink.got.size(), 1u);
  EXPECT_EQ(std::get<0>(sink.got[0]), 101u);
  EXPECT_EQ(std::get<1>(sink.got[0]), CredentialChangeKind::Password);
  EXPECT_EQ(std::get<2>(sink.got[0]), test_hash(1));
  EXPECT_EQ(standby.token_generation(0), 1u);
  EXPECT_EQ(standby.save_session(), io_.save_session());

  // The primary stored it through its writer, with what it replaced; so did the standby.
  EXPECT_EQ(changing_.applied_count(), 1u);
  EXPECT_TRUE(changing_.verify(101, "N3w-secret!"));
  CredentialDigest replaced;
  replaced.fill(1);
  EXPECT_EQ(logged[0].credential_replaces, replaced);
  ASSERT_EQ(sink.digests.size(), 1u);
  EXPECT_EQ(sink.digests[0], replaced);

  // A retransmitted change gets the same answer without a second job: the Ack and the token.
  const auto again = exchange(
      desk_, desk_.one(Type::PasswordChange, change(101, "s3cret-101", "N3w-secret!"), change_seq));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].type, Type::Ack);
  EXPECT_EQ(again[0].as<Ack>().reply_to, change_seq);
  ASSERT_EQ(again[1].type, Type::SessionToken);
  EXPECT_EQ(again[1].seq, change_seq);
  const SessionToken first = r[1].as<SessionToken>();
  const SessionToken resent = again[1].as<SessionToken>();
  EXPECT_EQ(std::memcmp(&resent, &first, sizeof(first)), 0);
  EXPECT_EQ(credential_records().size(), 1u);
  EXPECT_EQ(changing_.applied_count(), 1u);
}

// Desk moves (docs/protocol.md "Desk move"): agent 101 signed in at desk-1 with its password,
// desk-2 presents the agent's session token.
class DeskMoveTest : public PasswordChangeTest {
 protected:
  SessionToken signed_in_at_desk_1() {
    EXPECT_TRUE(connect(desk_));
    register_peer(desk_, Role::Desktop);
    const SessionToken token = password_sign_in();
    EXPECT_TRUE(connect(desk2_));
    register_peer(desk2_, Role::Desktop);
    return token;
  }
  std::vector<Reply> token_sign_in_at_desk_2(const TokenProof& proof) {
    AgentEvent e = with_token(101, proof);
    e.device = 9101;
    return exchange(desk2_, desk2_.one(Type::AgentEvent, e));
  }
  static AgentEvent desk_event(AgentEventKind kind) {
    AgentEvent e{};
    e.kind = kind;
    e.agent = 0;
    return e;
  }
  // desk-1 still acts for agent 101 (index 0), and was told nothing.
  void expect_desk_1_keeps_the_agent() {
    EXPECT_TRUE(replies_for(desk_).empty()) << "desk-1 was told something";
    EXPECT_EQ(io_.client_agent(secure_client_id("desk-1")), 0u);
    EXPECT_EQ(io_.client_agent(secure_client_id("desk-2")), router::kNone);
    EXPECT_EQ(io_.counters().read(Counter::desk_moves), 0u);
  }
};

// A valid token from another desktop moves the agent there: desk-2 is answered Ack (the agent's
// index) and a token, desk-1 is told AgentMoved (reply_to 0) and may no longer act for the agent;
// the move is an engine input of the log, and a standby that applies the log holds the agent at
// desk-2 too (same engine state, same session).
TEST_F(DeskMoveTest, TokenMovesTheAgentAndTheOldDeskIsTold) {
  const SessionToken token = signed_in_at_desk_1();
  const auto ready =
      exchange(desk_, desk_.one(Type::AgentEvent, desk_event(AgentEventKind::Ready)));
  ASSERT_EQ(ready.size(), 1u);
  ASSERT_EQ(ready[0].type, Type::Ack);
  const std::uint64_t events = engine_.counters().events;
  const auto r = token_sign_in_at_desk_2(token.proof);
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0u);
  EXPECT_EQ(r[0].as<Ack>().agent, 0u);
  EXPECT_EQ(r[1].type, Type::SessionToken);
  EXPECT_EQ(engine_.counters().events, events + 1) << "the move is one engine input";
  const auto told = replies_for(desk_);
  ASSERT_EQ(told.size(), 1u);
  ASSERT_EQ(told[0].type, Type::Error);
  EXPECT_EQ(told[0].as<Error>().reply_to, 0u);
  EXPECT_EQ(told[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::AgentMoved));
  EXPECT_EQ(io_.client_agent(secure_client_id("desk-1")), router::kNone);
  EXPECT_EQ(io_.client_agent(secure_client_id("desk-2")), 0u);
  EXPECT_EQ(io_.counters().read(Counter::desk_moves), 1u);
  const auto refused =
      exchange(desk_, desk_.one(Type::AgentEvent, desk_event(AgentEventKind::NotReady)));
  ASSERT_EQ(refused.size(), 1u);
  ASSERT_EQ(refused[0].type, Type::Error);
  EXPECT_EQ(refused[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::AgentMoved));

  router::Engine standby_engine(config_);
  MemoryPort standby_port;
  ManualClock standby_clock;
  IoStage standby(standby_port, standby_clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  RecordingSink sink;
  follow(sink, standby, standby_engine);
  EXPECT_EQ(standby_engine.state_hash(), engine_.state_hash());
  EXPECT_EQ(standby.save_session(), io_.save_session());
  EXPECT_EQ(standby.client_agent(secure_client_id("desk-2")), 0u);
  EXPECT_EQ(standby.client_agent(secure_client_id("desk-1")), router::kNone);
}

// After a failover: the standby applied the move from the log and takes over. desk-1, whose agent
// was moved away on the old primary, makes a session with the new primary and is refused
// AgentMoved there too (not SignInFirst), while desk-2 acts for the agent; once desk-1 signs an
// agent in again the mark is gone. The mark also travels in the session image.
TEST_F(DeskMoveTest, NewPrimaryRefusesTheMovedDeskToo) {
  const SessionToken token = signed_in_at_desk_1();
  ASSERT_EQ(token_sign_in_at_desk_2(token.proof).size(), 2u);
  ASSERT_EQ(io_.counters().read(Counter::desk_moves), 1u);
  (void)replies_for(desk_);  // the old primary's AgentMoved

  SecureConfig sc;
  sc.keys = server_;
  sc.clients.push_back({"sbc-1", Role::Switch, switch_.keys.public_key, {}});
  sc.clients.push_back({"desk-1", Role::Desktop, desk_.keys.public_key, {}});
  sc.clients.push_back({"desk-2", Role::Desktop, desk2_.keys.public_key, {}});
  SessionLayer layer(sc);
  layer.start();
  router::Engine standby_engine(config_);
  MemoryPort standby_port;
  ManualClock standby_clock;
  AsyncVerifier standby_verifier(changing_);
  IoStage standby(standby_port, standby_clock, &standby_verifier, {101, 102, 103},
                  DataplaneConfig{});
  RecordingSink sink;
  follow(sink, standby, standby_engine);
  ASSERT_EQ(standby.save_session(), io_.save_session());
  standby.set_security(&layer);
  Worker standby_worker(standby_engine, standby);

  std::vector<MemoryPort::Sent> standby_sent;
  auto connect_to_standby = [&](SecurePeer& p) {
    return handshake(p, standby_port, standby_worker, standby_sent, [&] {
      for (auto& d : standby_port.take_sent()) {
        standby_sent.push_back(std::move(d));
      }
    });
  };
  auto exchange_with_standby = [&](SecurePeer& p, Bytes datagram) {
    standby_port.inject(p.endpoint, std::move(datagram));
    standby_worker.poll();
    std::vector<Reply> out;
    for (auto& d : standby_port.take_sent()) {
      if (d.to == p.endpoint && p.cipher && !secure::peek(d.payload).handshake) {
        EXPECT_TRUE(p.open(d.payload, out));
      }
    }
    return out;
  };
  ASSERT_TRUE(connect_to_standby(desk_));
  ASSERT_TRUE(connect_to_standby(desk2_));
  auto r = exchange_with_standby(desk_,
                                 desk_.one(Type::AgentEvent, desk_event(AgentEventKind::NotReady)));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::AgentMoved));
  r = exchange_with_standby(desk2_,
                            desk2_.one(Type::AgentEvent, desk_event(AgentEventKind::Ready)));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().status, 0u);

  // A node that joins from the session image knows it too.
  IoStage late(standby_port, standby_clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  ASSERT_TRUE(late.restore_session(io_.save_session()));
  EXPECT_EQ(late.save_session(), io_.save_session());

  // desk-1 signs agent 102 in with its password, and out again: the mark is gone (SignInFirst).
  auto until_answered = [&](SecurePeer& p, std::vector<Reply> got) {
    for (int i = 0; i < 2000 && got.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      standby_worker.poll();
      for (auto& d : standby_port.take_sent()) {
        if (d.to == p.endpoint && !secure::peek(d.payload).handshake) {
          EXPECT_TRUE(p.open(d.payload, got));
        }
      }
    }
    return got;
  };
  r = until_answered(
      desk_, exchange_with_standby(desk_, desk_.one(Type::AgentEvent, sign_in(102, "s3cret-102"))));
  ASSERT_GE(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[0].as<Ack>().agent, 1u);
  AgentEvent out = desk_event(AgentEventKind::SignOut);
  out.agent = 1;
  r = until_answered(desk_, exchange_with_standby(desk_, desk_.one(Type::AgentEvent, out)));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Ack);
  r = exchange_with_standby(desk_,
                            desk_.one(Type::AgentEvent, desk_event(AgentEventKind::NotReady)));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::SignInFirst));
  standby.set_security(nullptr);
}

// A move with a bad or revoked token is refused TokenRefused and changes nothing: desk-1 keeps
// the agent, is told nothing, and nothing is sequenced. A valid token while the agent has a call
// up is refused AgentHasCalls by the engine: the call stays at desk-1 (a move waits until the
// agent is off the phone).
TEST_F(DeskMoveTest, RefusedMovesChangeNothing) {
  const SessionToken token = signed_in_at_desk_1();
  TokenProof forged = token.proof;
  forged.mac[3] ^= 0x01;
  const std::uint64_t next = io_.sequencer().next();
  auto r = token_sign_in_at_desk_2(forged);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::TokenRefused));
  EXPECT_EQ(io_.sequencer().next(), next);
  expect_desk_1_keeps_the_agent();

  ControlRequest revoke;
  revoke.ticket = 5;
  revoke.command = RevokeTokens{};
  revoke.event.number = 101;
  ASSERT_TRUE(channel_.submit(revoke));
  worker_.poll();
  ControlReply reply;
  ASSERT_TRUE(channel_.take_reply(reply));
  ASSERT_EQ(reply.result, CommandResult::Done);
  r = token_sign_in_at_desk_2(token.proof);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::TokenRefused));
  EXPECT_EQ(io_.counters().read(Counter::token_refused_revoked), 1u);
  expect_desk_1_keeps_the_agent();

  // A call up at desk-1, then a valid token (of the new generation) at desk-2.
  ASSERT_TRUE(connect(switch_));
  register_peer(switch_, Role::Switch);
  ASSERT_EQ(exchange(desk_, desk_.one(Type::AgentEvent, desk_event(AgentEventKind::Ready))).size(),
            1u);
  ASSERT_TRUE(routed(switch_, 42));
  const auto offer = replies_for(desk_);
  ASSERT_EQ(offer.size(), 1u);
  ASSERT_EQ(offer[0].type, Type::Offer);
  ASSERT_EQ(exchange(desk_, desk_.one(Type::OfferResult, OfferResult{42, 1, {}})).size(), 1u);
  const std::uint64_t hash = engine_.state_hash();
  r = token_sign_in_at_desk_2(tokens_.mint(101, io_.token_generation(0), wall_.now));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(router::Status::AgentHasCalls));
  EXPECT_EQ(engine_.state_hash(), hash) << "a refused move changed the engine";
  expect_desk_1_keeps_the_agent();
}

// The log has no room when a checked change is to be logged: answered Overloaded with nothing
// changed (no record, nothing stored, tokens kept); the retry, once there is room, is changed.
TEST_F(PasswordChangeTest, LogFullChangesNothingAndTheRetryWorks) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  const SessionToken before = password_sign_in();
  log_.room = false;
  const auto r = send_change(change(101, "s3cret-101", "N3w-secret!"));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::Overloaded));
  writer_.wait_idle();
  EXPECT_TRUE(credential_records().empty());
  EXPECT_EQ(changing_.applied_count(), 0u) << "stored though not logged";
  EXPECT_EQ(io_.token_generation(0), 0u);
  EXPECT_TRUE(changing_.verify(101, "s3cret-101"));
  EXPECT_FALSE(changing_.verify(101, "N3w-secret!"));
  EXPECT_EQ(tokens_.check(101, before.proof, 0, wall_.now), TokenCheck::Valid);

  log_.room = true;
  const auto retry = send_change(change(101, "s3cret-101", "N3w-secret!"));
  ASSERT_GE(retry.size(), 1u);
  EXPECT_EQ(retry[0].type, Type::Ack);
  EXPECT_EQ(credential_records().size(), 1u);
  EXPECT_TRUE(changing_.verify(101, "N3w-secret!"));
}

// A sign-in that spent an enrolment code the log has no room for: answered Overloaded, and the
// spend is undone (through the writer), so the retry signs in with the same code.
TEST_F(PasswordChangeTest, SpendTheLogCannotTakeIsUndone) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  changing_.spend = 101;
  log_.room = false;
  send(desk_, desk_.one(Type::AgentEvent, sign_in(101, "s3cret-101")));
  const auto r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::Overloaded));
  writer_.wait_idle();
  EXPECT_TRUE(credential_records().empty());
  EXPECT_EQ(changing_.applied_count(), 0u);
  ASSERT_EQ(changing_.restored.size(), 1u) << "the spent code was not given back";
  EXPECT_EQ(changing_.restored[0],
            std::make_pair(router::AgentNumber{101}, std::string(kCodeHash)));
}

// The credential file is written on the writer's thread: while it is held up (an import holding
// the writers' lock), the IO thread keeps routing, and the change is answered once stored.
TEST_F(PasswordChangeTest, SlowStoreNeitherStallsRoutingNorIsAnsweredEarly) {
  ASSERT_TRUE(connect(desk_));
  ASSERT_TRUE(connect(switch_));
  register_peer(desk_, Role::Desktop);
  register_peer(switch_, Role::Switch);
  password_sign_in();
  changing_.hold = true;
  send(desk_, desk_.one(Type::PasswordChange, change(101, "s3cret-101", "N3w-secret!")));
  for (int i = 0; i < 2000 && credential_records().empty(); ++i) {
    worker_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(credential_records().size(), 1u) << "never logged";
  EXPECT_TRUE(routed(switch_, 7001)) << "routing waited for the credential file";
  for (int i = 0; i < 20; ++i) {
    worker_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(kept_.take(desk_.endpoint).empty() && replies_for(desk_).empty())
      << "answered before it was stored";
  changing_.hold = false;
  const auto r = wait_for_reply(desk_);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type, Type::Ack);
  EXPECT_EQ(r[1].type, Type::SessionToken);
  EXPECT_TRUE(changing_.verify(101, "N3w-secret!"));
}

// A CredentialChange whose hash is not a valid argon2id string (or names no agent of this node)
// is refused on replay and counted; the log goes on and nothing of it is applied.
TEST_F(PasswordChangeTest, InvalidHashFromTheLogIsRefusedAndCounted) {
  router::Engine standby_engine(config_);
  MemoryPort standby_port;
  ManualClock standby_clock;
  IoStage standby(standby_port, standby_clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  RouterStage router(standby_engine);
  RecordingSink sink;
  CredentialWriter writer(sink);
  standby.set_credentials(&writer);
  const std::string bad[] = {
      "$argon2id$",
      "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$dGVzdHRlc3R0ZXN0dGVzdA!",
      "$argon2id$v=19$m=8,t=1,p=1$c2Fsd$dGVzdHRlc3R0ZXN0dGVzdA",
      "$argon2id$v=19$m=08,t=1,p=1$c2FsdHNhbHRzYWx0$dGVzdHRlc3R0ZXN0dGVzdA",
      "$argon2id$v=19$m=8,t=1$c2FsdHNhbHRzYWx0$dGVzdHRlc3R0ZXN0dGVzdA",
      "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$dGVzdA",
      "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$dGVzdHRlc3R0ZXN0dGVzdA$x",
  };
  std::uint64_t seq = standby.sequencer().next();
  for (const std::string& h : bad) {
    LogRecord rec;
    rec.kind = RecordKind::CredentialChange;
    rec.agent_number = 101;
    rec.credential_hash = h;
    std::uint8_t bytes[kMaxLogRecord];
    const std::size_t n = encode_record(rec, bytes);
    EXPECT_EQ(standby.replay(seq++, std::span<const std::uint8_t>(bytes, n), router),
              IoStage::Replay::Applied)
        << h;
  }
  writer.wait_idle();
  EXPECT_EQ(standby.counters().read(Counter::credential_change_refused), std::size(bad));
  EXPECT_TRUE(sink.got.empty());
  EXPECT_EQ(standby.token_generation(0), 0u);
  EXPECT_EQ(standby.counters().read(Counter::password_changes), 0u);
  standby.set_credentials(nullptr);
}

// Refusals: a wrong old password (PasswordChangeRefused, cached), a new one the policy refuses
// (PasswordPolicy): nothing logged, the password and the tokens unchanged.
TEST_F(PasswordChangeTest, RefusedChangesChangeNothing) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  password_sign_in();
  auto r = send_change(change(101, "wrong-old", "N3w-secret!"));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::PasswordChangeRefused));
  r = send_change(change(101, "s3cret-101", "short"));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].type, Type::Error);
  EXPECT_EQ(r[0].as<Error>().reason, static_cast<std::uint16_t>(WireError::PasswordPolicy));
  EXPECT_EQ(io_.counters().read(Counter::password_change_refused), 2u);
  EXPECT_TRUE(credential_records().empty());
  EXPECT_EQ(io_.token_generation(0), 0u);
  EXPECT_TRUE(changing_.verify(101, "s3cret-101"));
}

// A sign-in that spends an enrolment code logs a CredentialChange (the code's hash) before the
// sign-in's input, so a standby marks the code spent too and refuses it after a failover.
TEST_F(PasswordChangeTest, SpentEnrolmentCodeIsLoggedBeforeTheSignIn) {
  ASSERT_TRUE(connect(desk_));
  register_peer(desk_, Role::Desktop);
  changing_.spend = 101;
  password_sign_in();
  std::vector<RecordKind> kinds;
  std::size_t spent_at = 0;
  for (const auto& [seq, bytes] : log_.records) {
    LogRecord rec;
    ASSERT_TRUE(decode_record(bytes, rec));
    if (rec.kind == RecordKind::CredentialChange) {
      spent_at = kinds.size();
      EXPECT_EQ(rec.credential, CredentialChangeKind::EnrolmentSpent);
      EXPECT_EQ(rec.credential_hash, kCodeHash);
    }
    kinds.push_back(rec.kind);
  }
  ASSERT_GT(kinds.size(), spent_at + 1);
  EXPECT_EQ(kinds[spent_at], RecordKind::CredentialChange);
  LogRecord next;
  ASSERT_TRUE(decode_record(log_.records[spent_at + 1].second, next));
  EXPECT_EQ(next.kind, RecordKind::Input);
  EXPECT_EQ(next.event.type, router::EventType::AgentSignIn);
  EXPECT_EQ(io_.counters().read(Counter::enrolments_spent), 1u);

  router::Engine standby_engine(config_);
  MemoryPort standby_port;
  ManualClock standby_clock;
  IoStage standby(standby_port, standby_clock, nullptr, {101, 102, 103}, DataplaneConfig{});
  RecordingSink sink;
  follow(sink, standby, standby_engine);
  ASSERT_EQ(sink.got.size(), 1u);
  EXPECT_EQ(std::get<1>(sink.got[0]), CredentialChangeKind::EnrolmentSpent);
  EXPECT_EQ(standby.token_generation(0), 0u) << "a spent code revokes nothing";
}

}  // namespace
}  // namespace acd::dataplane
