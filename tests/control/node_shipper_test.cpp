// The primary's shipper and the node image a standby is begun from: an image captured before the
// standby asked for one (it waited for the history thread's deriver state) lacks records the link
// never sent that standby, so it is not used for it; the next capture, taken after, is.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "acd/control/ha_node.hpp"
#include "acd/dataplane/history_state.hpp"
#include "acd/dataplane/pipeline.hpp"
#include "acd/dataplane/replication_link.hpp"
#include "acd/dataplane/sign_in_verifier.hpp"

namespace acd::control {
namespace {

using namespace dataplane;
using namespace dataplane::wire;

router::EngineConfig centre() {
  router::EngineConfig c;
  c.skill_count = 1;
  c.max_calls = 256;
  router::QueueConfig q;
  q.name = "cards";
  q.skills = {router::SkillRequirement{0, 1, 0}};
  c.queues.push_back(q);
  router::AgentConfig a;
  a.number = 101;
  a.skills = {router::SkillLevel{0, 5, 0}};
  c.agents.push_back(a);
  return c;
}

std::vector<std::uint8_t> datagram(std::uint32_t client, std::uint64_t seq, Type type,
                                   const auto& body) {
  std::vector<std::uint8_t> buf(kMaxSendDatagram);
  DatagramWriter w(buf, client);
  EXPECT_TRUE(w.add(type, seq, body));
  buf.resize(w.finish());
  return buf;
}

TEST(NodeShipper, AnImageTakenBeforeTheStandbyAskedIsNotSentToIt) {
  router::EngineConfig config = centre();
  router::Engine engine(config);
  InMemoryCredentials credentials;
  AsyncVerifier verifier(credentials);
  MemoryPort port;
  ManualClock clock;
  IoStage io(port, clock, &verifier, {101}, DataplaneConfig{});
  HistoryStateChannel states;
  io.set_history_states(&states, 60'000'000);  // the image waits for the state (the clock is ours)
  std::string why;
  const LinkTiming timing{std::chrono::milliseconds(10), std::chrono::seconds(5)};
  auto link = LinkPrimary::listen("127.0.0.1:0", timing, 1, why);
  ASSERT_TRUE(link) << why;
  HaStatus status;
  NodeShipper shipper(io, nullptr, link.get(), nullptr, 1, HaRole::Alone, {}, status);
  io.set_shipper(&shipper);
  Worker worker(engine, io);
  const Endpoint sw{0x0100007f, 5060, 0};
  std::uint64_t seq = 0;
  auto send = [&](Type type, const auto& body) {
    port.inject(sw, datagram(7, ++seq, type, body));
    clock.advance(1000);
    worker.poll();
  };
  send(Type::Register, Register{1, 0, 11});
  router::CallId next_call = 1;
  auto calls = [&](int n) {
    for (int i = 0; i < n; ++i) {
      RouteRequest r{};
      r.call_id = next_call++;
      send(Type::RouteRequest, r);
    }
  };
  calls(5);

  // An image is captured (a journal snapshot would ask the same way) and waits for the history
  // thread's state at its seq.
  io.want_image();
  clock.advance(1000);
  worker.poll();
  const std::uint64_t image_seq = states.wanted();
  ASSERT_GT(image_seq, 0u);
  calls(20);  // logged after the capture, before the standby asks
  const std::uint64_t asked_at = shipper.last_seq();
  ASSERT_GT(asked_at, image_seq);

  // A standby with a history of its own (ahead of ours): it needs an image.
  auto standby = LinkStandby::create("127.0.0.1:" + std::to_string(link->port()), timing, why);
  ASSERT_TRUE(standby) << why;
  standby->set_applied(1'000'000);
  std::vector<std::uint64_t> snapshots;
  std::vector<std::uint64_t> records;
  auto pump = [&](auto until) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!until() && std::chrono::steady_clock::now() < deadline) {
      standby->poll(
          LinkClock::now(),
          [&](std::uint64_t s, std::span<const std::uint8_t>) {
            snapshots.push_back(s);
            records.clear();
          },
          [&](std::uint64_t s, std::span<const std::uint8_t>) { records.push_back(s); },
          [](std::uint64_t, std::uint64_t h) { return h; });
      clock.advance(100);
      worker.poll();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return until();
  };
  ASSERT_TRUE(pump([&] { return link->peer() != LinkPrimary::PeerState::None; }));
  ASSERT_TRUE(pump([&] { return shipper.last_seq() > asked_at; }));  // its hello was served
  // (records logged before a standby was answered were refused by the link, as always)
  const std::uint64_t refused = link->counters().read(LinkCounter::append_refused);

  // The waiting image gets its state and goes out: not to this standby.
  states.answer(image_seq, {1, 2, 3});
  ASSERT_TRUE(pump([&] { return states.wanted() > asked_at; })) << "no second capture";
  EXPECT_TRUE(snapshots.empty()) << "the image at seq " << image_seq
                                 << ", taken before the standby asked at seq " << asked_at
                                 << ", was sent to it";
  const std::uint64_t second = states.wanted();
  states.answer(second, {4, 5});
  calls(3);
  ASSERT_TRUE(pump([&] { return !snapshots.empty() && !records.empty() &&
                                records.back() == shipper.last_seq(); }));
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0], second);
  EXPECT_GT(snapshots[0], asked_at);
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i], second + 1 + i);  // every record after the image, none missing
  }
  EXPECT_EQ(link->counters().read(LinkCounter::append_refused), refused);
}

}  // namespace
}  // namespace acd::control
