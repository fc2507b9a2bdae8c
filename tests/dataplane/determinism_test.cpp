// Determinism over a long log: a primary driven through its port by switches and desktops (calls
// of every priority and tier to three queues, one overflowing into another, offers taken and
// declined, calls answered, held and released, abandoned, agents going ready and not ready,
// finishing wrap-up, signing out and in again, idle stretches where ring-no-answer and max-wait
// timers fire) and a standby that replays every record it writes reach the same engine state hash
// at every check (each 50,000 records) and at the end, with the same clients, call owners and
// desktops, over a million sequenced inputs. The run is dominated by arrivals, the engine's
// rejections once its pool is full, agent-state changes, refusals and ticks: most offers the
// driver answers have moved on by then (refused as not the desktop's call), so a few hundred
// calls are taken and released, not tens of thousands.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "acd/dataplane/input_log.hpp"
#include "acd/dataplane/pipeline.hpp"

namespace acd::dataplane {
namespace {

using namespace wire;

constexpr std::uint32_t kAgents = 40;
constexpr std::uint32_t kSwitches = 4;
constexpr std::size_t kInputs = 1'000'000;
constexpr std::size_t kHashEvery = 50'000;

router::EngineConfig centre() {
  router::EngineConfig c;
  c.skill_count = 3;
  c.max_calls = 1024;
  for (std::uint16_t q = 0; q < 3; ++q) {
    router::QueueConfig queue;
    queue.name = "q" + std::to_string(q);
    queue.skills = {router::SkillRequirement{q, 1, 0}};
    queue.ring_timeout_ms = 4000;
    queue.wrap_up_ms = q == 1 ? 1500 : 0;
    queue.max_wait_ms = 20'000;
    queue.policy = static_cast<router::Policy>(q);
    if (q == 2) {
      queue.overflow = {router::OverflowRule{router::OverflowCondition::QueueLengthAtLeast,
                                             router::OverflowAction::ToQueue, 6, 0}};
    }
    c.queues.push_back(queue);
  }
  for (std::uint32_t a = 0; a < kAgents; ++a) {
    router::AgentConfig agent;
    agent.number = 1000 + a;
    agent.skills = {router::SkillLevel{static_cast<router::SkillId>(a % 3), 5, 0},
                    router::SkillLevel{static_cast<router::SkillId>((a + 1) % 3), 2, 0}};
    c.agents.push_back(agent);
  }
  return c;
}

// The standby's end of the log: every record, replayed after each poll of the primary.
class Collect final : public LogShipper {
 public:
  bool has_room() const override { return true; }
  void append(std::uint64_t seq, std::span<const std::uint8_t> record) override {
    pending.emplace_back(seq, std::vector<std::uint8_t>(record.begin(), record.end()));
  }
  void poll() override {}
  std::uint64_t released_through() const override { return ~std::uint64_t{0}; }
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> pending;
};

struct Node {
  explicit Node(LogShipper* shipper)
      : engine(config), verifier(credentials), io(port, clock, &verifier, numbers(), {}),
        router(engine) {
    for (std::uint32_t a = 0; a < kAgents; ++a) {
      credentials.set(1000 + a, "pw");
    }
    io.set_shipper(shipper);
    worker = std::make_unique<Worker>(engine, io);
  }
  static std::vector<router::AgentNumber> numbers() {
    std::vector<router::AgentNumber> n;
    for (std::uint32_t a = 0; a < kAgents; ++a) {
      n.push_back(1000 + a);
    }
    return n;
  }
  router::EngineConfig config = centre();
  router::Engine engine;
  InMemoryCredentials credentials;
  AsyncVerifier verifier;
  MemoryPort port;
  ManualClock clock;
  IoStage io;
  RouterStage router;
  std::unique_ptr<Worker> worker;
};

struct Client {
  std::uint32_t id = 0;
  Endpoint endpoint;
  std::uint64_t seq = 0;
  template <typename Body>
  std::vector<std::uint8_t> one(Type type, const Body& body) {
    std::vector<std::uint8_t> buf(kMaxSendDatagram);
    DatagramWriter w(buf, id);
    EXPECT_TRUE(w.add(type, ++seq, body));
    buf.resize(w.finish());
    return buf;
  }
};

// A session image (IoStage::save_session) split into its replicated replies, by (client ID,
// request seq), and everything else (the bytes of every other field, in order).
struct Session {
  bool ok = false;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::vector<std::uint8_t>> replies;
  std::vector<std::uint8_t> rest;
};

Session parse_session(const std::vector<std::uint8_t>& image) {
  Session s;
  ByteReader r(image);
  ByteWriter rest(s.rest);
  rest.u64(r.u64());
  const std::uint32_t clients = r.u32();
  rest.u32(clients);
  for (std::uint32_t c = 0; c < clients && r.ok(); ++c) {
    const std::uint32_t id = r.u32();
    rest.u32(id);
    rest.u8(r.u8());
    rest.u8(r.u8());
    rest.u64(r.u64());
    rest.u32(r.u32());
    rest.u16(r.u16());
    r.u64();  // the window's top: derived from the replies
    const std::uint32_t answered = r.u32();
    for (std::uint32_t i = 0; i < answered && r.ok(); ++i) {
      const std::uint64_t seq = r.u64();
      const auto bytes = r.bytes(r.u16());
      s.replies[{id, seq}] = std::vector<std::uint8_t>(bytes.begin(), bytes.end());
    }
  }
  while (r.ok() && !r.at_end()) {
    rest.u8(r.u8());
  }
  s.ok = r.ok();
  return s;
}

class MillionInputs : public ::testing::Test {
 protected:
  MillionInputs() : primary_(&log_), standby_(nullptr) {
    for (std::uint32_t s = 0; s < kSwitches; ++s) {
      switches_.push_back(Client{10 + s, Endpoint{0x0100007f, static_cast<std::uint16_t>(5000 + s), 0}});
    }
    for (std::uint32_t a = 0; a < kAgents; ++a) {
      desks_.push_back(Client{100 + a, Endpoint{0x0100007f, static_cast<std::uint16_t>(6000 + a), 0}});
    }
  }

  void send(Client& c, std::vector<std::uint8_t> datagram) {
    primary_.port.inject(c.endpoint, std::move(datagram));
    poll();
  }
  // One poll cycle of the primary; what it sent tells the desktops their offers; the standby
  // applies the records it wrote.
  void poll() {
    primary_.worker->poll();
    for (const auto& sent : primary_.port.take_sent()) {
      DatagramHeader h;
      ASSERT_EQ(check_header(sent.payload, h), HeaderCheck::Ok);
      for_each_message(
          sent.payload, h,
          [&](const Message& m) {
            if (m.type == Type::Offer) {
              const auto& o = m.as<wire::Offer>();
              offered_.emplace_back(o.call_id, o.agent);
            }
          },
          [](std::uint64_t, WireError) { FAIL() << "a bad message was sent"; });
    }
    for (const auto& [seq, record] : log_.pending) {
      ASSERT_EQ(standby_.io.replay(seq, record, standby_.router), IoStage::Replay::Applied) << seq;
      ++replayed_;
    }
    log_.pending.clear();
  }
  void sign_in(std::uint32_t a) {
    AgentEvent e{};
    e.kind = AgentEventKind::SignIn;
    e.agent_number = 1000 + a;
    std::memcpy(e.password, "pw", 2);
    send(desks_[a], desks_[a].one(Type::AgentEvent, e));
    for (int i = 0; i < 2000 && primary_.io.client_agent(desks_[a].id) != a; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      poll();
    }
    ASSERT_EQ(primary_.io.client_agent(desks_[a].id), a) << "watchdog: sign-in not accepted";
  }
  void agent(std::uint32_t a, AgentEventKind kind) {
    AgentEvent e{};
    e.kind = kind;
    e.agent = a;
    send(desks_[a], desks_[a].one(Type::AgentEvent, e));
  }
  // From the call's switch, or (agent < kAgents) from the desktop of the agent it is at.
  void call_event(router::CallId call, CallEventKind kind, std::uint32_t at = kAgents) {
    CallEvent e{};
    e.call_id = call;
    e.kind = kind;
    Client& owner = at < kAgents ? desks_[at] : switches_[call % kSwitches];
    send(owner, owner.one(Type::CallEvent, e));
  }

  Collect log_;
  Node primary_;
  Node standby_;
  std::vector<Client> switches_;
  std::vector<Client> desks_;
  std::deque<std::pair<router::CallId, std::uint32_t>> offered_;  // offers: call, agent
  std::vector<std::pair<router::CallId, std::uint32_t>> talking_;  // answered: call, agent
  std::size_t replayed_ = 0;
};

// A million and more inputs of every kind: the standby's engine state hash equals the primary's
// at every check, and engine, session and sequence number are equal at the end.
TEST_F(MillionInputs, StandbyStaysInStep) {
  const auto started = std::chrono::steady_clock::now();
  std::mt19937_64 random(20261130);
  auto chance = [&](unsigned percent) { return random() % 100 < percent; };
  for (Client& s : switches_) {
    send(s, s.one(Type::Register, Register{1, 0, s.id}));
  }
  for (std::uint32_t a = 0; a < kAgents; ++a) {
    send(desks_[a], desks_[a].one(Type::Register, Register{2, 0, 1000 + a}));
    sign_in(a);
    agent(a, AgentEventKind::Ready);
  }
  router::CallId next_call = 1;
  std::size_t taken = 0;
  std::size_t declined = 0;
  std::size_t released = 0;
  std::size_t checks = 0;
  std::size_t next_check = kHashEvery;
  while (replayed_ < kInputs) {
    primary_.clock.advance(static_cast<router::Micros>(random() % 1500));
    const unsigned pick = static_cast<unsigned>(random() % 100);
    if (pick < 20) {  // a new call
      RouteRequest r{};
      r.call_id = next_call++;
      r.queue = static_cast<std::uint32_t>(random() % 3);
      r.priority = static_cast<std::uint8_t>(random() % 4);
      r.tier = static_cast<std::uint8_t>(random() % 4);
      Client& s = switches_[r.call_id % kSwitches];
      send(s, s.one(Type::RouteRequest, r));
    } else if (pick < 55) {
      if (offered_.empty()) {
        continue;
      }  // an offer answered (mostly taken) or let ring
      const auto [call, a] = offered_.front();  // the oldest: answered before its ring times out
      offered_.pop_front();
      if (a < kAgents && !chance(10)) {
        OfferResult r{};
        r.call_id = call;
        r.accepted = chance(85) ? 1 : 0;
        send(desks_[a], desks_[a].one(Type::OfferResult, r));
        ++(r.accepted != 0 ? taken : declined);
        if (r.accepted != 0) {
          call_event(call, CallEventKind::Answered, a);
          talking_.emplace_back(call, a);
        }
      }
    } else if (pick < 80) {  // a call held, retrieved or released
      if (talking_.empty()) {
        continue;
      }
      const std::size_t i = random() % talking_.size();
      const auto [call, a] = talking_[i];
      if (chance(10)) {
        call_event(call, CallEventKind::Held, a);
        call_event(call, CallEventKind::Retrieved, a);
      } else {
        call_event(call, chance(50) ? CallEventKind::Released : CallEventKind::Released, chance(50) ? a : kAgents);
        ++released;
        talking_[i] = talking_.back();
        talking_.pop_back();
      }
    } else if (pick < 85) {  // a waiting caller hangs up (often an unknown or ended call)
      call_event(1 + random() % next_call, CallEventKind::Abandoned);
    } else if (pick < 95) {  // agents change state
      const auto a = static_cast<std::uint32_t>(random() % kAgents);
      const unsigned what = static_cast<unsigned>(random() % 100);
      if (what < 40) {
        agent(a, AgentEventKind::NotReady);
      } else if (what < 90) {
        agent(a, AgentEventKind::Ready);
      } else if (what < 99) {
        agent(a, AgentEventKind::WrapUpDone);
      } else {
        agent(a, AgentEventKind::SignOut);
        sign_in(a);
        agent(a, AgentEventKind::Ready);
      }
    } else {  // the engine idles: ticks, timers fire (ring-no-answer, wrap-up, max wait)
      primary_.clock.advance(static_cast<router::Micros>(1000 + random() % 20'000));
      poll();
    }
    if (replayed_ >= next_check) {
      ASSERT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash())
          << "after " << replayed_ << " records";
      ++checks;
      next_check += kHashEvery;
    }
  }
  EXPECT_EQ(standby_.engine.state_hash(), primary_.engine.state_hash());
  const Session mine = parse_session(standby_.io.save_session());
  const Session theirs = parse_session(primary_.io.save_session());
  ASSERT_TRUE(mine.ok && theirs.ok);
  EXPECT_EQ(mine.rest, theirs.rest) << "clients, call owners, calls' agents or desktops differ";
  // Every reply the primary keeps for a retransmission, the standby keeps too, byte for byte. The
  // standby may keep more: an answer the primary gave only itself (a refusal of a message that
  // never reached the log) took the slot of a reply 2,048 messages older there, which the
  // standby, not seeing it, keeps; no client retransmits that far back.
  std::size_t extra = 0;
  for (const auto& [key, reply] : theirs.replies) {
    const auto it = mine.replies.find(key);
    ASSERT_TRUE(it != mine.replies.end()) << "client " << key.first << " seq " << key.second;
    EXPECT_EQ(it->second, reply) << "client " << key.first << " seq " << key.second;
  }
  extra = mine.replies.size() - theirs.replies.size();
  EXPECT_EQ(standby_.io.sequencer().next(), primary_.io.sequencer().next());
  EXPECT_GE(checks, kInputs / kHashEvery);
  // The mix really was mixed: calls of every fate, not only arrivals.
  const auto& c = primary_.engine.counters();
  EXPECT_GT(c.events, kInputs / 2);
  EXPECT_GT(next_call, 100'000u);
  EXPECT_GT(taken, 0u);
  EXPECT_GT(declined, 0u);
  EXPECT_GT(released, 0u);
  std::string why;
  EXPECT_TRUE(standby_.engine.check_invariants(&why)) << why;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%zu records replayed, %zu hash checks, %llu calls (%zu offers taken, %zu declined, "
              "%zu released), %zu replies cached (%zu more on the standby), %.1f s\n",
              replayed_, checks, static_cast<unsigned long long>(next_call - 1), taken, declined,
              released, theirs.replies.size(), extra, seconds);
}

}  // namespace
}  // namespace acd::dataplane
